import Foundation
import Testing

@testable import AtelierCore

@Suite("Routing: sticky splits")
struct RoutingSplitTests {
    typealias F = RoutingFixtures

    static let policy = #"""
        {"rules": [{"name": "ab-gemini-vs-flux", "when": {"requirements.textRendering": false},
          "split": {"key": "tags.user", "arms": [
            {"name": "flux", "weight": 3, "prefer": ["flux-2-pro"]},
            {"name": "gemini", "weight": 1, "prefer": ["gemini-3.1-flash-image"]}]}}]}
        """#

    @Test func sameKeyAlwaysLandsInTheSameArm() throws {
        let r1 = try F.router(Self.policy)
        let r2 = try F.router(Self.policy)  // a fresh load (as after a restart) agrees
        for u in 0..<200 {
            let user = "user-\(u)"
            let a = r1.decide(F.task("one \(u)", tags: ["user": user]))
            let b = r2.decide(F.task("another prompt \(u)", phase: .final, tags: ["user": user]))
            #expect(a.arm != nil)
            #expect(a.arm == b.arm, "\(user)")
            #expect(a.chosenModelID == (a.arm == "flux" ? "flux-2-pro" : "gemini-3.1-flash-image"))
        }
    }

    @Test func armsFollowTheStableHash() throws {
        let r = try F.router(Self.policy)
        for user in ["alice", "bob", "carol", "dave", "erin"] {
            let h = StableHash.fnv1a64("ab-gemini-vs-flux:" + user)
            let expected = Double(h >> 11) * 0x1p-53 * 4 < 3 ? "flux" : "gemini"
            #expect(r.decide(F.task(tags: ["user": user])).arm == expected, "\(user)")
        }
    }

    @Test func weightsHoldOver10000Keys() throws {
        let r = try F.router(Self.policy)
        var flux = 0
        for u in 0..<10_000 where r.decide(F.task(tags: ["user": "u\(u)@example.com"])).arm == "flux" { flux += 1 }
        // 75 % expected; 3 standard deviations of a binomial(10000, 0.75) is about 1.3 %.
        #expect(abs(Double(flux) / 10_000 - 0.75) < 0.015, "\(flux)")
    }

    @Test func aMissingKeyHashesTheTaskUUIDAndSplitsAreReported() throws {
        let r = try F.router(Self.policy)
        let t = F.task(uuid: "8a0f2c1e-3b4d-4e5f-8a6b-7c8d9e0f1a2b")
        let d1 = r.decide(t)
        let d2 = r.decide(t)
        #expect(d1.arm != nil && d1.arm == d2.arm)
        #expect(d1.reasons.contains { $0.contains("taskUUID (tags.user absent)") })
        #expect(d1.summary?.arm == d1.arm)
        // The split's rule does not match text tasks: no arm.
        #expect(r.decide(F.task(text: true, tags: ["user": "alice"])).arm == nil)
    }
}

@Suite("Routing: fallbacks")
struct RoutingFallbackTests {
    typealias F = RoutingFixtures

    @Test func reproducibleNeverFallsBackToANonSeedModel() throws {
        let r = try F.router(#"{"fallbacks": {"max": 20}}"#)
        let d = r.decide(F.task(reproducible: true, text: true))
        #expect(d.chosenModelID == "flux-2-pro")
        var failed: [(model: String, refused: Bool)] = []
        var order: [String] = []
        var next = d.fallbacks(after: "flux-2-pro", refused: false)
        failed.append(("flux-2-pro", false))
        while let n = next.first {
            #expect(n.model.seedHonored)
            order.append(n.model.id)
            failed.append((n.model.id, false))
            next = d.fallbacks(afterAttempts: failed)
        }
        // Every seed model that can serve, in rank order, then nothing: never a Gemini model.
        #expect(order == Array(d.ranked.dropFirst().map(\.model.id)))
        #expect(Set(order) == ["flux-2-flex", "flux-pro-1.1", "runware-flux-2-dev", "flux-2-klein-4b", "runware-flux-1-schnell", "sd-webui"])
    }

    @Test func theFallbackCountIsLimitedByTheRules() throws {
        let r = try F.router(#"{"fallbacks": {"max": 3}, "rules": [{"name": "drafts", "when": {"phase": "ideation"}, "fallbacks": {"max": 1}}]}"#)
        #expect(r.decide(F.task()).ranked.count == 4)
        let draft = r.decide(F.task(phase: .ideation))
        #expect(draft.ranked.count == 2)
        #expect(draft.summary?.fallbacks.count == 1)
        #expect(draft.eligible.count > 2)
        let none = try F.router(#"{"fallbacks": {"max": 0}}"#).decide(F.task())
        #expect(none.ranked.count == 1)
        #expect(none.fallbacks(after: none.chosenModelID!, refused: false).isEmpty)
    }

    @Test func aRetryableFailureMovesToTheNextRankedModel() throws {
        let d = try F.router().decide(F.task(text: true))
        let ids = d.ranked.map(\.model.id)
        #expect(d.fallbacks(after: ids[0], refused: false).map(\.model.id) == Array(ids.dropFirst()))
        #expect(d.fallbacks(after: ids[1], refused: false).map(\.model.id) == Array(ids.dropFirst(2)))
        #expect(d.summary?.fallbacks == Array(ids.dropFirst()))
    }

    @Test func aRefusalFallsBackOnlyToAnotherSafetyPolicyAndOnlyWhenAllowed() throws {
        let strict = try F.router()
        let d = strict.decide(F.task(text: true))
        #expect(d.chosenModelID == "gemini-3-pro-image")
        #expect(!d.allowsFallbackAfterRefusal)
        #expect(d.fallbacks(after: "gemini-3-pro-image", refused: true).isEmpty)

        let lenient = try F.router(
            #"{"fallbacks": {"max": 5}, "rules": [{"name": "text", "when": {"requirements.textRendering": true}, "fallbacks": {"afterRefusal": true}}]}"#
        )
        let e = lenient.decide(F.task(text: true))
        #expect(e.allowsFallbackAfterRefusal)
        // ranked: gemini-3-pro (google), runware-nano-banana-pro (google), then grade-4 models
        let after = e.fallbacks(after: "gemini-3-pro-image", refused: true)
        #expect(!after.isEmpty)
        #expect(after.allSatisfy { $0.model.safetyPolicy != "google" })
        #expect(after.first?.model.id == "flux-2-pro")
        // A retryable failure may still go to the same safety policy.
        #expect(e.fallbacks(after: "gemini-3-pro-image", refused: false).first?.model.id == "runware-nano-banana-pro")
        // Two refusals from two policies: neither policy again.
        let twice = e.fallbacks(afterAttempts: [("gemini-3-pro-image", true), ("flux-2-pro", true)])
        #expect(!twice.isEmpty)
        #expect(twice.allSatisfy { $0.model.safetyPolicy != "google" && $0.model.safetyPolicy != "bfl" })
        // The rule did not match: the policy default (no refusal fallback) applies.
        #expect(lenient.decide(F.task()).fallbacks(after: "sd-webui", refused: true).isEmpty)
    }
}

@Suite("Routing: circuit breaker")
struct RoutingBreakerTests {
    typealias F = RoutingFixtures

    @Test func closedOpenHalfOpenClosed() {
        var b = CircuitBreaker(failureThreshold: 3, coolDownSeconds: 30)
        #expect(b.state(at: 0) == .closed)
        let r1 = b.record(success: false, at: 0)
        #expect(r1 == .closed)
        let r2 = b.record(success: false, at: 1)
        #expect(r2 == .closed)
        let r3 = b.record(success: false, at: 2)
        #expect(r3 == .open)
        #expect(b.isOpen(at: 2.5))
        let r4 = b.allowRequest(at: 10)
        #expect(!r4)
        #expect(b.state(at: 31.9) == .open)
        #expect(b.state(at: 32) == .halfOpen)
        #expect(!b.isOpen(at: 32))
        let r5 = b.allowRequest(at: 32)
        #expect(r5)  // the probe
        let r6 = b.allowRequest(at: 32.1)
        #expect(!r6)  // only one
        #expect(b.isOpen(at: 32.1))
        let r7 = b.record(success: false, at: 33)
        #expect(r7 == .open)  // failed probe: another cool-down from now
        #expect(b.state(at: 62.9) == .open)
        #expect(b.state(at: 63) == .halfOpen)
        let r8 = b.allowRequest(at: 63)
        #expect(r8)
        let r9 = b.record(success: true, at: 64)
        #expect(r9 == .closed)
        #expect(b.consecutiveFailures == 0)
        #expect(!b.isOpen(at: 64))
    }

    @Test func onlyConsecutiveFailuresOpenIt() {
        var b = CircuitBreaker(failureThreshold: 3, coolDownSeconds: 10)
        for (t, ok) in [(0.0, false), (1, false), (2, true), (3, false), (4, false)] { b.record(success: ok, at: t) }
        #expect(b.state(at: 5) == .closed)
        b.record(success: false, at: 6)
        #expect(b.state(at: 6) == .open)
    }

    @Test func openBreakersBecomeRouterRejections() throws {
        var board = CircuitBreakers(failureThreshold: 2, coolDownSeconds: 60)
        board.record(model: "sd-webui", success: false, at: 100)
        board.record(model: "sd-webui", success: false, at: 101)
        board.record(model: "flux-2-pro", success: false, at: 101)
        let unavailable = board.unavailable(at: 110)
        #expect(Set(unavailable.keys) == ["sd-webui"])
        #expect(unavailable["sd-webui"]?.reason == "circuit_open")
        #expect(unavailable["sd-webui"]?.detail == "probe in 51s")
        let d = try F.router().decide(F.task(), context: RoutingContext(unavailable: unavailable))
        #expect(d.chosenModelID == "runware-flux-1-schnell")
        #expect(d.rejected.first { $0.model == "sd-webui" }?.rejection.description == "circuit_open: probe in 51s")
        // After the cool-down the model is routable again (the engine sends the probe).
        #expect(board.unavailable(at: 161).isEmpty)
        let r10 = board.allowRequest(model: "sd-webui", at: 161)
        #expect(r10)
        #expect(board.unavailable(at: 161)["sd-webui"]?.detail == "probe in flight")
    }
}
