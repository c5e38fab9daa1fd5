import Foundation

/// A task's `consistency` member: best-of-N sampling against a reference (issue 15, docs/consistency.md).
///
/// The engine generates ``samples`` candidates on the routed model, scores each against the reference by SSIM and
/// keeps the best; with ``minScore`` it keeps sampling up to ``maxSamples`` while no candidate reaches it, then
/// acts as ``onMiss`` says. Parsed by ``parse(_:referenceCount:)`` from the task's JSON and written back by
/// ``json`` in a canonical form, so a stored task reads back equal.
public struct ConsistencyRequest: Sendable, Equatable {
    /// What the candidates are scored against.
    public enum Against: Sendable, Equatable {
        /// The task's own `referenceImages` (the score against each, the best of them counts).
        case references
        /// One image given here, not sent to the provider.
        case image(ReferenceImage)
    }

    /// What happens when no candidate reaches ``minScore`` within ``maxSamples``.
    public enum OnMiss: String, Sendable, Equatable, CaseIterable {
        /// The job fails with `consistency_not_reached` and every score (the default).
        case fail
        /// The job succeeds with the best candidate.
        case best
    }

    /// Bounds of the members.
    public enum Limits {
        /// How many candidates are generated first.
        public static let samples: ClosedRange<Int64> = 2...8
        /// The most candidates generated in all, counting retries toward ``ConsistencyRequest/minScore``.
        public static let maxSamples: Int64 = 12
    }

    /// How many candidates are generated first (2–8).
    public var samples: Int
    /// What the candidates are scored against.
    public var against: Against
    /// The SSIM score (0–1) a candidate must reach; nil keeps the best of ``samples`` without retrying.
    public var minScore: Double?
    /// The most candidates in all (``samples``…12); nil means ``samples`` (no retries).
    public var maxSamples: Int?
    /// What happens on a miss.
    public var onMiss: OnMiss

    /// Creates a request; the values are not checked (``parse(_:referenceCount:)`` checks input).
    public init(samples: Int, against: Against = .references, minScore: Double? = nil, maxSamples: Int? = nil, onMiss: OnMiss = .fail) {
        self.samples = samples
        self.against = against
        self.minScore = minScore
        self.maxSamples = maxSamples
        self.onMiss = onMiss
    }

    /// The most candidates this request may generate: ``maxSamples``, or ``samples`` when absent.
    public var sampleLimit: Int { maxSamples ?? samples }

    /// Parses the `consistency` member read by `r` (a reader positioned on it).
    /// - Parameter referenceCount: the task's number of `referenceImages`, for `against: "references"`.
    /// - Throws: `invalid_value` (-32602) with the member's pointer: `samples` outside 2–8, `maxSamples` below
    ///   `samples` or above 12, `minScore` outside 0–1, an unknown `onMiss`, `against: "references"` on a task
    ///   without reference images; `invalid_reference_image` for a malformed image in `against`.
    public static func parse(_ r: inout FieldReader, referenceCount: Int) throws(AtelierError) -> ConsistencyRequest {
        guard let n = try r.int("samples", in: Limits.samples) else {
            throw AtelierError(.missingField, "consistency.samples is required (2–8)", field: r.pointer("samples"))
        }
        let samples = Int(n)
        let against: Against
        switch try r.string("against") ?? "references" {
        case "references":
            guard referenceCount > 0 else {
                throw AtelierError(
                    .invalidValue, "consistency needs a reference: give referenceImages or an image in consistency.against",
                    field: r.pointer("against"))
            }
            against = .references
        case let text:
            against = .image(try ReferenceImage.parse(text, field: r.pointer("against")))
        }
        let minScore = try r.double("minScore", in: 0...1)
        var maxSamples: Int?
        if let m = try r.int("maxSamples") {
            guard m >= Int64(samples), m <= Limits.maxSamples else {
                throw AtelierError(
                    .invalidValue, "consistency.maxSamples must be between samples (\(samples)) and \(Limits.maxSamples), not \(m)",
                    field: r.pointer("maxSamples"), details: ["min": .int(Int64(samples)), "max": .int(Limits.maxSamples)])
            }
            maxSamples = Int(m)
        }
        let onMiss: OnMiss = try r.enumValue("onMiss") ?? .fail
        try r.finish()
        return ConsistencyRequest(samples: samples, against: against, minScore: minScore, maxSamples: maxSamples, onMiss: onMiss)
    }

    /// The canonical JSON form: fixed member order, `against` and `onMiss` written out, absent optionals omitted.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("samples", .int(Int64(samples)))
        switch against {
        case .references: o.append("against", .string("references"))
        case .image(let ref): o.append("against", .string(ref.description))
        }
        o.append("minScore", ifPresent: minScore.map(JSONValue.number))
        o.append("maxSamples", ifPresent: maxSamples.map { .int(Int64($0)) })
        o.append("onMiss", .string(onMiss.rawValue))
        return .object(o)
    }
}

extension ErrorCode {
    /// Best-of-N found no candidate reaching `consistency.minScore` within `maxSamples` (`onMiss: "fail"`);
    /// `details.scores` lists every candidate's score.
    public static let consistencyNotReached: ErrorCode = "consistency_not_reached"
}
