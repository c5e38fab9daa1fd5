import AtelierCore
import Foundation
import GRDB
import Logging
import PostgresNIO

/// `atelier store migrate --from sqlite:… --to postgres://…`: copies a lone daemon's SQLite store (jobs, workflows,
/// the delivery outbox) into a cluster's PostgreSQL database, so a team that outgrew one machine keeps its history,
/// its idempotency (a taskUUID seen before is still the same job) and the messages it still owes.
///
/// - Everything is copied in ONE transaction: the target has all of it or none of it.
/// - Idempotent: a row already in the target with the same identity (a job's or workflow's id with the same request,
///   an outbox row's id with the same job and event) is left as it is (the target may be newer: its daemons may have
///   run it since), so running the command again copies nothing new and succeeds.
/// - Refuses a conflicting target before writing anything: the same taskUUID (or workflowUUID) with another request,
///   or an outbox id naming another message. Rows under other ids are no conflict (two lone daemons can be merged).
/// - Unfinished jobs arrive as they were (`queued`, or `running` without a lease): the cluster's daemons claim them;
///   a `running` one is taken over like a dead daemon's (resumed from its recorded handle, never paid twice). Outbox
///   rows left `sending` are sent again (same `webhook-id`).
/// - Budget counters: the current UTC day's and month's spend of every tag value of the copied jobs (what SQLite
///   rebuilds from the jobs at start) is added to the target's counters.
/// - The SQLite daemon must be stopped first (its jobs would otherwise run twice).
public struct StoreMigration: Sendable {
    /// What a migration did.
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        /// Jobs, workflows and outbox rows written now.
        public var jobsCopied = 0, workflowsCopied = 0, deliveriesCopied = 0
        /// Rows that were in the target already (same identity).
        public var jobsPresent = 0, workflowsPresent = 0, deliveriesPresent = 0
        /// Budget counters written.
        public var budgetCounters = 0

        /// One line per table.
        public var description: String {
            """
            jobs: \(jobsCopied) copied, \(jobsPresent) already there
            workflows: \(workflowsCopied) copied, \(workflowsPresent) already there
            deliveries: \(deliveriesCopied) copied, \(deliveriesPresent) already there
            budget counters: \(budgetCounters) updated
            """
        }
    }

    /// The source file.
    public let sqlitePath: String
    /// The target database.
    public let target: PostgresLocation
    let logger: Logger

    /// A migration from the SQLite file at `sqlitePath` to `target` (nil `logger`: the driver's messages are dropped;
    /// the command prints its own report).
    public init(sqlitePath: String, target: PostgresLocation, logger: Logger? = nil) {
        self.sqlitePath = sqlitePath
        self.target = target
        self.logger = logger ?? Logger(label: "atelier.store-migrate", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    /// Runs it. Errors name the redacted target, never its password.
    public func run(now: Timestamp = .now()) async throws -> Report {
        let source = try await readSource()
        return try await PostgresStore.withStore(target, maximumConnections: 2, callTimeout: .seconds(300), logger: logger) { store in
            try await copy(source, into: store, now: now)
        }
    }

    // MARK: Reading the source

    /// A job row as stored (the columns both stores share) and the job decoded from it.
    struct JobRow: Sendable {
        var columns: [String: String?]
        var numbers: [String: Int64?]
        var costUSD: Double?
        var job: Job
    }

    struct WorkflowRow: Sendable {
        var workflowUUID: String, state: String, requestJSON: String, workflowJSON: String, createdMs: Int64, updatedMs: Int64
    }

    struct Source: Sendable {
        var jobs: [JobRow]
        var workflows: [WorkflowRow]
        var deliveries: [DeliveryRecord]
    }

    static let jobTextColumns = [
        "task_uuid", "status", "request_json", "task_json", "route_json", "results_json", "error_json", "attempts_json", "provider", "model", "arm",
    ]
    static let jobNumberColumns = ["created_ms", "updated_ms", "started_ms", "finished_ms"]

    /// Every row of the three tables, in insertion order. The file must exist: opening a missing path would create
    /// an empty store and "migrate" nothing.
    func readSource() async throws -> Source {
        let path = sqlitePath
        let store: JobStore = try await BlockingWork.run {
            guard FileManager.default.fileExists(atPath: path) else {
                throw AtelierError(.notFound, "no SQLite store at \(path)", field: "--from")
            }
            return try JobStore(path: path, durability: .normal)
        }
        return try await store.database.read { db in
            var jobs: [JobRow] = []
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM job ORDER BY seq")
            while let row = try cursor.next() {
                var text: [String: String?] = [:]
                for c in Self.jobTextColumns { text[c] = row[c] as String? }
                var numbers: [String: Int64?] = [:]
                for c in Self.jobNumberColumns { numbers[c] = row[c] as Int64? }
                jobs.append(JobRow(columns: text, numbers: numbers, costUSD: row["cost_usd"], job: try JobStore.decode(row)))
            }
            let workflows = try Row.fetchAll(db, sql: "SELECT * FROM workflow ORDER BY seq").map { row in
                WorkflowRow(
                    workflowUUID: row["workflow_uuid"], state: row["state"], requestJSON: row["request_json"], workflowJSON: row["workflow_json"],
                    createdMs: row["created_ms"], updatedMs: row["updated_ms"])
            }
            let deliveries = try Row.fetchAll(db, sql: "SELECT * FROM delivery ORDER BY seq").map { try DeliveryStore.decode($0) }
            return Source(jobs: jobs, workflows: workflows, deliveries: deliveries)
        }
    }

    // MARK: Writing the target

    func copy(_ source: Source, into store: PostgresStore, now: Timestamp) async throws -> Report {
        try await store.transaction { connection in
            // One migration at a time (a second one waits, then finds everything there).
            try await store.execute("SELECT pg_advisory_xact_lock(\(PostgresStore.migrationLockKey + 1))", on: connection)
            try await Self.refuseConflicts(source, store: store, on: connection)
            var report = Report()
            var charges: [BudgetCounter: Double] = [:]
            for r in source.jobs {
                let c = r.columns
                let n = r.numbers
                let inserted = try await store.rows(
                    """
                    INSERT INTO job (task_uuid, status, request_json, task_json, created_ms, updated_ms, started_ms, finished_ms, route_json,
                        results_json, cost_usd, error_json, attempts_json, provider, model, arm)
                    VALUES (\(c["task_uuid"] ?? nil), \(c["status"] ?? nil), \(c["request_json"] ?? nil), \(c["task_json"] ?? nil),
                        \(n["created_ms"] ?? nil), \(n["updated_ms"] ?? nil), \(n["started_ms"] ?? nil), \(n["finished_ms"] ?? nil),
                        \(c["route_json"] ?? nil), \(c["results_json"] ?? nil), \(r.costUSD), \(c["error_json"] ?? nil), \(c["attempts_json"] ?? nil),
                        \(c["provider"] ?? nil), \(c["model"] ?? nil), \(c["arm"] ?? nil))
                    ON CONFLICT (task_uuid) DO NOTHING
                    RETURNING seq
                    """, on: connection
                ) { _ in true }
                guard !inserted.isEmpty else {
                    report.jobsPresent += 1
                    continue
                }
                report.jobsCopied += 1
                for (counter, amount) in Self.charges(of: r.job, now: now) { charges[counter, default: 0] += amount }
            }
            for w in source.workflows {
                let inserted = try await store.rows(
                    """
                    INSERT INTO workflow (workflow_uuid, state, request_json, workflow_json, created_ms, updated_ms)
                    VALUES (\(w.workflowUUID), \(w.state), \(w.requestJSON), \(w.workflowJSON), \(w.createdMs), \(w.updatedMs))
                    ON CONFLICT (workflow_uuid) DO NOTHING
                    RETURNING seq
                    """, on: connection
                ) { _ in true }
                if inserted.isEmpty { report.workflowsPresent += 1 } else { report.workflowsCopied += 1 }
            }
            for d in source.deliveries {
                let s = d.state
                let error = s.lastError.map { JSONWriter.string($0.json) }
                let inserted = try await store.rows(
                    """
                    INSERT INTO delivery (id, kind, task_uuid, event, image_uuid, result_index, url, host_key, status, held, attempts,
                        cycle_attempts, next_attempt_ms, created_ms, updated_ms, event_ms, delivered_ms, last_status, last_error_json, payload, body)
                    VALUES (\(d.id), \(d.kind.rawValue), \(d.taskUUID), \(d.event), \(d.imageUUID ?? ""), \(d.resultIndex), \(d.url), \(d.hostKey),
                        \(s.status.rawValue), \(s.held), \(s.attempts), \(s.cycleAttempts), \(s.nextAttemptMs), \(d.createdMs), \(d.updatedMs),
                        \(d.eventMs), \(s.deliveredMs), \(s.lastHTTPStatus), \(error), \(d.payload), \(d.body))
                    ON CONFLICT DO NOTHING
                    RETURNING seq
                    """, on: connection
                ) { _ in true }
                if inserted.isEmpty { report.deliveriesPresent += 1 } else { report.deliveriesCopied += 1 }
            }
            for counter in charges.keys.sorted() {
                try await store.execute(
                    """
                    INSERT INTO budget_spend (tag, value, period, period_number, spent_usd)
                    VALUES (\(counter.tag), \(counter.value), \(counter.period.rawValue), \(counter.periodNumber), \(charges[counter] ?? 0))
                    ON CONFLICT (tag, value, period, period_number) DO UPDATE SET spent_usd = budget_spend.spent_usd + EXCLUDED.spent_usd
                    """, on: connection)
                report.budgetCounters += 1
            }
            return report
        }
    }

    /// What a copied job counts for in the current UTC day's and month's counters of each of its tags (as
    /// ``BudgetLedger/rebuild(store:budgets:now:)`` counts it in SQLite).
    static func charges(of job: Job, now: Timestamp) -> [BudgetCounter: Double] {
        let amount = BudgetLedger.charge(of: job)
        guard amount != 0, !job.task.tags.isEmpty else { return [:] }
        var out: [BudgetCounter: Double] = [:]
        let today = BudgetLedger.dayNumber(now)
        let month = BudgetLedger.monthNumber(now)
        for (tag, value) in job.task.tags {
            if BudgetLedger.dayNumber(job.createdAt) == today {
                out[BudgetCounter(tag: tag, value: value, period: .daily, periodNumber: today)] = amount
            }
            if BudgetLedger.monthNumber(job.createdAt) == month {
                out[BudgetCounter(tag: tag, value: value, period: .monthly, periodNumber: month)] = amount
            }
        }
        return out
    }

    /// Throws before anything is written when the target holds another request under one of the source's ids.
    static func refuseConflicts(_ source: Source, store: PostgresStore, on connection: PostgresConnection) async throws {
        var problems: [String] = []
        let requests = Dictionary(source.jobs.map { ($0.columns["task_uuid"].flatMap { $0 } ?? "", $0.columns["request_json"].flatMap { $0 } ?? "") })
        {
            a, _ in a
        }
        for chunk in Array(requests.keys).chunked(1000) {
            let stored = try await store.rows("SELECT task_uuid, request_json FROM job WHERE task_uuid = ANY(\(chunk))", on: connection) {
                (try $0.get("task_uuid", as: String.self), try $0.get("request_json", as: String.self))
            }
            for (id, request) in stored where requests[id] != request { problems.append("job \(id) (another task under the same taskUUID)") }
        }
        let workflows = Dictionary(source.workflows.map { ($0.workflowUUID, $0.requestJSON) }) { a, _ in a }
        for chunk in Array(workflows.keys).chunked(1000) {
            let stored = try await store.rows(
                "SELECT workflow_uuid, request_json FROM workflow WHERE workflow_uuid = ANY(\(chunk))", on: connection
            ) { (try $0.get("workflow_uuid", as: String.self), try $0.get("request_json", as: String.self)) }
            for (id, request) in stored where workflows[id] != request {
                problems.append("workflow \(id) (another request under the same workflowUUID)")
            }
        }
        let messages = Dictionary(source.deliveries.map { ($0.id, "\($0.taskUUID)|\($0.kind.rawValue)|\($0.event)|\($0.imageUUID ?? "")") }) { a, _ in
            a
        }
        for chunk in Array(messages.keys).chunked(1000) {
            let stored = try await store.rows(
                "SELECT id, task_uuid || '|' || kind || '|' || event || '|' || image_uuid AS identity FROM delivery WHERE id = ANY(\(chunk))",
                on: connection
            ) { (try $0.get("id", as: String.self), try $0.get("identity", as: String.self)) }
            for (id, identity) in stored where messages[id] != identity { problems.append("delivery \(id) (another message under the same id)") }
        }
        guard problems.isEmpty else {
            let shown = problems.sorted().prefix(5).joined(separator: "; ")
            let more = problems.count > 5 ? " and \(problems.count - 5) more" : ""
            throw AtelierError(
                .conflictTaskUUID,
                "the target \(store.location) already holds different data under the source's ids: \(shown)\(more). Nothing was copied; migrate into an empty database or one this source was migrated to before",
                field: "--to")
        }
    }
}

extension Array {
    /// The array in consecutive slices of at most `size` elements.
    fileprivate func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
