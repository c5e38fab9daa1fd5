/// What best-of-N sampling did for a result: `result.consistency = {metric: "ssim", score, samples, minScore?,
/// missedMinScore, candidates: [{imageUUID, score, costUSD}]}` (docs/consistency.md).
///
/// `score` is the kept candidate's; `candidates` lists every candidate in generation order, the kept one included.
/// Each candidate's image stays stored under its imageUUID in the data directory (like any result).
public struct ConsistencyReport: Sendable, Equatable {
    /// The similarity measure: always `"ssim"` (``metric``).
    public static let metric = "ssim"
    /// The kept candidate's score against the reference.
    public var score: Double
    /// The `minScore` asked for, if any.
    public var minScore: Double?
    /// True when no candidate reached `minScore` and `onMiss: "best"` kept the best anyway.
    public var missedMinScore: Bool
    /// Every candidate, in generation order.
    public var candidates: [BestOfN.Candidate]

    /// Creates a report.
    public init(score: Double, minScore: Double?, missedMinScore: Bool, candidates: [BestOfN.Candidate]) {
        self.score = score
        self.minScore = minScore
        self.missedMinScore = missedMinScore
        self.candidates = candidates
    }

    /// How many candidates were generated.
    public var samples: Int { candidates.count }

    /// The 1-based position of the first candidate that reached `minScore`, nil when none did or there was no
    /// `minScore` (the "samples to reach minScore" of `stats.get`).
    public var samplesToReachMinScore: Int? {
        guard let minScore, let i = candidates.firstIndex(where: { $0.score >= minScore }) else { return nil }
        return i + 1
    }

    /// The wire form.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("metric", .string(Self.metric))
        o.append("score", .number(score))
        o.append("samples", .int(Int64(samples)))
        o.append("minScore", ifPresent: minScore.map(JSONValue.number))
        o.append("missedMinScore", .bool(missedMinScore))
        o.append("samplesToReachMinScore", ifPresent: samplesToReachMinScore.map { .int(Int64($0)) })
        o.append("candidates", .array(candidates.map(\.json)))
        return .object(o)
    }

    /// Reads the wire form written by ``json``.
    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        _ = try r.string("metric")
        _ = try r.int("samples")
        _ = try r.int("samplesToReachMinScore")
        score = try r.double("score") ?? 0
        minScore = try r.double("minScore")
        missedMinScore = try r.bool("missedMinScore") ?? false
        var candidates: [BestOfN.Candidate] = []
        for v in r.raw("candidates")?.arrayValue ?? [] { candidates.append(try BestOfN.Candidate(json: v)) }
        self.candidates = candidates
    }
}

extension BestOfN.Candidate {
    /// The wire form `{imageUUID, score, costUSD}` (costUSD null when unknown).
    public var json: JSONValue {
        var o = JSONObject()
        o.append("imageUUID", .string(imageUUID))
        o.append("score", .number(score))
        o.append("costUSD", costUSD.map(JSONValue.number) ?? .null)
        return .object(o)
    }

    /// Reads the wire form written by ``json``.
    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        self.init(imageUUID: try r.requiredString("imageUUID"), score: try r.double("score") ?? 0, costUSD: try r.double("costUSD"))
    }
}
