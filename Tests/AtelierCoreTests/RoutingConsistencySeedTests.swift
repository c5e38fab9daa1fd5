import Testing

@testable import AtelierCore

@Suite("Routing: consistency with a seed")
struct RoutingConsistencySeedTests {
    typealias F = RoutingFixtures

    private func consistencyTask(seed: Int64?, model: String = "auto") -> ImageTask {
        var t = F.task("a product shot", model: model, refs: 1)
        t.seed = seed
        t.consistency = ConsistencyRequest(samples: 3)
        return t
    }

    @Test func seedHonouringModelsRefuseBestOfNWithASeed() throws {
        let router = try F.router()
        let d = router.decide(consistencyTask(seed: 42))
        let chosen = try #require(d.chosen)
        #expect(!chosen.model.seedHonored)
        let refused = d.rejected.filter { $0.rejection.reason == "seed_makes_consistency_pointless" }.map(\.model)
        #expect(refused.contains("flux-2-pro"))
        #expect(d.eligible.allSatisfy { !$0.model.seedHonored })
    }

    @Test func withoutASeedSeedHonouringModelsStayEligible() throws {
        let router = try F.router()
        let d = router.decide(consistencyTask(seed: nil))
        #expect(d.rejected.allSatisfy { $0.rejection.reason != "seed_makes_consistency_pointless" })
        #expect(d.eligible.contains { $0.model.seedHonored })
    }

    @Test func aPinnedSeedModelAnswersWithTheReasonAndField() throws {
        let router = try F.router()
        let d = router.decide(consistencyTask(seed: 42, model: "flux-2-pro"))
        #expect(d.chosen == nil)
        let e = try #require(d.error)
        #expect(e.code == .requirementUnsatisfiable)
        #expect(e.field == "/consistency")
    }
}
