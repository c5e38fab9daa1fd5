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

    /// The workflow with this id, or nil.
    func workflow(_ id: String) async throws -> Workflow?

    /// Every workflow that is not finished, oldest first.
    func unfinished() async throws -> [Workflow]

    /// One page of workflows, newest first, optionally by state; the cursor is the last row's sequence.
    func list(state: WorkflowState?, limit: Int, before cursor: Int64?) async throws -> (workflows: [Workflow], next: Int64?)
}

extension WorkflowStore: WorkflowStorage {}
