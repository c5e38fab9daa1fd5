import AtelierCore
import Foundation
import GRDB

extension JobStore {
    /// The `workflow` table (one row per workflow; the whole workflow as JSON, rewritten on every change).
    static func registerWorkflowMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v1-workflows") { db in
            try db.execute(
                sql: """
                    CREATE TABLE workflow (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        workflow_uuid TEXT NOT NULL UNIQUE,
                        state TEXT NOT NULL,
                        request_json TEXT NOT NULL,
                        workflow_json TEXT NOT NULL,
                        created_ms INTEGER NOT NULL,
                        updated_ms INTEGER NOT NULL
                    );
                    CREATE INDEX workflow_state_seq ON workflow(state, seq);
                    """)
        }
    }
}

/// A change of a workflow's state, as seen by write hooks.
public struct WorkflowChange: Sendable {
    /// The event this change publishes (`workflow.awaiting_selection`, …), if any.
    public var event: WorkflowEventKind?
    /// The workflow after the change.
    public var workflow: Workflow

    public init(event: WorkflowEventKind?, workflow: Workflow) {
        self.event = event
        self.workflow = workflow
    }
}

/// Extra writes that must commit in the same transaction as a workflow's state change (e.g. a webhook outbox row
/// for `workflow.awaiting_selection`), so a crash can never separate the change from its consequence.
public protocol WorkflowWriteHook: Sendable {
    /// Called inside the write transaction, once per event of the change; throwing rolls the whole change back.
    func write(_ change: WorkflowChange, in db: Database) throws
}

/// The outcome of storing a new workflow.
public enum WorkflowInsertOutcome: Sendable {
    case inserted(Workflow)
    /// The same workflowUUID with the same request: the existing workflow.
    case existing(Workflow)
    /// The workflowUUID is taken by a different request.
    case conflict
}

/// Durable workflows, in the jobs' database (same WAL file, same durability).
public final class WorkflowStore: Sendable {
    private let pool: StoreDatabase
    private let hooks: [any WorkflowWriteHook]

    /// - Parameter hooks: writes that join every workflow state change's transaction.
    public init(jobs: JobStore, hooks: [any WorkflowWriteHook] = []) {
        self.pool = jobs.database
        self.hooks = hooks
    }

    /// Stores a new workflow, or finds the one with the same id (same request → existing, else conflict).
    ///
    /// A store fault (disk full, I/O error, busy) throws `store_failure` (retryable) saying why: nothing was accepted.
    public func insert(_ w: Workflow, events: [WorkflowEventKind] = []) async throws -> WorkflowInsertOutcome {
        do { return try await write(w, events: events) } catch {
            if let fault = StoreFault(error, directory: pool.directory) { throw fault.atelierError }
            throw error
        }
    }

    private func write(_ w: Workflow, events: [WorkflowEventKind]) async throws -> WorkflowInsertOutcome {
        let hooks = self.hooks
        return try await pool.write { db in
            let request = JSONWriter.string(w.spec.json)
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM workflow WHERE workflow_uuid = ?", arguments: [w.workflowUUID]) {
                let existing: String = row["request_json"]
                return existing == request ? .existing(try Self.decode(row)) : .conflict
            }
            try db.execute(
                sql: """
                    INSERT INTO workflow (workflow_uuid, state, request_json, workflow_json, created_ms, updated_ms)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    w.workflowUUID, w.state.rawValue, request, JSONWriter.string(w.storageJSON), w.createdAt.milliseconds, w.updatedAt.milliseconds,
                ])
            for e in events { for h in hooks { try h.write(WorkflowChange(event: e, workflow: w), in: db) } }
            return .inserted(w)
        }
    }

    /// Rewrites the whole workflow, and — in the same transaction — whatever the hooks add for its events.
    public func update(_ w: Workflow, events: [WorkflowEventKind] = []) async throws {
        let hooks = self.hooks
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE workflow SET state = ?, workflow_json = ?, updated_ms = ? WHERE workflow_uuid = ?",
                arguments: [w.state.rawValue, JSONWriter.string(w.storageJSON), w.updatedAt.milliseconds, w.workflowUUID])
            if db.changesCount != 1 { throw AtelierError(.storeFailure, "workflow \(w.workflowUUID) vanished from the store") }
            if events.isEmpty {
                for h in hooks { try h.write(WorkflowChange(event: nil, workflow: w), in: db) }
            } else {
                for e in events { for h in hooks { try h.write(WorkflowChange(event: e, workflow: w), in: db) } }
            }
        }
    }

    /// The workflow with this id, or nil.
    public func workflow(_ id: String) async throws -> Workflow? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM workflow WHERE workflow_uuid = ?", arguments: [id]).map(Self.decode)
        }
    }

    /// Every workflow that is not finished, oldest first (reconciliation at start).
    public func unfinished() async throws -> [Workflow] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM workflow WHERE state IN ('ideating', 'awaiting_selection', 'finalizing') ORDER BY seq"
            ).map(Self.decode)
        }
    }

    /// One page of workflows, newest first, optionally by state; the cursor is the last row's sequence.
    public func list(state: WorkflowState?, limit: Int, before cursor: Int64?) async throws -> (workflows: [Workflow], next: Int64?) {
        try await pool.read { db in
            let filters: [KeysetPage.Filter] = state.map { [("state = ?", [$0.rawValue])] } ?? []
            let page = try KeysetPage.fetch(db, table: "workflow", filters: filters, limit: limit, before: cursor)
            return (try page.rows.map(Self.decode), page.next)
        }
    }

    static func decode(_ row: Row) throws -> Workflow {
        let text: String = row["workflow_json"]
        let v: JSONValue
        do { v = try JSONParser.parse(text) } catch { throw AtelierError(.storeFailure, "corrupt workflow_json in store: \(error)") }
        return try Workflow(storageJSON: v)
    }
}
