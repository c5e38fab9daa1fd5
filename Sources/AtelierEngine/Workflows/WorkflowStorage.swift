import AtelierCore

/// What ``WorkflowService`` needs from the store of workflows: SQLite's ``WorkflowStore`` (one daemon) or a
/// cluster's ``PostgresWorkflowStore`` (every daemon reads and writes the same rows, so a workflow continues on
/// another daemon when the one that started it dies).
///
/// A store fault (the database cannot commit now) is thrown as a ``StoreFault`` or an error ``StoreFault`` classifies,
/// so the service retries its own changes and answers callers with a retryable `store_failure`.
public protocol WorkflowStorage: Sendable {
    /// Stores a new workflow, or finds the one with the same id (same request → existing, else conflict), with the
    /// outbox rows `events` owe, in one transaction.
    func insert(_ w: Workflow, events: [WorkflowEventKind]) async throws -> WorkflowInsertOutcome

    /// Rewrites the whole workflow and, in the same transaction, the outbox rows its events owe.
    func update(_ w: Workflow, events: [WorkflowEventKind]) async throws

    /// Reads the workflow, applies `change` to it and stores the result with the outbox rows of the events `change`
    /// answers (nothing is written when it changed nothing and answered no event), as one step no other writer can
    /// interleave with — in a cluster, no other daemon: two daemons acting on the same workflow at once (two of its
    /// jobs finishing on different daemons) apply their changes one after the other, each to the other's result.
    /// Returns the workflow as stored afterwards and `change`'s value; nil when there is no such workflow.
    func modify<T: Sendable>(
        _ id: String, _ change: @escaping @Sendable (inout Workflow) throws -> (events: [WorkflowEventKind], value: T)
    ) async throws -> (workflow: Workflow, value: T)?

    /// The workflow with this id, or nil.
    func workflow(_ id: String) async throws -> Workflow?

    /// Every workflow that is not finished, oldest first.
    func unfinished() async throws -> [Workflow]

    /// One page of workflows, newest first, optionally by state; the cursor is the last row's sequence.
    func list(state: WorkflowState?, limit: Int, before cursor: Int64?) async throws -> (workflows: [Workflow], next: Int64?)
}

extension WorkflowStore: WorkflowStorage {
    /// See ``WorkflowStorage/modify(_:_:)``. One daemon owns a SQLite store and its ``WorkflowService`` serialises
    /// the changes to one workflow, so a read followed by a write is enough here.
    public func modify<T: Sendable>(
        _ id: String, _ change: @escaping @Sendable (inout Workflow) throws -> (events: [WorkflowEventKind], value: T)
    ) async throws -> (workflow: Workflow, value: T)? {
        guard var w = try await workflow(id) else { return nil }
        let before = w
        let (events, value) = try change(&w)
        if w != before || !events.isEmpty { try await update(w, events: events) }
        return (w, value)
    }
}
