import AtelierCore

/// The workflows of a cluster: every daemon reads and writes the same `workflow` rows, so `workflow.get`/`select`
/// answer on any daemon and a workflow whose daemon died is continued by the others (each reconciles unfinished
/// workflows against their stage jobs, which the shared queue runs anyway).
///
/// The webhook rows a change owes (``DeliveryOutbox/rows(for:)-(WorkflowChange)``) commit in the change's
/// transaction; the local delivery worker is woken afterwards. PostgreSQL faults are thrown as ``StoreFault``s.
public struct PostgresWorkflowStore: WorkflowStorage {
    /// The database.
    public let store: PostgresStore
    /// The outbox whose rows workflow events owe (nil: no webhooks).
    public let outbox: DeliveryOutbox?

    /// A workflow store over `store`.
    public init(store: PostgresStore, outbox: DeliveryOutbox?) {
        self.store = store
        self.outbox = outbox
    }

    /// See ``WorkflowStorage/insert(_:events:)``.
    public func insert(_ w: Workflow, events: [WorkflowEventKind]) async throws -> WorkflowInsertOutcome {
        let rows = deliveries(w, events)
        let outcome = try await classified { try await store.insertWorkflow(w, deliveries: rows) }
        if !rows.isEmpty, case .inserted = outcome { outbox?.wakeup.signal() }
        return outcome
    }

    /// See ``WorkflowStorage/update(_:events:)``.
    public func update(_ w: Workflow, events: [WorkflowEventKind]) async throws {
        let rows = deliveries(w, events)
        try await classified { try await store.updateWorkflow(w, deliveries: rows) }
        if !rows.isEmpty { outbox?.wakeup.signal() }
    }

    /// See ``WorkflowStorage/modify(_:_:)``: the row is locked (`SELECT … FOR UPDATE`) for the read, the change and
    /// the write, so a second daemon's change waits and then applies to this one's result.
    public func modify<T: Sendable>(
        _ id: String, _ change: @escaping @Sendable (inout Workflow) throws -> (events: [WorkflowEventKind], value: T)
    ) async throws -> (workflow: Workflow, value: T)? {
        let outbox = self.outbox
        let answer = try await classified {
            try await store.modifyWorkflow(id) { w in
                let (events, value) = try change(&w)
                let rows = outbox.map { o in events.flatMap { o.rows(for: WorkflowChange(event: $0, workflow: w)) } } ?? []
                return (events: events, deliveries: rows, value: value)
            }
        }
        if let answer, answer.wrote { outbox?.wakeup.signal() }
        return answer.map { (workflow: $0.workflow, value: $0.value) }
    }

    /// See ``WorkflowStorage/workflow(_:)``.
    public func workflow(_ id: String) async throws -> Workflow? { try await classified { try await store.workflow(id) } }

    /// See ``WorkflowStorage/unfinished()``.
    public func unfinished() async throws -> [Workflow] { try await classified { try await store.unfinishedWorkflows() } }

    /// See ``WorkflowStorage/list(state:limit:before:)``.
    public func list(state: WorkflowState?, limit: Int, before cursor: Int64?) async throws -> (workflows: [Workflow], next: Int64?) {
        try await classified { try await store.workflowPage(state: state, limit: limit, before: cursor) }
    }

    private func deliveries(_ w: Workflow, _ events: [WorkflowEventKind]) -> [DeliveryRecord] {
        guard let outbox else { return [] }
        return events.flatMap { outbox.rows(for: WorkflowChange(event: $0, workflow: w)) }
    }

    /// Runs `body`, rethrowing a PostgreSQL fault as a ``StoreFault`` (redacted location) so the workflow service
    /// treats it like SQLite's.
    private func classified<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch {
            if let fault = StoreFault.postgres(error, location: store.location) { throw fault }
            throw error
        }
    }
}
