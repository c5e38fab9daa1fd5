import AtelierCore

/// One `workflow.list` entry: a workflow's id, state, progress and cost, typed for tables. ``json`` is the whole
/// summary (docs/protocol.md).
public struct WorkflowSummary: Sendable, Equatable {
    /// The workflow's id.
    public var workflowUUID: String
    /// Its state.
    public var state: WorkflowState
    /// When it was submitted (ISO 8601).
    public var createdAt: String
    /// The prompt.
    public var positivePrompt: String
    /// How many variants it asked for.
    public var variants: Int
    /// How many of them succeeded.
    public var succeededVariants: Int
    /// What it cost so far.
    public var totalUSD: Double
    /// The whole summary.
    public var json: JSONValue

    /// Reads a `workflow.list` entry; throws ``AtelierClientError/Code/badResponse`` when it is not one.
    public init(_ v: JSONValue) throws(AtelierClientError) {
        let r = try AnswerReader(v, "workflow summary")
        workflowUUID = try r.string("workflowUUID")
        guard let s = WorkflowState(rawValue: try r.string("state")) else {
            throw AtelierClientError.badResponse("workflow summary: unknown state \(v["state"]?.description ?? "")")
        }
        state = s
        createdAt = try r.string("createdAt")
        positivePrompt = try r.string("positivePrompt")
        variants = try r.int("variants")
        succeededVariants = try r.int("succeededVariants")
        totalUSD = try r.double("totalUSD")
        json = v
    }
}
