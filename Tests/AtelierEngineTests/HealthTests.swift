import AtelierCore
import AtelierEngine
import AtelierProviders
import Foundation
import Testing

/// `daemon.health` tells the truth: uptime in seconds, counts that agree with `job.list`, and `degraded` with the
/// reason when a model's breaker is open.
@Suite("engine health")
struct HealthTests {
    @Test func uptimeIsInSeconds() async throws {
        let clock = AtelierClock.manual()
        let h = try await EngineHarness.make([:], clock: clock)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        // Time has to pass for uptime to be worth checking: past one second, the old formula (whole seconds plus
        // milliseconds, over 1000) gave about a thousandth of the truth (~0.0012 here). The engine's clock moves by hand.
        clock.advance(by: .milliseconds(1200))
        #expect(await h.engine.health().uptimeSeconds == 1.2)
        clock.advance(by: .seconds(3600))
        #expect(await h.engine.health().uptimeSeconds == 3601.2)
    }

    @Test func aSQLiteDaemonSaysSoAndHasNoCluster() async throws {
        let h = try await EngineHarness.make([:])
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let health = await h.engine.health()
        #expect(health.storeKind == .sqlite)
        #expect(health.cluster == nil)
        #expect(h.engine.daemonID == nil)
    }

    @Test func countsAgreeWithJobList() async throws {
        let h = try await EngineHarness.make([:])
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        for i in 0..<3 {
            var t = ImageTask(positivePrompt: "count \(i)")
            t.model = "model-a"
            _ = try await h.run(t)
        }
        let health = await h.engine.health()
        let queued = try await h.engine.list(status: .queued, limit: 100, cursor: nil).jobs.count
        let running = try await h.engine.list(status: .running, limit: 100, cursor: nil).jobs.count
        #expect(health.queued == queued)
        #expect(health.running == running)
        #expect(health.isOK)
        #expect(health.reasons == [])
        #expect(health.store.ok && health.store.error == nil && health.store.since == nil)
        #expect(health.openBreakers == [])
    }

    @Test func anOpenBreakerDegradesHealth() async throws {
        // Five consecutive failures open model-a's breaker (two attempts per job, then the job falls back).
        let down = ScriptedProvider.Step.fail(ProviderError(.unavailable, "upstream down"))
        let h = try await EngineHarness.make(["model-a": Array(repeating: down, count: 6)])
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        for i in 0..<3 {
            var t = ImageTask(positivePrompt: "breaker \(i)")
            t.model = "model-a"
            _ = try await h.run(t)
        }
        let health = await h.engine.health()
        #expect(!health.isOK)
        #expect(health.openBreakers.map(\.model) == ["model-a"])
        #expect(health.reasons.contains("circuit breaker open for model-a"), "\(health)")
    }
}
