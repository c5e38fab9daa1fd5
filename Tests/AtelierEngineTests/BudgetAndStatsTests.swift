import AtelierCore
import AtelierEngine
import AtelierProviders
import Foundation
import Testing

@Suite("engine: budgets and stats")
struct BudgetAndStatsTests {
    func tagged(_ client: String, _ i: Int) -> ImageTask {
        var t = task("p\(i)")
        t.tags = ["client": client]
        return t
    }

    /// model-c costs $0.01/image (the scripted provider reports $0.01 too); acme may spend $0.035 a day.
    @Test func dailyCapRefusesBeforeAnyCallAndSurvivesRestart() async throws {
        let dir = "/tmp/engine-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let budgets = #"[{"tag": "client", "value": "acme", "dailyUSD": 0.035}]"#
        let h = try await EngineHarness.make([:], budgets: budgets, dir: dir)
        for i in 0..<3 { _ = try await h.run(tagged("acme", i)) }
        let callsBefore = h.provider.calls.count
        // The 4th would bring acme to $0.04 > $0.035 on every model (the cheapest is $0.01): refused, nothing called.
        do {
            _ = try await h.engine.submit(tagged("acme", 3))
            Issue.record("expected budget_exceeded")
        } catch {
            #expect(error.code == .budgetExceeded)
            let remaining = try #require(error.details["remainingUSD"]?.doubleValue)
            #expect(abs(remaining - 0.005) < 1e-9, "remaining \(remaining)")
        }
        #expect(h.provider.calls.count == callsBefore)
        // Another client is not affected.
        #expect(try await h.run(tagged("globex", 9)).status == .succeeded)

        // Stats: spend against the cap, per model.
        let stats = try await h.engine.stats(by: .model, since: Timestamp.now().adding(seconds: -3600))
        let acme = try #require(stats.budgets.first { $0.value == "acme" })
        #expect(abs(acme.spentUSD - 0.03) < 1e-9)
        let byModel = try #require(stats.groups.first { $0.group == "model-c" })
        #expect(byModel.jobs == 4)
        #expect(byModel.succeeded == 4)
        #expect(abs(byModel.costUSD - 0.04) < 1e-9)
        #expect(byModel.successRate == 1)

        // A new engine on the same store rebuilds the ledger: still refused.
        let again = try await EngineHarness.make([:], budgets: budgets, dir: dir)
        await #expect(throws: AtelierError.self) { _ = try await again.engine.submit(tagged("acme", 4)) }
    }

    @Test func statsCountFailuresAndRefusalsPerGroup() async throws {
        let refused = ProviderError(.refused, "blocked")
        let h = try await EngineHarness.make(["model-c": [.fail(ProviderError(.invalidRequest, "bad"))], "model-a": [.fail(refused)]])
        defer { h.cleanup() }
        #expect(try await h.run(task("one")).status == .failed)
        var t = task("two", reproducible: true, seed: 3)
        t.tags = ["team": "red"]
        _ = try await h.run(t)
        let stats = try await h.engine.stats(by: .tag("team"), since: Timestamp.now().adding(seconds: -3600))
        let red = try #require(stats.groups.first { $0.group == "red" })
        #expect(red.refusals == 1)
        let none = try #require(stats.groups.first { $0.group == "(none)" })
        #expect(none.failed == 1)
        #expect(none.successRate == 0)
    }
}
