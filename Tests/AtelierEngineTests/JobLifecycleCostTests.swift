import AtelierCore
import AtelierProviders
import Testing

@testable import AtelierEngine

/// What a job is charged, with its source, through the lifecycle (pure): every paid attempt keeps its cost — also one
/// whose images were discarded for a mismatch under `verification.onMismatch: retry` — and an unknown cost stays
/// unknown (null), counted by budgets at the route's ceiling.
@Suite("job lifecycle: costs and their sources (pure)")
struct JobLifecycleCostTests {
    typealias F = JobLifecycleTests
    typealias V = JobLifecycleVerificationTests

    static func priced(_ r: JobResult, _ source: CostSource) -> JobResult {
        var r = r
        r.costSource = source
        if source == .unknown { r.costUSD = nil }
        return r
    }

    /// The discarded attempts were paid for: a retry on the same model, then a fallback that succeeds, is charged
    /// all three calls (0.02 + 0.03 discarded, 0.04 kept). Before the fix the job showed only the kept 0.04.
    @Test func retryChargesTheDiscardedMismatchedAttempts() throws {
        var (lifecycle, _) = try F.started(F.card("model-c", seedHonored: false), maxAttempts: 2)
        let first = Self.priced(V.verified(1, cost: 0.02, smaller: true), .provider)
        _ = lifecycle.apply(.attemptDelivered([first], onMismatch: .retry, unitRandom: 0.5, now: F.at(2)))
        #expect(lifecycle.job.attempts.last?.cost == CostFigure(usd: 0.02, source: .provider))
        _ = lifecycle.apply(.backoffElapsed(now: F.at(3)))
        let second = Self.priced(V.verified(2, cost: 0.03, smaller: true), .provider)
        _ = lifecycle.apply(.attemptDelivered([second], onMismatch: .retry, unitRandom: 0.5, now: F.at(4)))
        _ = lifecycle.apply(.fallbackChosen(try F.runnable(F.card("model-d", seedHonored: false)), seedDraw: 0.5, now: F.at(5)))
        let kept = Self.priced(V.verified(3, cost: 0.04), .computed)
        _ = lifecycle.apply(.attemptDelivered([kept], onMismatch: .retry, unitRandom: 0.5, now: F.at(6)))

        #expect(lifecycle.job.status == .succeeded)
        #expect(lifecycle.job.results.map(\.imageUUID) == ["image-3"])
        let cost = try #require(lifecycle.job.costUSD)
        #expect(abs(cost - 0.09) < 1e-12, "charged \(cost): the two discarded attempts were paid")
        #expect(lifecycle.job.costSource == .computed)
        #expect(lifecycle.job.attempts.map { $0.cost?.usd } == [0.02, 0.03, 0.04])
        #expect(BudgetLedger.charge(of: lifecycle.job) == cost)
    }

    /// No model left after the mismatches: the job fails, and is still charged what the discarded attempt cost
    /// (before the fix: nothing, so budgets never saw it).
    @Test func retryWithNoModelLeftStillChargesWhatWasPaid() throws {
        var (lifecycle, _) = try F.started(F.card("model-c", seedHonored: false), maxAttempts: 1)
        let small = Self.priced(V.verified(1, cost: 0.03, smaller: true), .provider)
        _ = lifecycle.apply(.attemptDelivered([small], onMismatch: .retry, unitRandom: 0.5, now: F.at(2)))
        _ = lifecycle.apply(.fallbackChosen(nil, seedDraw: 0.5, now: F.at(3)))
        #expect(lifecycle.job.status == .failed)
        #expect(lifecycle.job.error?.code == .resultMismatch)
        #expect(lifecycle.job.costUSD == 0.03)
        #expect(lifecycle.job.costSource == .provider)
        #expect(BudgetLedger.charge(of: lifecycle.job) == 0.03)
    }

    /// An unknown cost is null, never 0, and never hidden behind the known part; budgets count it at the route's
    /// estimate (the model's ceiling).
    @Test func anUnknownCostIsNullAndBudgetsCountTheCeiling() throws {
        let card = F.card("model-u", seedHonored: false, price: .unknown(ceiling: .perImage(usd: 0.07, perInputImageUSD: 0)))
        var job = F.job(routedTo: "model-u", task: F.imageTask(numberResults: 2))
        job.route?.estimatedCostUSD = 0.14
        job.route?.priceKnown = false
        var (lifecycle, _) = try F.started(card, job: job)
        let results = [Self.priced(F.result(1, cost: 0.05), .provider), Self.priced(F.result(2, cost: nil), .unknown)]
        _ = lifecycle.apply(.attemptSucceeded(results, now: F.at(2)))
        #expect(lifecycle.job.status == .succeeded)
        #expect(lifecycle.job.costUSD == nil)
        #expect(lifecycle.job.costSource == .unknown)
        #expect(lifecycle.job.json["costUSD"] == .null)
        #expect(lifecycle.job.json["costSource"] == "unknown")
        #expect(BudgetLedger.charge(of: lifecycle.job) == 0.14)

        // A failed job whose paid attempt's cost is unknown also counts at the ceiling, not 0.
        var (failing, _) = try F.started(card, job: job, maxAttempts: 1)
        let small = Self.priced(V.verified(1, cost: nil, smaller: true), .unknown)
        _ = failing.apply(.attemptDelivered([small], onMismatch: .fail, unitRandom: 0.5, now: F.at(2)))
        #expect(failing.job.status == .failed)
        #expect(failing.job.costUSD == nil && failing.job.costSource == .unknown)
        #expect(BudgetLedger.charge(of: failing.job) == 0.14)
    }

    /// A result that says nothing about its cost on a model with an unknown price: the whole task is unknown (the
    /// catalog has no number to put there).
    @Test func silenceOnAnUnknownPriceIsUnknown() throws {
        let card = F.card("model-u", seedHonored: false, price: .unknown(ceiling: .perImage(usd: 0.07, perInputImageUSD: 0)))
        var (lifecycle, _) = try F.started(card, job: F.job(routedTo: "model-u"))
        _ = lifecycle.apply(.attemptSucceeded([F.result(1, cost: nil)], now: F.at(2)))
        #expect(lifecycle.job.costUSD == nil)
        #expect(lifecycle.job.costSource == .unknown)
    }

    /// The engine's reading of what a provider handed over (``ResultCheck``): its own source when given; a bare
    /// number is an estimate; nothing at all is the catalog's figure (unknown for an unpublished price).
    @Test func providerFiguresAreReadHonestly() throws {
        let known = F.card("model-k", seedHonored: false)
        let unknown = F.card("model-u", seedHonored: false, price: .unknown(ceiling: .perImage(usd: 0.07, perInputImageUSD: 0)))
        let size = try F.imageTask().size.resolvedOn(known)
        func image(_ usd: Double?, _ source: CostSource?) -> GeneratedImage {
            GeneratedImage(path: "/x.png", mimeType: "image/png", seed: nil, costUSD: usd, costSource: source)
        }
        #expect(
            ResultCheck.costFigure(of: image(0.01, .provider), model: known, size: size, referenceImages: 0) == .init(usd: 0.01, source: .provider))
        #expect(ResultCheck.costFigure(of: image(0.01, nil), model: known, size: size, referenceImages: 0) == .init(usd: 0.01, source: .estimated))
        #expect(ResultCheck.costFigure(of: image(nil, nil), model: known, size: size, referenceImages: 0) == .init(usd: 0.02, source: .estimated))
        #expect(ResultCheck.costFigure(of: image(nil, nil), model: unknown, size: size, referenceImages: 0).source == .unknown)
    }
}

extension SizeRequest {
    /// The size `card` resolves this request to (test helper).
    fileprivate func resolvedOn(_ card: ModelCard) throws -> ResolvedSize {
        var t = ImageTask(positivePrompt: "x")
        t.size = self
        return try card.check(t).get()
    }
}
