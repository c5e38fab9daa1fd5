import Testing

@testable import AtelierCore

/// Best-of-N is priced at N images (docs/consistency.md): the router's estimate, `maxCostUSD`, budgets and
/// `atelier simulate` all see `samples` × the per-image price.
@Suite("Consistency: N × the per-image price")
struct ConsistencyPricingTests {
    typealias F = RoutingFixtures

    static func task(samples: Int?, maxCost: Double? = nil) -> ImageTask {
        var t = F.task(
            "the same mug, on a beach", model: "gemini-3-pro-image", size: .tier(aspectRatio: AspectRatio("1:1"), resolution: .r1K), refs: 1,
            maxCost: maxCost)
        if let samples { t.consistency = ConsistencyRequest(samples: samples) }
        return t
    }

    @Test func theEstimateIsSamplesTimesOneImage() throws {
        let router = try F.router()
        let one = try #require(router.decide(Self.task(samples: nil)).estimatedCostUSD)
        let three = try #require(router.decide(Self.task(samples: 3)).estimatedCostUSD)
        #expect(abs(three - 3 * one) < 1e-12)
        #expect(Self.task(samples: 3).pricedImages == 3)
        let card = try #require(F.full.model("gemini-3-pro-image"))
        guard case .success(let size) = card.check(Self.task(samples: 3)) else {
            Issue.record("size")
            return
        }
        #expect(abs(card.estimatedCost(Self.task(samples: 3), size: size) - three) < 1e-12)
    }

    @Test func maxCostUSDAppliesToAllSamples() throws {
        let router = try F.router()
        let one = try #require(router.decide(Self.task(samples: nil)).estimatedCostUSD)
        // Enough for two images, not for three.
        let d = router.decide(Self.task(samples: 3, maxCost: one * 2.5))
        #expect(d.chosen == nil)
        #expect(d.error?.field == "/requirements/maxCostUSD")
        #expect(router.decide(Self.task(samples: 2, maxCost: one * 2.5)).chosen != nil)
    }

    @Test func simulatePricesNSamples() throws {
        let catalog = F.catalog(only: ["gemini-3-pro-image"])
        let policy = try F.policy("{}", catalog: catalog)
        let plain = Simulator.run(workload: [Self.task(samples: nil)], policies: [("p", policy)], catalog: catalog, baselineModel: nil)
        let best4 = Simulator.run(workload: [Self.task(samples: 4)], policies: [("p", policy)], catalog: catalog, baselineModel: nil)
        #expect(plain.policies[0].totalUSD > 0)
        #expect(abs(best4.policies[0].totalUSD - 4 * plain.policies[0].totalUSD) < 1e-12)
        #expect(best4.policies[0].violations == 0, "the simulator's independent re-check prices the same N images")
    }
}
