import AtelierCore
import Foundation
import GRDB

/// The outbox table and its operations. Every change of a row's state goes through ``DeliveryStateMachine``.
public struct DeliveryStore: OutboxStore {
    let pool: StoreDatabase
    let configuration: DeliveryConfiguration

    public init(pool: StoreDatabase, configuration: DeliveryConfiguration) {
        self.pool = pool
        self.configuration = configuration
    }

    /// The SQL condition of the rows this daemon understands (a `kind` and a `status` it knows). The worker only ever
    /// touches those: a row written by a newer daemon, or edited by hand, stays as it is instead of failing every step
    /// with a `store_failure` (which would stall every other delivery); callers that read it (`delivery.list`,
    /// `delivery.get`, a job's `deliveries`) get that error.
    static let understood =
        "kind IN (" + DeliveryKind.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ") AND status IN ("
        + DeliveryStatus.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"

    /// The state machine of a row, with its kind's schedule.
    func machine(_ r: DeliveryRecord) -> DeliveryStateMachine {
        DeliveryStateMachine(state: r.state, schedule: configuration.schedule(r.kind))
    }

    // MARK: The worker's operations

    /// At start: rows left `sending` by a crash go back to `pending`, due now (sent again, same id).
    public func recover(nowMs: Int64) async throws -> Int {
        try await pool.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM delivery WHERE status = 'sending' AND " + Self.understood).map { try Self.decode($0) }
            for var r in rows {
                var m = machine(r)
                _ = m.handle(.recovered(nowMs: nowMs))
                r.state = m.state
                r.updatedMs = nowMs
                try Self.update(r, db)
            }
            return rows.count
        }
    }

    /// One finished attempt.
    typealias Outcome = DeliveryOutcome
    /// What one step of the worker did.
    typealias Step = DeliveryStep

    /// The worker's step, in ONE write transaction (one fsync): records finished attempts, then claims due rows,
    /// oldest due first, at most `room`, with at most `perHost` in flight per host (`inflight` counts those already
    /// running), then reads when the next row falls due.
    public func step(
        outcomes: [DeliveryOutcome], nowMs: Int64, room: Int, inflight: [String: Int], perHost: Int
    ) async throws -> DeliveryStep {
        try await pool.write { db in
            var out = Step()
            out.written = try record(outcomes, db)
            guard room > 0 else {
                out.nextDueMs = try Self.nextDue(after: nowMs, db)
                return out
            }
            var taken = inflight
            var full = Set(taken.filter { $0.value >= perHost }.keys)
            var chosen: [Int64] = []
            var left = room
            // Light scans (seq, host) in due order; a host that fills up is excluded from the next scan.
            var mayHaveMore = false
            for _ in 0..<4 where left > 0 {
                var sql = "SELECT seq, host_key FROM delivery WHERE status = 'pending' AND held = 0 AND next_attempt_ms <= ? AND " + Self.understood
                var args: [any DatabaseValueConvertible] = [nowMs]
                if !full.isEmpty {
                    sql += " AND host_key NOT IN (" + full.map { _ in "?" }.joined(separator: ",") + ")"
                    args.append(contentsOf: Array(full))
                }
                if !chosen.isEmpty {
                    sql += " AND seq NOT IN (" + chosen.map { _ in "?" }.joined(separator: ",") + ")"
                    args.append(contentsOf: chosen)
                }
                let limit = left
                sql += " ORDER BY next_attempt_ms, seq LIMIT ?"
                args.append(limit)
                let rows = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args))
                var skipped = false
                for row in rows {
                    let host: String = row["host_key"]
                    if taken[host, default: 0] >= perHost {
                        full.insert(host)
                        skipped = true
                        continue
                    }
                    taken[host, default: 0] += 1
                    if taken[host]! >= perHost { full.insert(host) }
                    chosen.append(row["seq"])
                    left -= 1
                }
                mayHaveMore = skipped || rows.count == limit
                if !mayHaveMore { break }
            }
            out.moreDue = left > 0 && mayHaveMore
            if !chosen.isEmpty {
                let rows = try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM delivery WHERE seq IN (" + chosen.map { _ in "?" }.joined(separator: ",") + ") ORDER BY next_attempt_ms, seq",
                    arguments: StatementArguments(chosen)
                ).map { try Self.decode($0) }
                for var r in rows {
                    var m = machine(r)
                    guard m.handle(.claim(nowMs: nowMs)) == .send else { continue }
                    r.state = m.state
                    r.updatedMs = nowMs
                    try Self.update(r, db)
                    out.claimed.append(r)
                }
            }
            out.nextDueMs = try Self.nextDue(after: nowMs, db)
            return out
        }
    }

    /// The earliest `next_attempt_ms` after `nowMs` of a pending, unheld row (rows due now that were not claimed
    /// wait for a host or the total to have room, which a finishing attempt signals).
    static func nextDue(after nowMs: Int64, _ db: Database) throws -> Int64? {
        try Int64.fetchOne(
            db, sql: "SELECT MIN(next_attempt_ms) FROM delivery WHERE status = 'pending' AND held = 0 AND next_attempt_ms > ? AND " + understood,
            arguments: [nowMs])
    }

    /// Records finished attempts; settles held webhooks whose uploads are now final. Returns the rows as written
    /// (including released webhooks).
    private func record(_ outcomes: [Outcome], _ db: Database) throws -> [DeliveryRecord] {
        var written: [DeliveryRecord] = []
        var settledUploads: Set<String> = []
        for o in outcomes {
            var r = o.record
            var m = machine(r)
            let verdict = DeliveryClassifier.verdict(r.kind, o.result)
            var status: Int? = nil
            if case .http(let s, _) = o.result { status = s }
            let action = m.handle(.attempted(verdict, httpStatus: status, nowMs: o.finishedMs, unitRandom: o.unitRandom))
            if action == .ignore { continue }
            r.state = m.state
            r.updatedMs = o.finishedMs
            try Self.update(r, db)
            written.append(r)
            if r.kind == .upload, r.state.status.isFinal { settledUploads.insert(r.taskUUID) }
        }
        let now = outcomes.map(\.finishedMs).max() ?? 0
        for task in settledUploads {
            written.append(contentsOf: try release(task: task, nowMs: now, db))
        }
        return written
    }

    /// Releases the held webhooks of `task` whose uploads are final, rendering their bodies with the outcomes.
    private func release(task: String, nowMs: Int64, _ db: Database) throws -> [DeliveryRecord] {
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM delivery WHERE task_uuid = ? AND " + Self.understood + " ORDER BY seq", arguments: [task])
            .map { try Self.decode($0) }
        let released = HeldWebhookRelease.released(from: rows, nowMs: nowMs, machine: machine)
        for r in released { try Self.update(r, db) }
        return released
    }
}
