import AtelierCore
import PostgresNIO

/// What the faces read from a cluster's outbox (`delivery.list`, `delivery.get`, a job's `deliveries`, the backlog
/// in `daemon.health`), and `delivery.retry` — the same answers as the SQLite ``DeliveryStore``'s.
extension PostgresStore {
    /// The SQL condition of the rows this daemon understands (a `kind` it knows; `status` has a CHECK constraint).
    static let understoodDelivery = "kind IN (" + DeliveryKind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"

    /// One page of outbox rows, newest first; the cursor is the last row's `seq`. `pending` includes rows being sent.
    public func deliveryPage(
        status: DeliveryStatus?, taskUUID: String?, kind: DeliveryKind?, limit: Int, before cursor: Int64?
    ) async throws -> ([DeliveryRecord], Int64?) {
        var query: PostgresQuery = "SELECT * FROM delivery WHERE TRUE"
        if let status {
            if status == .pending {
                query.sql += " AND status IN ('pending', 'sending')"
            } else {
                query.and("status =", status.rawValue)
            }
        }
        if let taskUUID { query.and("task_uuid =", taskUUID) }
        if let kind { query.and("kind =", kind.rawValue) }
        if let cursor { query.and("seq <", cursor) }
        query.sql += " ORDER BY seq DESC LIMIT \(max(0, limit) + 1)"
        let rows = try await rows(query) { try Self.decodeDelivery($0) }
        let page = Array(rows.prefix(max(0, limit)))
        return (page, rows.count > limit ? page.last?.seq : nil)
    }

    /// Every outbox row of these jobs (or workflows), in insertion order.
    public func deliveries(forTasks tasks: [String]) async throws -> [DeliveryRecord] {
        guard !tasks.isEmpty else { return [] }
        return try await rows("SELECT * FROM delivery WHERE task_uuid = ANY(\(tasks)) ORDER BY seq") { try Self.decodeDelivery($0) }
    }

    /// Jobs with deliveries still open, newest first.
    public func tasksWithOpenDeliveries(limit: Int) async throws -> [String] {
        try await rows(
            """
            SELECT task_uuid FROM delivery WHERE status IN ('pending', 'sending')
            GROUP BY task_uuid ORDER BY MAX(seq) DESC LIMIT \(limit)
            """
        ) { try $0.get("task_uuid", as: String.self) }
    }

    /// Open rows (`pending`/`sending`), how many of the pending ones are due at `nowMs`, and how many have been due
    /// for longer than `overdueAfterMs`.
    public func deliveryBacklog(nowMs: Int64, overdueAfterMs: Int64) async throws -> DeliveryBacklog {
        let overdueMs = nowMs - overdueAfterMs
        let found = try await rows(
            """
            SELECT COUNT(*) AS open,
                   COUNT(*) FILTER (WHERE status = 'pending' AND NOT held AND next_attempt_ms <= \(nowMs)) AS due,
                   COUNT(*) FILTER (WHERE status = 'pending' AND NOT held AND next_attempt_ms <= \(overdueMs)) AS overdue,
                   MIN(next_attempt_ms) FILTER (WHERE status = 'pending' AND NOT held) AS oldest_due
            FROM delivery WHERE status IN ('pending', 'sending')
            """
        ) { row in
            (
                open: try row.get("open", as: Int64.self), due: try row.get("due", as: Int64.self), overdue: try row.get("overdue", as: Int64.self),
                oldest: try row.get("oldest_due", as: Int64?.self)
            )
        }
        guard let r = found.first else { return DeliveryBacklog(open: 0, due: 0, overdue: 0, oldestDueMs: nil) }
        return DeliveryBacklog(
            open: Int(r.open), due: Int(r.due), overdue: Int(r.overdue), oldestDueMs: r.oldest.flatMap { $0 <= nowMs ? $0 : nil })
    }

    /// The earliest `next_attempt_ms` after `nowMs` of a pending, unheld row, and the earliest expiry (in the
    /// engine's milliseconds, from the database's clock) of a row being sent — when the worker of some daemon has
    /// something to do next.
    public func nextDeliveryDue(after nowMs: Int64) async throws -> Int64? {
        try await rows(
            """
            SELECT LEAST(
                (SELECT MIN(next_attempt_ms) FROM delivery WHERE status = 'pending' AND NOT held AND next_attempt_ms > \(nowMs)),
                (SELECT \(nowMs) + (extract(epoch FROM MIN(lease_expires) - clock_timestamp()) * 1000)::BIGINT
                 FROM delivery WHERE status = 'sending' AND lease_expires IS NOT NULL)
            ) AS next
            """
        ) { try $0.get("next", as: Int64?.self) }.first ?? nil
    }

    /// `delivery.retry`: the rows (one by id, or a job's failed and pending ones) due now in a fresh cycle through
    /// ``DeliveryStateMachine`` (a row being sent is left alone); returns the rows as they are afterwards.
    public func retryDeliveries(
        id: String?, taskUUID: String?, nowMs: Int64, configuration: DeliveryConfiguration
    ) async throws
        -> [DeliveryRecord]
    {
        try await transaction { [self] connection in
            let selected: [DeliveryRecord]
            if let id {
                selected = try await rows("SELECT * FROM delivery WHERE id = \(id) FOR UPDATE", on: connection) { try Self.decodeDelivery($0) }
            } else {
                selected = try await rows(
                    "SELECT * FROM delivery WHERE task_uuid = \(taskUUID ?? "") AND status IN ('failed', 'pending') ORDER BY seq FOR UPDATE",
                    on: connection
                ) { try Self.decodeDelivery($0) }
            }
            var out: [DeliveryRecord] = []
            for var r in selected {
                var machine = DeliveryStateMachine(state: r.state, schedule: configuration.schedule(r.kind))
                if machine.handle(.retryRequested(nowMs: nowMs)) != .ignore {
                    r.state = machine.state
                    r.updatedMs = nowMs
                    let s = r.state
                    let error = s.lastError.map { JSONWriter.string($0.json) }
                    try await execute(
                        """
                        UPDATE delivery SET status = \(s.status.rawValue), held = \(s.held), attempts = \(s.attempts),
                            cycle_attempts = \(s.cycleAttempts), next_attempt_ms = \(s.nextAttemptMs), last_status = \(s.lastHTTPStatus),
                            last_error_json = \(error), delivered_ms = \(s.deliveredMs), updated_ms = \(nowMs)
                        WHERE seq = \(r.seq)
                        """, on: connection)
                }
                out.append(r)
            }
            return out
        }
    }
}
