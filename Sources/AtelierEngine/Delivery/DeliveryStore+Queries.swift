import AtelierCore
import Foundation
import GRDB

/// What callers read from the outbox, and `delivery.retry`.
extension DeliveryStore {
    /// One page, newest first.
    public func list(
        status: DeliveryStatus?, taskUUID: String?, kind: DeliveryKind?, limit: Int, before cursor: Int64?
    ) async throws -> (
        [DeliveryRecord], Int64?
    ) {
        try await pool.read { db in
            var filters: [KeysetPage.Filter] = []
            if let status {
                filters.append(status == .pending ? ("status IN ('pending', 'sending')", []) : ("status = ?", [status.rawValue]))
            }
            if let taskUUID { filters.append(("task_uuid = ?", [taskUUID])) }
            if let kind { filters.append(("kind = ?", [kind.rawValue])) }
            let page = try KeysetPage.fetch(db, table: "delivery", filters: filters, limit: limit, before: cursor)
            return (try page.rows.map { try Self.decode($0) }, page.next)
        }
    }

    /// The row with this id.
    public func get(_ id: String) async throws -> DeliveryRecord? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM delivery WHERE id = ?", arguments: [id]).map { try Self.decode($0) } }
    }

    /// Every row of these jobs, in insertion order.
    public func rows(forTasks tasks: [String]) async throws -> [DeliveryRecord] {
        guard !tasks.isEmpty else { return [] }
        return try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM delivery WHERE task_uuid IN (" + tasks.map { _ in "?" }.joined(separator: ",") + ") ORDER BY seq",
                arguments: StatementArguments(tasks)
            ).map { try Self.decode($0) }
        }
    }

    /// Open rows (`pending`/`sending`), how many of the pending ones are due at `nowMs`, and how many have been due
    /// for longer than `overdueAfterMs` (the worker is not keeping up).
    public func backlog(nowMs: Int64, overdueAfterMs: Int64) async throws -> DeliveryBacklog {
        try await pool.read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) AS open,
                           COALESCE(SUM(status = 'pending' AND held = 0 AND next_attempt_ms <= ?), 0) AS due,
                           COALESCE(SUM(status = 'pending' AND held = 0 AND next_attempt_ms <= ?), 0) AS overdue,
                           MIN(CASE WHEN status = 'pending' AND held = 0 THEN next_attempt_ms END) AS oldest_due
                    FROM delivery WHERE status IN ('pending', 'sending')
                    """, arguments: [nowMs, nowMs - overdueAfterMs])
            guard let row else { return DeliveryBacklog(open: 0, due: 0, overdue: 0, oldestDueMs: nil) }
            let oldest: Int64? = row["oldest_due"]
            return DeliveryBacklog(
                open: row["open"], due: row["due"], overdue: row["overdue"], oldestDueMs: oldest.flatMap { $0 <= nowMs ? $0 : nil })
        }
    }

    /// Jobs with deliveries still open, newest first.
    public func tasksWithOpenDeliveries(limit: Int) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT task_uuid FROM delivery WHERE status IN ('pending', 'sending') GROUP BY task_uuid ORDER BY MAX(seq) DESC LIMIT ?",
                arguments: [limit])
        }
    }

    /// `delivery.retry`: the rows (one by id, or a job's failed and pending ones) due now in a fresh cycle. Returns
    /// the rows as they are afterwards, and whether anything changed.
    public func retry(id: String?, taskUUID: String?, nowMs: Int64) async throws -> [DeliveryRecord] {
        try await pool.write { db in
            let rows: [DeliveryRecord]
            if let id {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM delivery WHERE id = ?", arguments: [id]).map { try Self.decode($0) }
            } else {
                rows = try Row.fetchAll(
                    db, sql: "SELECT * FROM delivery WHERE task_uuid = ? AND status IN ('failed', 'pending') ORDER BY seq",
                    arguments: [taskUUID ?? ""]
                ).map { try Self.decode($0) }
            }
            var out: [DeliveryRecord] = []
            for var r in rows {
                var m = machine(r)
                if m.handle(.retryRequested(nowMs: nowMs)) != .ignore {
                    r.state = m.state
                    r.updatedMs = nowMs
                    try Self.update(r, db)
                }
                out.append(r)
            }
            return out
        }
    }
}
