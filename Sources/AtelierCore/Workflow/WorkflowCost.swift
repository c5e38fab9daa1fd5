/// The same work (every ideation variant and the final) priced entirely on one model: the most expensive of the
/// models that could serve either stage. It shows what the hybrid saves.
///
/// It is a price reference, not a route: a final needs a seed-honouring model, but the reference prices it on the
/// candidate anyway (as `atelier simulate --baseline` does), because "everything on the best model" is what people
/// compare against.
public struct CostBaseline: Sendable, Equatable {
    /// The model the work is priced on.
    public var model: String
    /// Every variant on that model.
    public var ideationUSD: Double
    /// The final on that model.
    public var finalUSD: Double

    public init(model: String, ideationUSD: Double, finalUSD: Double) {
        self.model = model
        self.ideationUSD = ideationUSD
        self.finalUSD = finalUSD
    }

    public var totalUSD: Double { ideationUSD + finalUSD }

    /// The most expensive pricing of (`count` × `variant`) + `final` over `candidates` (duplicates ignored); models that
    /// cannot produce one of the tasks at all (size, references, format) are skipped. Nil when none can.
    public static func mostExpensive(candidates: [ModelCard], variant: ImageTask, count: Int, final: ImageTask) -> CostBaseline? {
        var v = variant
        v.requirements.reproducible = false
        v.model = "auto"
        var f = final
        f.requirements.reproducible = false
        f.model = "auto"
        var best: CostBaseline?
        var seen: Set<String> = []
        for card in candidates where seen.insert(card.id).inserted {
            guard case .success(let vs) = card.check(v), case .success(let fs) = card.check(f) else { continue }
            let b = CostBaseline(
                model: card.id, ideationUSD: card.estimatedCost(v, size: vs) * Double(count), finalUSD: card.estimatedCost(f, size: fs))
            if best == nil || b.totalUSD > best!.totalUSD { best = b }
        }
        return best
    }

    public var json: JSONValue {
        [
            "model": .string(model), "ideationUSD": .number(CostSummary.round(ideationUSD)), "finalUSD": .number(CostSummary.round(finalUSD)),
            "totalUSD": .number(CostSummary.round(totalUSD)),
        ]
    }

    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        model = try r.requiredString("model")
        ideationUSD = try r.double("ideationUSD") ?? 0
        finalUSD = try r.double("finalUSD") ?? 0
        _ = try r.double("totalUSD")
    }
}

/// How much of a workflow's actual cost comes from each ``CostSource``: the provider's word, usage × dated prices,
/// catalog estimates, and the jobs whose cost is unknown (not in any total; their ceilings shown apart).
public struct CostBreakdown: Sendable, Equatable {
    public var providerUSD: Double = 0
    public var computedUSD: Double = 0
    public var estimatedUSD: Double = 0
    /// Finished jobs whose cost is unknown (no price, nothing reported).
    public var unknownJobs: Int = 0
    /// Those jobs at their models' catalog ceilings (what budgets count them at).
    public var unknownCeilingUSD: Double = 0

    public init() {}

    /// Adds one finished stage job.
    mutating func add(_ s: StageJob) {
        guard s.isFinished else { return }
        switch s.costSource {
        case .provider?: providerUSD += s.costUSD ?? 0
        case .computed?: computedUSD += s.costUSD ?? 0
        case .estimated?: estimatedUSD += s.costUSD ?? 0
        case .unknown?:
            unknownJobs += 1
            unknownCeilingUSD += s.estimatedCostUSD ?? 0
        case nil: estimatedUSD += s.costUSD ?? 0  // recorded before costs had sources
        }
    }

    /// `{providerUSD, computedUSD, estimatedUSD, unknown: {jobs, ceilingUSD}}`.
    public var json: JSONValue {
        [
            "providerUSD": .number(CostSummary.round(providerUSD)), "computedUSD": .number(CostSummary.round(computedUSD)),
            "estimatedUSD": .number(CostSummary.round(estimatedUSD)),
            "unknown": ["jobs": .int(Int64(unknownJobs)), "ceilingUSD": .number(CostSummary.round(unknownCeilingUSD))],
        ]
    }
}

/// What a workflow cost, by stage and in total, against the all-on-the-most-expensive-model reference.
///
/// Costs are per task (a variant is one task). `ideationUSD`, `finalUSD` and `totalUSD` are what finished jobs
/// actually cost (failed jobs count what the provider charged, usually nothing). The `projected` figures use each
/// unfinished job's estimate instead, and the saving compares the projection with the baseline.
public struct CostSummary: Sendable, Equatable {
    public var ideationUSD: Double
    public var finalUSD: Double
    public var projectedIdeationUSD: Double
    public var projectedFinalUSD: Double
    public var baseline: CostBaseline?
    /// How much of ``totalUSD`` is the provider's word, computed, or estimated, and the jobs whose cost is unknown
    /// (left out of ``totalUSD``; the projection counts them at their ceilings).
    public var bySource = CostBreakdown()

    public var totalUSD: Double { ideationUSD + finalUSD }
    public var projectedTotalUSD: Double { projectedIdeationUSD + projectedFinalUSD }
    /// Baseline minus projection (negative when the hybrid costs more).
    public var savingsUSD: Double? { baseline.map { $0.totalUSD - projectedTotalUSD } }
    /// ``savingsUSD`` as a percentage of the baseline.
    public var savingsPercent: Double? {
        guard let b = baseline, b.totalUSD > 0, let s = savingsUSD else { return nil }
        return s / b.totalUSD * 100
    }

    /// Rounds to a nano-dollar, so sums of binary fractions print tidily.
    static func round(_ d: Double) -> Double { (d * 1e9).rounded() / 1e9 }

    public var json: JSONValue {
        var o = JSONObject()
        o.append("ideationUSD", .number(Self.round(ideationUSD)))
        o.append("finalUSD", .number(Self.round(finalUSD)))
        o.append("totalUSD", .number(Self.round(totalUSD)))
        o.append(
            "projected",
            [
                "ideationUSD": .number(Self.round(projectedIdeationUSD)), "finalUSD": .number(Self.round(projectedFinalUSD)),
                "totalUSD": .number(Self.round(projectedTotalUSD)),
            ])
        o.append("bySource", bySource.json)
        o.append("allOnMostExpensive", baseline?.json ?? .null)
        o.append("savingsUSD", savingsUSD.map { .number(Self.round($0)) } ?? .null)
        o.append("savingsPercent", savingsPercent.map { .number(($0 * 10).rounded() / 10) } ?? .null)
        return .object(o)
    }
}

extension Workflow {
    /// The cost summary now.
    public var cost: CostSummary {
        func actual(_ s: StageJob) -> Double { s.isFinished ? (s.costUSD ?? 0) : 0 }
        // An unknown actual cost projects at the estimate (the model's ceiling), never at $0.
        func projected(_ s: StageJob) -> Double {
            s.isFinished ? (s.costUSD ?? (s.costSource == .unknown ? s.estimatedCostUSD ?? 0 : 0)) : (s.estimatedCostUSD ?? 0)
        }
        // A final that will never run (failed or cancelled before it was submitted) projects nothing.
        let finalWillRun = final.isSubmitted || !state.isTerminal
        var summary = CostSummary(
            ideationUSD: variants.reduce(0) { $0 + actual($1) }, finalUSD: actual(final),
            projectedIdeationUSD: variants.reduce(0) { $0 + (state.isTerminal && !$1.isSubmitted ? 0 : projected($1)) },
            projectedFinalUSD: finalWillRun ? projected(final) : 0, baseline: baseline)
        for s in variants + [final] { summary.bySource.add(s) }
        return summary
    }
}
