import AtelierCore

/// The `route.explain` answer, typed for the CLI: the chosen model, the ranked alternatives, the rejected models
/// and why. ``json`` is the whole document (sizes, grades and fallbacks included; docs/protocol.md).
public struct RouteExplanation: Sendable, Equatable {
    /// A model that can serve the task.
    public struct Candidate: Sendable, Equatable {
        /// The catalog id.
        public var model: String
        /// The provider id.
        public var provider: String
        /// The estimated cost of the task on it.
        public var estimatedCostUSD: Double?
    }

    /// A model that cannot, and why.
    public struct Rejection: Sendable, Equatable {
        /// The catalog id.
        public var model: String
        /// The stable reason (`ignores_seed`, `too_many_references`…).
        public var reason: String
        /// The details, when there are any.
        public var detail: String?
    }

    /// The model the task would run on; nil when none can serve it.
    public var chosen: Candidate?
    /// The other eligible models, best first.
    public var alternatives: [Candidate]
    /// The models that cannot serve it.
    public var rejected: [Rejection]
    /// How the policy decided, in words.
    public var reasons: [String]
    /// The split arm the task fell in, if any.
    public var arm: String?
    /// Why nothing can serve it, when ``chosen`` is nil.
    public var errorMessage: String?
    /// The whole document.
    public var json: JSONValue

    /// Reads a `route.explain` answer; throws ``AtelierClientError/Code/badResponse`` when it is not one.
    public init(_ v: JSONValue) throws(AtelierClientError) {
        let r = try AnswerReader(v, "route explanation")
        func candidate(_ x: AnswerReader) throws(AtelierClientError) -> Candidate {
            Candidate(model: try x.string("model"), provider: try x.string("provider"), estimatedCostUSD: x.optionalDouble("estimatedCostUSD"))
        }
        chosen = try r.optionalObject("chosen").map { x throws(AtelierClientError) in try candidate(x) }
        var alternatives: [Candidate] = []
        for a in try r.array("alternatives") { alternatives.append(try candidate(try AnswerReader(a, "alternative"))) }
        self.alternatives = alternatives
        var rejected: [Rejection] = []
        for x in try r.array("rejected") {
            let j = try AnswerReader(x, "rejection")
            rejected.append(Rejection(model: try j.string("model"), reason: try j.string("reason"), detail: j.optionalString("detail")))
        }
        self.rejected = rejected
        reasons = try r.array("reasons").compactMap(\.stringValue)
        arm = r.optionalString("arm")
        errorMessage = try r.optionalObject("error")?.optionalString("message")
        json = v
    }
}
