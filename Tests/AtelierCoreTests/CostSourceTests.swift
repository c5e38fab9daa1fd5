import Foundation
import Testing

@testable import AtelierCore

/// Honest costs in the core: cost sources and totals, dated prices in provider files, unknown prices (a ceiling for
/// routing and budgets, never $0), the `costs.unknownPrice` policy, and how much of a simulated or workflow total is
/// estimated or unknown.
@Suite("costs: sources, dated prices, unknown prices")
struct CostSourceTests {
    typealias F = RoutingFixtures

    // MARK: Sources and totals

    @Test func aTotalIsAsUncertainAsItsMostUncertainPart() {
        #expect(CostSource.combined([CostSource]()) == nil)
        #expect(CostSource.combined([.provider, .computed]) == .computed)
        #expect(CostSource.combined([.provider, .estimated, .computed]) == .estimated)
        #expect(CostSource.combined([.estimated, .unknown, .provider]) == .unknown)

        let known = CostFigure.total([.init(usd: 0.01, source: .provider), .init(usd: 0.03, source: .computed)])
        #expect(known == CostFigure(usd: 0.04, source: .computed))
        // One unknown part makes the whole unknown: no number, never the sum of the known parts.
        let unknown = CostFigure.total([.init(usd: 0.01, source: .provider), .init(usd: nil, source: .unknown)])
        #expect(unknown?.usd == nil && unknown?.source == .unknown)
        #expect(CostFigure.total([]) == nil)
        // A figure cannot be both unknown and have a number, nor have a source but no number.
        #expect(CostFigure(usd: 0.5, source: .unknown).usd == nil)
        #expect(CostFigure(usd: nil, source: .provider).source == .unknown)
    }

    @Test func resultsAndJobsCarryTheirSourceOnTheWire() throws {
        var r = JobResult(
            imageUUID: "i", path: "/tmp/i.png", mimeType: "image/png", width: 8, height: 8, bytes: 1, sha256: "00", seed: nil, seedHonored: false,
            costUSD: nil)
        r.costSource = .unknown
        #expect(r.json["costUSD"] == .null)
        #expect(r.json["costSource"] == "unknown")
        #expect(try JobResult(json: r.json).costSource == .unknown)
        // Rows stored before sources existed: a number counts as estimated.
        var legacy = r
        legacy.costSource = nil
        legacy.costUSD = 0.02
        #expect(legacy.json["costSource"] == nil)
        #expect(legacy.costFigure == CostFigure(usd: 0.02, source: .estimated))

        var job = Job(task: ImageTask(positivePrompt: "x"), createdAt: Timestamp(milliseconds: 0), route: nil)
        #expect(job.costSource == nil && job.json["costSource"] == .null, "nothing charged yet")
        job.attempts = [
            Attempt(number: 1, provider: "p", model: "m", startedAt: Timestamp(milliseconds: 0), outcome: .failed),
            Attempt(number: 2, provider: "p", model: "m", startedAt: Timestamp(milliseconds: 0), outcome: .succeeded),
        ]
        job.attempts[0].cost = CostFigure(usd: 0.02, source: .provider)
        job.attempts[1].cost = CostFigure(usd: 0.03, source: .computed)
        job.costUSD = 0.05
        #expect(job.costSource == .computed)
        #expect(job.json["attempts"]?.arrayValue?.first?["costSource"] == "provider")
        let back = try Job(json: job.json)
        #expect(back.attempts.map(\.cost) == job.attempts.map(\.cost))
        #expect(back.costSource == .computed)
        let stored = try Attempt(storageJSON: job.attempts[0].storageJSON)
        #expect(stored.cost == CostFigure(usd: 0.02, source: .provider))
    }

    // MARK: Dated prices

    static func provider(_ price: JSONValue) -> (String, Data) {
        let doc: JSONValue = [
            "id": "p", "kind": "local",
            "models": [
                [
                    "id": "m", "seedHonored": false,
                    "sizes": ["range": ["minWidth": 64, "maxWidth": 2048, "minHeight": 64, "maxHeight": 2048, "multipleOf": 8, "maxMegapixels": 4]],
                    "price": price,
                ]
            ],
        ]
        return ("p.json", Data(JSONWriter.bytes(doc)))
    }

    static func issue(_ price: JSONValue) -> ConfigIssue? {
        do throws(ConfigError) {
            _ = try CatalogLoader.load(documents: [provider(price)])
            return nil
        } catch {
            return error.issues.first
        }
    }

    static let badPrices: [(JSONValue, String, String)] = [
        (["kind": "perImage", "usd": 0.04], "/models/0/price/asOf", "asOf is required"),
        (["kind": "perImage", "usd": 0.04, "asOf": "2026-13-01"], "/models/0/price/asOf", "YYYY-MM-DD"),
        (["kind": "perImage", "usd": 0.04, "asOf": "2026-02-30"], "/models/0/price/asOf", "YYYY-MM-DD"),
        (["kind": "perImage", "usd": 0.04, "asOf": "21 Nov 2026"], "/models/0/price/asOf", "YYYY-MM-DD"),
        (["kind": "perImage", "usd": 0.04, "asOf": "2999-01-01"], "/models/0/price/asOf", "in the future"),
        (["kind": "free", "asOf": "2026-11-21"], "/models/0/price/asOf", "free price has no date"),
        (["kind": "unknown", "asOf": "2026-11-21"], "/models/0/price/ceiling", "needs a ceiling"),
        (["kind": "unknown", "asOf": "2026-11-21", "ceiling": ["kind": "free"]], "/models/0/price/ceiling/kind", "cannot be free"),
        (
            ["kind": "unknown", "asOf": "2026-11-21", "ceiling": ["kind": "unknown", "ceiling": ["kind": "perImage", "usd": 1]]],
            "/models/0/price/ceiling/kind", "unknown price kind"
        ),
        (["kind": "unknown", "ceiling": ["kind": "perImage", "usd": 0.1]], "/models/0/price/asOf", "asOf is required"),
    ]

    @Test(arguments: badPrices)
    func priceDatesAreValidated(price: JSONValue, pointer: String, message: String) throws {
        let issue = try #require(Self.issue(price), "\(price) was accepted")
        #expect(issue.pointer == pointer)
        #expect(issue.message.contains(message), "\(issue.message)")
    }

    @Test func aDatedAndAnUnknownPriceLoadAndShowInModelsList() throws {
        #expect(Self.issue(["kind": "perImage", "usd": 0.04, "asOf": "2026-11-21"]) == nil)
        let catalog = try CatalogLoader.load(documents: [
            Self.provider(["kind": "unknown", "asOf": "2026-12-04", "ceiling": ["kind": "perImage", "usd": 0.07]])
        ])
        let m = try #require(catalog.model("m"))
        #expect(m.price == .unknown(ceiling: .perImage(usd: 0.07, perInputImageUSD: 0)))
        #expect(!m.price.isKnown)
        #expect(m.priceAsOf == "2026-12-04")
        #expect(m.json["price"] == ["kind": "unknown", "ceiling": ["kind": "perImage", "usd": 0.07, "perInputImageUSD": 0], "asOf": "2026-12-04"])
        let size = try m.check(ImageTask(positivePrompt: "x")).get()
        // The catalog never turns an unknown price into a number for a result; the ceiling is for routing and budgets.
        #expect(m.catalogCost(size: size, referenceImages: 0) == CostFigure(usd: nil, source: .unknown))
        #expect(m.estimatedCost(ImageTask(positivePrompt: "x"), size: size) == 0.07)
    }

    /// Every priced model in providers/*.json carries the date its price was read; nano-banana 2.1 (no published
    /// price, no 512 tier) is unknown with a ceiling.
    @Test func theShippedCatalogIsDated() throws {
        let catalog = try CatalogLoader.load(directory: F.repoRoot.appendingPathComponent("providers").path)
        for m in catalog.models where m.price != .free {
            #expect(m.priceAsOf != nil, "\(m.id) has an undated price")
        }
        let nb21 = try #require(catalog.model("gemini-nano-banana-2.1"))
        #expect(!nb21.price.isKnown)
        #expect(!nb21.sizes.tiers.contains(.r512))
        #expect(nb21.sizes.tiers == [.r1K, .r2K, .r4K])
        #expect(!nb21.seedHonored)
        if case .failure(let r) = nb21.check(ImageTask(positivePrompt: "x", size: .tier(aspectRatio: nil, resolution: .r512))) {
            #expect(r.reason == "size_not_supported")
        } else {
            Issue.record("512 was accepted by gemini-nano-banana-2.1")
        }
    }

    // MARK: Routing at the ceiling, or refused

    static func catalogWithUnknown() -> Catalog {
        F.catalog(only: ["gemini-3.1-flash-image", "gemini-3-pro-image"]) {
            if $0.id == "gemini-3.1-flash-image" { $0.price = .unknown(ceiling: $0.price) }
        }
    }

    @Test func anUnknownPriceRoutesAtItsCeilingAndSaysSo() throws {
        let router = try F.router("{}", catalog: Self.catalogWithUnknown())
        let d = router.decide(F.task(size: .tier(aspectRatio: nil, resolution: .r1K)))
        let s = try #require(d.summary)
        #expect(s.model == "gemini-3.1-flash-image")
        #expect(s.estimatedCostUSD == 0.067)
        #expect(!s.priceKnown)
        #expect(s.json["priceKnown"] == false)
        #expect(try RouteSummary(json: s.json).priceKnown == false)
        // A known price does not show the member at all.
        let pro = try #require(router.decide(F.task(model: "gemini-3-pro-image")).summary)
        #expect(pro.priceKnown && pro.json["priceKnown"] == nil)
        // maxCostUSD compares the ceiling.
        let capped = router.decide(F.task(size: .tier(aspectRatio: nil, resolution: .r1K), maxCost: 0.05))
        #expect(capped.summary == nil)
    }

    @Test func theRefusePolicyKeepsBudgetedTasksOffUnknownPrices() throws {
        let policy = #"{"costs": {"unknownPrice": "refuse"}, "budgets": [{"tag": "client", "dailyUSD": 10}]}"#
        let router = try F.router(policy, catalog: Self.catalogWithUnknown())
        #expect(router.policy.unknownPrice == .refuse)
        // Under a budget: the unknown-price model is out, the known one serves.
        let budgeted = router.decide(F.task(size: .tier(aspectRatio: nil, resolution: .r1K), tags: ["client": "acme"]))
        #expect(budgeted.summary?.model == "gemini-3-pro-image")
        #expect(budgeted.rejected.first { $0.model == "gemini-3.1-flash-image" }?.rejection.reason == "price_unknown")
        // Pinned under a budget: a -32602 naming the field.
        let pinned = router.decide(F.task(model: "gemini-3.1-flash-image", tags: ["client": "acme"]))
        let e = try #require(pinned.error)
        #expect(e.code == .requirementUnsatisfiable && e.field == "/tags")
        // With a cost cap: refused too, naming maxCostUSD.
        let capped = router.decide(F.task(model: "gemini-3.1-flash-image", maxCost: 1))
        #expect(capped.error?.field == "/requirements/maxCostUSD")
        // No budget and no cap: routed at the ceiling as usual.
        #expect(router.decide(F.task(size: .tier(aspectRatio: nil, resolution: .r1K))).summary?.model == "gemini-3.1-flash-image")
        // The default is the ceiling.
        #expect(try F.router("{}", catalog: Self.catalogWithUnknown()).policy.unknownPrice == .ceiling)
    }

    @Test func aBadUnknownPricePolicyIsAConfigurationError() {
        let issues = F.issues(#"{"costs": {"unknownPrice": "refused"}}"#)
        #expect(issues.first?.pointer == "/costs/unknownPrice")
        #expect(issues.first?.hint?.contains("refuse") == true)
        #expect(F.issues(#"{"costs": {"unknown": "refuse"}}"#).first?.pointer == "/costs/unknown")
    }

    // MARK: How much of a total is estimated or unknown

    @Test func simulateShowsTheUnknownPartOfATotal() throws {
        let catalog = Self.catalogWithUnknown()
        let tasks = [
            F.task("a", size: .tier(aspectRatio: nil, resolution: .r1K)), F.task("b", size: .tier(aspectRatio: nil, resolution: .r1K)),
            F.task("c", model: "gemini-3-pro-image"),
        ]
        let report = Simulator.run(
            workload: tasks, policies: [("p", try F.policy("{}", catalog: catalog))], catalog: catalog, baselineModel: nil)
        let p = try #require(report.policies.first)
        #expect(p.unknownPriceTasks == 2)
        #expect(abs(p.unknownPriceUSD - 0.134) < 1e-9)
        #expect(abs(p.estimatedUSD - 0.134) < 1e-9)
        #expect(report.json["policies"]?.arrayValue?.first?["unknownPrice"] == ["tasks": 2, "ceilingUSD": 0.134])
        #expect(report.table.contains("unknown prices, at ceiling"))
        #expect(report.csv.split(separator: "\n")[0].contains("unknown_price_tasks"))
    }

    @Test func workflowCostsSplitBySource() throws {
        func stage(_ status: JobStatus, _ usd: Double?, _ source: CostSource?, estimate: Double = 0.1) -> StageJob {
            var s = StageJob(taskUUID: UUIDv4.generate())
            s.status = status
            s.costUSD = usd
            s.costSource = source
            s.estimatedCostUSD = estimate
            return s
        }
        var b = CostBreakdown()
        for s in [
            stage(.succeeded, 0.02, .provider), stage(.succeeded, 0.03, .computed), stage(.succeeded, 0.04, .estimated),
            stage(.succeeded, nil, .unknown, estimate: 0.067), stage(.running, nil, nil),
        ] { b.add(s) }
        #expect(b.providerUSD == 0.02 && b.computedUSD == 0.03 && b.estimatedUSD == 0.04)
        #expect(b.unknownJobs == 1 && b.unknownCeilingUSD == 0.067)
        #expect(b.json["unknown"] == ["jobs": 1, "ceilingUSD": 0.067])
        // The stage job keeps the source through storage.
        let s = stage(.succeeded, nil, .unknown)
        #expect(try StageJob(json: s.json).costSource == .unknown)
    }
}
