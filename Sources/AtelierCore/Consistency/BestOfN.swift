/// The decision of best-of-N sampling (`consistency`, docs/consistency.md) given the candidates scored so far: a
/// pure value, so the engine only generates, scores and acts.
///
/// Rules, in order:
/// 1. fewer candidates than `samples` → sample the missing ones;
/// 2. no `minScore` → done with the best;
/// 3. the best reaches `minScore` → done with it;
/// 4. fewer candidates than the limit (`maxSamples`, else `samples`) → sample another round of up to `samples`,
///    never past the limit;
/// 5. otherwise `onMiss`: `"best"` → done with the best, marked as a miss; `"fail"` → fail with
///    `consistency_not_reached` and every score.
///
/// The best is the highest score; of equal scores, the earliest candidate.
public enum BestOfN {
    /// A scored candidate.
    public struct Candidate: Sendable, Equatable {
        /// The candidate's image id (stored like any result).
        public var imageUUID: String
        /// Its SSIM score against the reference.
        public var score: Double
        /// What generating it cost, when known.
        public var costUSD: Double?

        /// Creates a candidate.
        public init(imageUUID: String, score: Double, costUSD: Double? = nil) {
            self.imageUUID = imageUUID
            self.score = score
            self.costUSD = costUSD
        }
    }

    /// What to do next.
    public enum Decision: Sendable, Equatable {
        /// Generate `count` more candidates (in parallel).
        case sampleMore(count: Int)
        /// Keep `best` as the job's result; `missedMinScore` when it is below `minScore` (`onMiss: "best"`).
        case done(best: Candidate, missedMinScore: Bool)
        /// Fail with `consistency_not_reached`; `scores` lists every candidate's score in generation order.
        case fail(scores: [Double])
    }

    /// Decides the next step for `candidates` (in generation order) under `request`.
    public static func decide(candidates: [Candidate], request: ConsistencyRequest) -> Decision {
        decide(
            candidates: candidates, samples: request.samples, minScore: request.minScore, maxSamples: request.maxSamples,
            onMiss: request.onMiss)
    }

    /// Decides the next step from the members of a ``ConsistencyRequest`` (see the rules above).
    public static func decide(
        candidates: [Candidate], samples: Int, minScore: Double?, maxSamples: Int?, onMiss: ConsistencyRequest.OnMiss
    ) -> Decision {
        let limit = max(maxSamples ?? samples, samples)
        if candidates.count < samples { return .sampleMore(count: samples - candidates.count) }
        guard let best = best(of: candidates) else { return .sampleMore(count: samples) }
        guard let minScore else { return .done(best: best, missedMinScore: false) }
        if best.score >= minScore { return .done(best: best, missedMinScore: false) }
        if candidates.count < limit { return .sampleMore(count: min(samples, limit - candidates.count)) }
        switch onMiss {
        case .best: return .done(best: best, missedMinScore: true)
        case .fail: return .fail(scores: candidates.map(\.score))
        }
    }

    /// The highest-scoring candidate, the earliest of equal scores; nil for none.
    public static func best(of candidates: [Candidate]) -> Candidate? {
        var best: Candidate?
        for c in candidates where best == nil || c.score > best!.score { best = c }
        return best
    }

    /// The `consistency_not_reached` error for a ``Decision/fail(scores:)``: `details.minScore` and `details.scores`.
    public static func notReachedError(scores: [Double], minScore: Double) -> AtelierError {
        let best = scores.max() ?? 0
        return AtelierError(
            .consistencyNotReached,
            "no candidate reached consistency.minScore \(minScore) in \(scores.count) samples (best \(best))",
            details: ["minScore": .number(minScore), "scores": .array(scores.map(JSONValue.number))])
    }
}
