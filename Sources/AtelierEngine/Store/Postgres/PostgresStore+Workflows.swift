import AtelierCore
import PostgresNIO

extension PostgresStore {
    /// Stores a new workflow with global idempotency on its workflowUUID (the same request from any daemon is the
    /// existing workflow, another request a conflict), with the outbox rows its events owe, in one transaction.
    public func insertWorkflow(_ w: Workflow, deliveries: [DeliveryRecord] = []) async throws -> WorkflowInsertOutcome {
        let request = JSONWriter.string(w.spec.json)
        let document = JSONWriter.string(w.storageJSON)
        return try await transaction { [self] connection in
            let inserted = try await rows(
                """
                INSERT INTO workflow (workflow_uuid, state, request_json, workflow_json, created_ms, updated_ms)
                VALUES (\(w.workflowUUID), \(w.state.rawValue), \(request), \(document), \(w.createdAt.milliseconds), \(w.updatedAt.milliseconds))
                ON CONFLICT (workflow_uuid) DO NOTHING
                RETURNING seq
                """, on: connection
            ) { _ in true }
            guard inserted.isEmpty else {
                for record in deliveries { try await insertDelivery(record, on: connection) }
                return .inserted(w)
            }
            let existing = try await rows("SELECT request_json, workflow_json FROM workflow WHERE workflow_uuid = \(w.workflowUUID)", on: connection)
            {
                row in (try row.get("request_json", as: String.self), try Self.decodeWorkflow(row))
            }
            guard let (stored, workflow) = existing.first else {
                throw AtelierError(.storeFailure, "insert of workflow \(w.workflowUUID) neither inserted nor found")
            }
            return stored == request ? .existing(workflow) : .conflict
        }
    }

    /// Rewrites the whole workflow and, in the same transaction, the outbox rows its events owe.
    public func updateWorkflow(_ w: Workflow, deliveries: [DeliveryRecord] = []) async throws {
        let document = JSONWriter.string(w.storageJSON)
        try await transaction { [self] connection in
            let updated = try await rows(
                """
                UPDATE workflow SET state = \(w.state.rawValue), workflow_json = \(document), updated_ms = \(w.updatedAt.milliseconds)
                WHERE workflow_uuid = \(w.workflowUUID)
                RETURNING seq
                """, on: connection
            ) { _ in true }
            if updated.isEmpty { throw AtelierError(.storeFailure, "workflow \(w.workflowUUID) vanished from the store") }
            for record in deliveries { try await insertDelivery(record, on: connection) }
        }
    }

    /// Reads the workflow under a row lock, applies `change`, and writes the result with the outbox rows `change`
    /// answers, in one transaction (a concurrent modification of the same workflow waits for this one and then sees
    /// its result). Nothing is written when the workflow did not change and there is no event. Nil when there is no
    /// such workflow; `wrote` says whether outbox rows were written.
    public func modifyWorkflow<T: Sendable>(
        _ id: String,
        _ change: @escaping @Sendable (inout Workflow) throws -> (events: [WorkflowEventKind], deliveries: [DeliveryRecord], value: T)
    ) async throws -> (workflow: Workflow, value: T, wrote: Bool)? {
        try await transaction { [self] connection in
            let found = try await rows("SELECT workflow_json FROM workflow WHERE workflow_uuid = \(id) FOR UPDATE", on: connection) {
                try Self.decodeWorkflow($0)
            }
            guard var w = found.first else { return nil }
            let before = w
            let (events, deliveries, value) = try change(&w)
            guard w != before || !events.isEmpty else { return (w, value, false) }
            let document = JSONWriter.string(w.storageJSON)
            try await execute(
                """
                UPDATE workflow SET state = \(w.state.rawValue), workflow_json = \(document), updated_ms = \(w.updatedAt.milliseconds)
                WHERE workflow_uuid = \(id)
                """, on: connection)
            for record in deliveries { try await insertDelivery(record, on: connection) }
            return (w, value, !deliveries.isEmpty)
        }
    }

    /// The workflow with this id, or nil.
    public func workflow(_ id: String) async throws -> Workflow? {
        try await rows("SELECT workflow_json FROM workflow WHERE workflow_uuid = \(id)") { try Self.decodeWorkflow($0) }.first
    }

    /// Every workflow that is not finished, oldest first.
    public func unfinishedWorkflows() async throws -> [Workflow] {
        try await rows("SELECT workflow_json FROM workflow WHERE state IN ('ideating', 'awaiting_selection', 'finalizing') ORDER BY seq") {
            try Self.decodeWorkflow($0)
        }
    }

    /// A workflow from its stored document.
    static func decodeWorkflow(_ row: PostgresRandomAccessRow) throws -> Workflow {
        let text = try row.get("workflow_json", as: String.self)
        let value: JSONValue
        do { value = try JSONParser.parse(text) } catch { throw AtelierError(.storeFailure, "corrupt workflow_json in store: \(error)") }
        return try Workflow(storageJSON: value)
    }
}

extension PostgresStore {
    /// One page of workflows, newest first, optionally by state; the cursor is the last row's `seq`.
    public func workflowPage(state: WorkflowState?, limit: Int, before cursor: Int64?) async throws -> (workflows: [Workflow], next: Int64?) {
        var query: PostgresQuery = "SELECT seq, workflow_json FROM workflow WHERE TRUE"
        if let state { query.and("state =", state.rawValue) }
        if let cursor { query.and("seq <", cursor) }
        query.sql += " ORDER BY seq DESC LIMIT \(max(0, limit) + 1)"
        let rows = try await rows(query) { (seq: try $0.get("seq", as: Int64.self), workflow: try Self.decodeWorkflow($0)) }
        let page = Array(rows.prefix(max(0, limit)))
        return (page.map(\.workflow), rows.count > limit ? page.last?.seq : nil)
    }
}
