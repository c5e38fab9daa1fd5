import AtelierCore
import Foundation
import GRDB

/// One row of the outbox: one webhook message or one image upload.
public struct DeliveryRecord: Sendable, Equatable {
    /// Insertion order (the list cursor).
    public var seq: Int64
    /// `msg_…` (the `webhook-id`, stable across retries) or `upl_…`.
    public var id: String
    public var kind: DeliveryKind
    public var taskUUID: String
    /// The webhook event type (`job.result`, …) or `upload`.
    public var event: String
    /// The image it is about (`job.result`, uploads).
    public var imageUUID: String?
    /// The image's position in the job's results.
    public var resultIndex: Int?
    /// The full target URL. It may carry credentials (a presigned query): never logged, never shown.
    public var url: String
    /// `scheme://host:port`: the unit of per-host concurrency.
    public var hostKey: String
    public var state: DeliveryState
    public var createdMs: Int64
    public var updatedMs: Int64
    /// When the event happened (the body's `timestamp`).
    public var eventMs: Int64
    /// Webhooks: the body's `data` before upload details are added (held rows); uploads: the stored result.
    public var payload: String?
    /// Webhooks: the exact body sent, rendered once so every retry carries the same bytes.
    public var body: String?

    /// The caller's view (URL without query or credentials; no body).
    public var json: JSONValue {
        var o = JSONObject()
        o.append("id", .string(id))
        o.append("kind", .string(kind.rawValue))
        o.append("event", .string(event))
        o.append("taskUUID", .string(taskUUID))
        o.append("imageUUID", imageUUID.map(JSONValue.string) ?? .null)
        o.append("index", resultIndex.map { .int(Int64($0)) } ?? .null)
        o.append("url", .string(URLCheck.redacted(url)))
        o.append("status", .string(state.status.external))
        o.append("attempts", .int(Int64(state.attempts)))
        o.append("nextAttemptAt", state.nextAttemptMs.map { .string(Timestamp(milliseconds: $0).iso8601) } ?? .null)
        o.append("lastHTTPStatus", state.lastHTTPStatus.map { .int(Int64($0)) } ?? .null)
        o.append("lastError", state.lastError?.json ?? .null)
        o.append("deliveredAt", state.deliveredMs.map { .string(Timestamp(milliseconds: $0).iso8601) } ?? .null)
        o.append("createdAt", .string(Timestamp(milliseconds: createdMs).iso8601))
        if state.held { o.append("waitingFor", "uploads") }
        if state.status == .sending { o.append("inFlight", true) }
        return .object(o)
    }

    /// ``json`` plus the webhook body (for `delivery.get`).
    public var detailJSON: JSONValue {
        guard case .object(var o) = json else { return json }
        if let body { o.append("body", (try? JSONParser.parse(body)) ?? .string(body)) }
        return .object(o)
    }

    /// `scheme://host:port` of a URL, lowercased.
    public static func hostKey(_ url: String) -> String {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased() else { return "?" }
        let host = (c.host ?? "?").lowercased()
        let port = c.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(host):\(port)"
    }
}

/// The outbox's write hook: in the SAME transaction as a job's final state change it records every message and
/// upload that change owes, so a crash can never separate "image stored" from "receiver will be told".
///
/// - `succeeded`: one upload per result with an endpoint, one `job.result` message per result, one `job.succeeded`.
///   Webhooks about images that are being uploaded are held until their upload settles, so that the message can
///   say where the image went (`uploadURL`) or why it did not get there (`uploadError`).
/// - `failed`, `cancelled`: one `job.failed` / `job.cancelled` message.
///
/// After the transaction commits, the worker is woken.
public final class DeliveryOutbox: StoreWriteHook {
    let configuration: DeliveryConfiguration
    let clock: any DeliveryClock
    /// Signalled after a transaction that added rows commits.
    public let wakeup: DeliveryWakeup

    public init(configuration: DeliveryConfiguration, clock: any DeliveryClock = SystemDeliveryClock(), wakeup: DeliveryWakeup = DeliveryWakeup()) {
        self.configuration = configuration
        self.clock = clock
        self.wakeup = wakeup
    }

    public func write(_ change: StateChange, in db: Database) throws {
        let job = change.job
        let task = job.task
        let uploads = task.uploadEndpoint ?? []
        guard task.webhookURL != nil || !uploads.isEmpty else { return }
        let now = clock.nowMs()
        let eventMs = job.finishedAt?.milliseconds ?? now
        var rows: [DeliveryRecord] = []
        func row(
            _ kind: DeliveryKind, _ event: String, url: String, image: String?, index: Int?, held: Bool, payload: String?, body: String?
        )
            -> DeliveryRecord
        {
            let schedule = configuration.schedule(kind)
            return DeliveryRecord(
                seq: 0, id: (kind == .webhook ? "msg_" : "upl_") + UUIDv4.generate().replacingOccurrences(of: "-", with: ""), kind: kind,
                taskUUID: job.taskUUID, event: event, imageUUID: image, resultIndex: index, url: url, hostKey: DeliveryRecord.hostKey(url),
                state: DeliveryStateMachine.initial(nowMs: now, held: held, schedule: schedule, unitRandom: configuration.random()),
                createdMs: now, updatedMs: now, eventMs: eventMs, payload: payload, body: body)
        }
        switch change.event {
        case .succeeded:
            let results = change.newResults.isEmpty ? job.results : change.newResults
            var uploading = Set<String>()
            for (i, r) in results.enumerated() where i < uploads.count {
                rows.append(
                    row(.upload, "upload", url: uploads[i], image: r.imageUUID, index: i, held: false, payload: JSONWriter.string(r.json), body: nil))
                uploading.insert(r.imageUUID)
            }
            if let hook = task.webhookURL {
                for (i, r) in results.enumerated() {
                    let data = WebhookBody.resultData(job: job, result: r, index: i)
                    let held = uploading.contains(r.imageUUID)
                    rows.append(
                        row(
                            .webhook, WebhookEvent.result.rawValue, url: hook, image: r.imageUUID, index: i, held: held,
                            payload: held ? JSONWriter.string(data) : nil,
                            body: held ? nil : WebhookBody.render(.result, eventMs: eventMs, data: data)))
                }
                let data = WebhookBody.jobData(job)
                let held = !uploading.isEmpty
                rows.append(
                    row(
                        .webhook, WebhookEvent.succeeded.rawValue, url: hook, image: nil, index: nil, held: held,
                        payload: held ? JSONWriter.string(data) : nil, body: held ? nil : WebhookBody.render(.succeeded, eventMs: eventMs, data: data)
                    ))
            }
        case .failed, .cancelled:
            guard let hook = task.webhookURL else { return }
            let type: WebhookEvent = change.event == .failed ? .failed : .cancelled
            rows.append(
                row(
                    .webhook, type.rawValue, url: hook, image: nil, index: nil, held: false, payload: nil,
                    body: WebhookBody.render(type, eventMs: eventMs, data: WebhookBody.jobData(job))))
        case .queued, .running, .result, .interrupted:
            return
        }
        for r in rows { try DeliveryStore.insert(r, db) }
        let wakeup = self.wakeup
        db.afterNextTransaction(onCommit: { _ in wakeup.signal() })
    }
}

/// Webhook bodies: `{"type", "timestamp", "data"}`. No image bytes; URLs without query strings or credentials.
public enum WebhookBody {
    /// The body of one message.
    public static func render(_ type: WebhookEvent, eventMs: Int64, data: JSONValue) -> String {
        JSONWriter.string(["type": .string(type.rawValue), "timestamp": .string(Timestamp(milliseconds: eventMs).iso8601), "data": data])
    }

    /// `job.result` data: the task id, the image's position, the stored result (path, sha256, …).
    public static func resultData(job: Job, result: JobResult, index: Int) -> JSONValue {
        var o: JSONObject = ["taskUUID": .string(job.taskUUID), "index": .int(Int64(index))]
        for (k, v) in result.json.objectValue ?? [:] { o.append(k, v) }
        return .object(o)
    }

    /// `job.succeeded`/`failed`/`cancelled` data: the whole job, with the task's URLs redacted.
    public static func jobData(_ job: Job) -> JSONValue {
        guard case .object(var o) = job.json else { return job.json }
        o["deliveries"] = JSONValue?.none
        if case .object(var t)? = o["task"] {
            if let w = t["webhookURL"]?.stringValue { t["webhookURL"] = .string(URLCheck.redacted(w)) }
            switch t["uploadEndpoint"] {
            case .string(let u)?: t["uploadEndpoint"] = .string(URLCheck.redacted(u))
            case .array(let a)?: t["uploadEndpoint"] = .array(a.map { .string(URLCheck.redacted($0.stringValue ?? "")) })
            default: break
            }
            o["task"] = .object(t)
        }
        return .object(o)
    }

    /// How an upload ended, as told to webhook receivers.
    struct UploadOutcome {
        var url: String
        var state: DeliveryState
        func apply(to o: inout JSONObject) {
            if state.status == .delivered {
                o["uploadURL"] = .string(URLCheck.redacted(url))
            } else if let e = state.lastError {
                var err: JSONObject = ["code": .string(e.code.rawValue), "message": .string(e.message)]
                if let s = state.lastHTTPStatus { err.append("httpStatus", .int(Int64(s))) }
                o["uploadError"] = .object(err)
            }
        }
    }

    /// Adds upload outcomes to held `data` (a result, or a job's results).
    static func withUploads(_ data: JSONValue, event: String, uploads: [String: UploadOutcome]) -> JSONValue {
        guard case .object(var o) = data else { return data }
        if event == WebhookEvent.result.rawValue {
            if let id = o["imageUUID"]?.stringValue, let u = uploads[id] { u.apply(to: &o) }
            return .object(o)
        }
        if case .array(let results)? = o["results"] {
            o["results"] = .array(
                results.map { r in
                    guard case .object(var ro) = r, let id = ro["imageUUID"]?.stringValue, let u = uploads[id] else { return r }
                    u.apply(to: &ro)
                    return .object(ro)
                })
        }
        return .object(o)
    }
}

/// The outbox table and its operations. Every change of a row's state goes through ``DeliveryStateMachine``.
public struct DeliveryStore: Sendable {
    let pool: StoreDatabase
    let configuration: DeliveryConfiguration

    public init(pool: StoreDatabase, configuration: DeliveryConfiguration) {
        self.pool = pool
        self.configuration = configuration
    }

    // MARK: Schema

    static func insert(_ r: DeliveryRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO delivery (id, kind, task_uuid, event, image_uuid, result_index, url, host_key, status, held, attempts,
                    cycle_attempts, next_attempt_ms, created_ms, updated_ms, event_ms, payload, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                r.id, r.kind.rawValue, r.taskUUID, r.event, r.imageUUID ?? "", r.resultIndex, r.url, r.hostKey, r.state.status.rawValue,
                r.state.held, r.state.nextAttemptMs, r.createdMs, r.updatedMs, r.eventMs, r.payload, r.body,
            ])
    }

    static func update(_ r: DeliveryRecord, _ db: Database) throws {
        let s = r.state
        try db.cachedStatement(
            sql: """
                UPDATE delivery SET status = ?, held = ?, attempts = ?, cycle_attempts = ?, next_attempt_ms = ?, last_status = ?,
                    last_error_json = ?, delivered_ms = ?, updated_ms = ?, body = ? WHERE id = ?
                """
        ).execute(arguments: [
            s.status.rawValue, s.held, s.attempts, s.cycleAttempts, s.nextAttemptMs, s.lastHTTPStatus, s.lastError.map { JSONWriter.string($0.json) },
            s.deliveredMs, r.updatedMs, r.body, r.id,
        ])
    }

    static func decode(_ row: Row) -> DeliveryRecord {
        let image: String = row["image_uuid"] ?? ""
        let err: String? = row["last_error_json"]
        let state = DeliveryState(
            status: DeliveryStatus(rawValue: row["status"]) ?? .failed, held: row["held"], attempts: row["attempts"],
            cycleAttempts: row["cycle_attempts"],
            nextAttemptMs: row["next_attempt_ms"], lastHTTPStatus: row["last_status"],
            lastError: err.flatMap { try? JSONParser.parse($0) }.map(AtelierError.init(json:)), deliveredMs: row["delivered_ms"])
        return DeliveryRecord(
            seq: row["seq"], id: row["id"], kind: DeliveryKind(rawValue: row["kind"]) ?? .webhook, taskUUID: row["task_uuid"], event: row["event"],
            imageUUID: image.isEmpty ? nil : image, resultIndex: row["result_index"], url: row["url"], hostKey: row["host_key"], state: state,
            createdMs: row["created_ms"], updatedMs: row["updated_ms"], eventMs: row["event_ms"], payload: row["payload"], body: row["body"])
    }

    func machine(_ r: DeliveryRecord) -> DeliveryStateMachine {
        DeliveryStateMachine(state: r.state, schedule: configuration.schedule(r.kind))
    }

    // MARK: The worker's operations

    /// At start: rows left `sending` by a crash go back to `pending`, due now (sent again, same id).
    public func recover(nowMs: Int64) async throws -> Int {
        try await pool.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM delivery WHERE status = 'sending'").map(Self.decode)
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
    struct Outcome: Sendable {
        var record: DeliveryRecord
        var result: AttemptResult
        var finishedMs: Int64
        var unitRandom: Double
    }

    /// What one step of the worker did.
    struct Step: Sendable {
        /// Rows whose outcome was recorded (and held webhooks released by them).
        var written: [DeliveryRecord] = []
        /// Rows claimed for attempts (now `sending`).
        var claimed: [DeliveryRecord] = []
        /// Rows may still be due for hosts with room (the candidate scan stopped early): look again at once.
        var moreDue = false
        /// The earliest future `next_attempt_ms` of a pending row, if any.
        var nextDueMs: Int64?
    }

    /// The worker's step, in ONE write transaction (one fsync): records finished attempts, then claims due rows,
    /// oldest due first, at most `room`, with at most `perHost` in flight per host (`inflight` counts those already
    /// running), then reads when the next row falls due.
    func step(
        outcomes: [Outcome], nowMs: Int64, room: Int, inflight: [String: Int], perHost: Int
    ) async throws -> Step {
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
                var sql = "SELECT seq, host_key FROM delivery WHERE status = 'pending' AND held = 0 AND next_attempt_ms <= ?"
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
                ).map(Self.decode)
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
            db, sql: "SELECT MIN(next_attempt_ms) FROM delivery WHERE status = 'pending' AND held = 0 AND next_attempt_ms > ?", arguments: [nowMs])
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
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM delivery WHERE task_uuid = ? ORDER BY seq", arguments: [task]).map(Self.decode)
        let uploads = rows.filter { $0.kind == .upload }
        var outcomes: [String: WebhookBody.UploadOutcome] = [:]
        for u in uploads where u.state.status.isFinal {
            if let id = u.imageUUID { outcomes[id] = WebhookBody.UploadOutcome(url: u.url, state: u.state) }
        }
        let allFinal = uploads.allSatisfy { $0.state.status.isFinal }
        var released: [DeliveryRecord] = []
        for var r in rows where r.kind == .webhook && r.state.held {
            let ready = r.event == WebhookEvent.result.rawValue ? r.imageUUID.map { outcomes[$0] != nil } ?? true : allFinal
            guard ready, let type = WebhookEvent(rawValue: r.event) else { continue }
            let data = (try? JSONParser.parse(r.payload ?? "null")) ?? .null
            r.body = WebhookBody.render(type, eventMs: r.eventMs, data: WebhookBody.withUploads(data, event: r.event, uploads: outcomes))
            var m = machine(r)
            _ = m.handle(.release(nowMs: nowMs))
            r.state = m.state
            r.updatedMs = nowMs
            try Self.update(r, db)
            released.append(r)
        }
        return released
    }

    // MARK: Queries and manual retry

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
            return (page.rows.map(Self.decode), page.next)
        }
    }

    /// The row with this id.
    public func get(_ id: String) async throws -> DeliveryRecord? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM delivery WHERE id = ?", arguments: [id]).map(Self.decode) }
    }

    /// Every row of these jobs, in insertion order.
    public func rows(forTasks tasks: [String]) async throws -> [DeliveryRecord] {
        guard !tasks.isEmpty else { return [] }
        return try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM delivery WHERE task_uuid IN (" + tasks.map { _ in "?" }.joined(separator: ",") + ") ORDER BY seq",
                arguments: StatementArguments(tasks)
            ).map(Self.decode)
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
    func tasksWithOpenDeliveries(limit: Int) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT task_uuid FROM delivery WHERE status IN ('pending', 'sending') GROUP BY task_uuid ORDER BY MAX(seq) DESC LIMIT ?",
                arguments: [limit])
        }
    }

    /// `delivery.retry`: the rows (one by id, or a job's failed and pending ones) due now in a fresh cycle. Returns
    /// the rows as they are afterwards, and whether anything changed.
    func retry(id: String?, taskUUID: String?, nowMs: Int64) async throws -> [DeliveryRecord] {
        try await pool.write { db in
            let rows: [DeliveryRecord]
            if let id {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM delivery WHERE id = ?", arguments: [id]).map(Self.decode)
            } else {
                rows = try Row.fetchAll(
                    db, sql: "SELECT * FROM delivery WHERE task_uuid = ? AND status IN ('failed', 'pending') ORDER BY seq",
                    arguments: [taskUUID ?? ""]
                ).map(Self.decode)
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

extension JobStore {
    /// The outbox schema. Registered in ``JobStore/migrator`` after the job tables.
    static func registerDeliveryMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v1-delivery") { db in
            try db.execute(
                sql: """
                    CREATE TABLE delivery (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        kind TEXT NOT NULL,
                        task_uuid TEXT NOT NULL,
                        event TEXT NOT NULL,
                        image_uuid TEXT NOT NULL DEFAULT '',
                        result_index INTEGER,
                        url TEXT NOT NULL,
                        host_key TEXT NOT NULL,
                        status TEXT NOT NULL,
                        held INTEGER NOT NULL DEFAULT 0,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        cycle_attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_ms INTEGER,
                        created_ms INTEGER NOT NULL,
                        updated_ms INTEGER NOT NULL,
                        event_ms INTEGER NOT NULL,
                        delivered_ms INTEGER,
                        last_status INTEGER,
                        last_error_json TEXT,
                        payload TEXT,
                        body TEXT,
                        UNIQUE (task_uuid, kind, event, image_uuid)
                    );
                    CREATE INDEX delivery_due ON delivery(status, held, next_attempt_ms);
                    CREATE INDEX delivery_task ON delivery(task_uuid);
                    """)
        }
    }
}
