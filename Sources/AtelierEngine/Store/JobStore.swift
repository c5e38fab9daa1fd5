import AtelierCore
import Foundation
import GRDB

/// How hard a commit tries to reach the disk.
public enum Durability: String, Sendable, CaseIterable {
    /// `synchronous = FULL`: a committed job survives a power loss (fsync on every commit; group commit amortises it).
    case full
    /// `synchronous = NORMAL`: a committed job survives a crash of the daemon, not of the machine.
    case normal
}

/// A change of a job's state, as seen by write hooks.
public struct StateChange: Sendable {
    /// What happened.
    public var event: JobEventKind
    /// The job after the change.
    public var job: Job
    /// The results stored by this change (for `succeeded`).
    public var newResults: [JobResult]

    public init(_ event: JobEventKind, job: Job, newResults: [JobResult] = []) {
        self.event = event
        self.job = job
        self.newResults = newResults
    }
}

/// Extra writes that must commit in the same transaction as a job's state change (e.g. the delivery outbox), so
/// that a crash can never separate the change from its consequences.
public protocol StoreWriteHook: Sendable {
    /// Called inside the write transaction; throwing rolls the whole change back.
    func write(_ change: StateChange, in db: Database) throws
}

/// The outcome of inserting one submitted job.
public enum InsertOutcome: Sendable {
    /// Stored now.
    case inserted(Job)
    /// The same taskUUID with the same task was already stored: the existing job, no new work.
    case existing(Job)
    /// The taskUUID is taken by a different task.
    case conflict
}

/// The durable job store: SQLite through GRDB, WAL mode.
///
/// Invariants:
/// - A job is visible to readers only after the transaction that inserted it committed; `job.submit` answers only
///   after ``insert(_:)`` returns, so an acknowledged job survives `kill -9`.
/// - `request_json` is the canonical task as submitted (for idempotency); `task_json` is the task as run (with
///   the chosen seed), which is what callers see.
/// - Every state change writes the whole row in one transaction, so a reader never sees a half-updated job.
public final class JobStore: Sendable {
    private let pool: StoreDatabase
    /// The database file.
    public let path: String
    private let hooks: [any StoreWriteHook]

    /// Opens (creating and migrating as needed) the store at `path`.
    ///
    /// Opening is synchronous file work: call it before serving requests (daemon start), never on a hot path.
    /// - Parameters:
    ///   - hooks: writes that join every state change's transaction.
    ///   - faultInjection: makes commits fail on purpose (tests only).
    ///   - commitSpacing: how transactions are spaced under load (``CommitSpacing``; none by default).
    public init(
        path: String, durability: Durability = .full, hooks: [any StoreWriteHook] = [], faultInjection: StoreFaultInjection? = nil,
        commitSpacing: CommitSpacing = .none
    ) throws {
        self.hooks = hooks
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.label = "atelier"
        let pool = try DatabasePool(path: path, configuration: config)
        self.path = path
        // GRDB sets synchronous=NORMAL for WAL pools; FULL must be set on the writer after opening.
        if durability == .full {
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        }
        try Self.migrator.migrate(pool)
        self.pool = StoreDatabase(
            pool: pool, directory: URL(fileURLWithPath: path).deletingLastPathComponent().path, condition: StoreCondition(),
            injection: faultInjection, spacing: commitSpacing)
    }

    /// The async-only database access, for other engine stores that share the database file (outbox, workflows).
    public var database: StoreDatabase { pool }

    /// Whether the store currently commits (health).
    public var condition: StoreCondition { pool.condition }

    /// All schema migrations, in order. Features register theirs in their own files; never reorder or edit a
    /// shipped migration — add a new one.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        registerJobMigrations(&m)
        registerWorkflowMigrations(&m)
        registerDeliveryMigrations(&m)
        registerProbeMigrations(&m)
        return m
    }

    static func registerJobMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v1-jobs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE job (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        task_uuid TEXT NOT NULL UNIQUE,
                        status TEXT NOT NULL,
                        request_json TEXT NOT NULL,
                        task_json TEXT NOT NULL,
                        created_ms INTEGER NOT NULL,
                        updated_ms INTEGER NOT NULL,
                        started_ms INTEGER,
                        finished_ms INTEGER,
                        route_json TEXT,
                        results_json TEXT NOT NULL DEFAULT '[]',
                        cost_usd REAL,
                        error_json TEXT,
                        attempts_json TEXT NOT NULL DEFAULT '[]',
                        provider TEXT,
                        model TEXT,
                        arm TEXT
                    );
                    CREATE INDEX job_status_seq ON job(status, seq);
                    """)
        }
    }

    /// The one-row table ``probeWrite()`` rewrites.
    static func registerProbeMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v2-store-probe") { db in
            try db.execute(sql: "CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked_ms INTEGER NOT NULL)")
        }
    }

    // MARK: Writing

    /// Commits a tiny real write (one row rewritten, so the WAL must grow by a frame): whether the store accepts
    /// writes now. Health calls it while the store is marked failing, so the mark clears once space is back even
    /// when nothing else writes. Throws the store's error when it still cannot commit.
    public func probeWrite() async throws {
        let now = Timestamp.now().milliseconds
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO store_probe (id, checked_ms) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET checked_ms = excluded.checked_ms",
                arguments: [now])
        }
    }

    /// Inserts a batch of new jobs in ONE transaction (group commit), resolving idempotent resubmissions.
    /// The outcomes are in the order of `jobs`.
    public func insert(_ jobs: [Job]) async throws -> [InsertOutcome] {
        try await pool.write { db in
            // Prepared once per connection: compiling SQL (and GRDB's authorizer pass) dominated the submit path.
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO job (task_uuid, status, request_json, task_json, created_ms, updated_ms, route_json, provider, model, arm)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(task_uuid) DO NOTHING
                    """)
            var outcomes: [InsertOutcome] = []
            outcomes.reserveCapacity(jobs.count)
            for job in jobs {
                let request = JSONWriter.string(job.task.json)
                try insert.execute(arguments: [
                    job.taskUUID, job.status.rawValue, request, request, job.createdAt.milliseconds, job.updatedAt.milliseconds,
                    job.route.map { JSONWriter.string($0.json) }, job.route?.provider, job.route?.model, job.route?.arm,
                ])
                if db.changesCount == 1 {
                    outcomes.append(.inserted(job))
                    continue
                }
                guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM job WHERE task_uuid = ?"), arguments: [job.taskUUID]) else {
                    throw AtelierError(.storeFailure, "insert of \(job.taskUUID) neither inserted nor found")
                }
                let existing: String = row["request_json"]
                outcomes.append(existing == request ? .existing(try Self.decode(row)) : .conflict)
            }
            return outcomes
        }
    }

    /// Writes the whole state of `job` (status, task as run, route, results, attempts, error), and — in the same
    /// transaction — whatever the write hooks add for `change`.
    public func update(_ job: Job, change: StateChange? = nil) async throws {
        let hooks = self.hooks
        try await pool.write { db in
            try Self.write(job, db)
            if let change { for h in hooks { try h.write(change, in: db) } }
        }
    }

    static func write(_ job: Job, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                UPDATE job SET status = ?, task_json = ?, updated_ms = ?, started_ms = ?, finished_ms = ?, route_json = ?,
                               results_json = ?, cost_usd = ?, error_json = ?, attempts_json = ?, provider = ?, model = ?, arm = ?
                WHERE task_uuid = ?
                """
        ).execute(
            arguments: [
                job.status.rawValue, JSONWriter.string(job.task.json), job.updatedAt.milliseconds, job.startedAt?.milliseconds,
                job.finishedAt?.milliseconds, job.route.map { JSONWriter.string($0.json) },
                JSONWriter.string(.array(job.results.map(\.json))), job.costUSD, job.error.map { JSONWriter.string($0.json) },
                JSONWriter.string(.array(job.attempts.map(\.storageJSON))), job.route?.provider, job.route?.model, job.route?.arm,
                job.taskUUID,
            ])
        if db.changesCount != 1 { throw AtelierError(.storeFailure, "job \(job.taskUUID) vanished from the store") }
    }

    // MARK: Reading

    /// The job with this id, or nil.
    public func job(_ taskUUID: String) async throws -> Job? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM job WHERE task_uuid = ?", arguments: [taskUUID]).map(Self.decode)
        }
    }

    /// The job and the canonical request it was submitted with, or nil.
    public func jobWithRequest(_ taskUUID: String) async throws -> (job: Job, request: String)? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM job WHERE task_uuid = ?", arguments: [taskUUID]) else { return nil }
            return (try Self.decode(row), row["request_json"])
        }
    }

    /// One page of jobs, newest first, optionally filtered by status. The cursor is opaque (the last row's sequence).
    public func list(status: JobStatus?, limit: Int, before cursor: Int64?) async throws -> (jobs: [Job], next: Int64?) {
        try await pool.read { db in
            let filters: [KeysetPage.Filter] = status.map { [("status = ?", [$0.rawValue])] } ?? []
            let page = try KeysetPage.fetch(db, table: "job", filters: filters, limit: limit, before: cursor)
            return (try page.rows.map(Self.decode), page.next)
        }
    }

    /// Every job that is not finished, oldest first (recovery at start).
    public func unfinishedJobs() async throws -> [Job] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM job WHERE status IN ('queued', 'running') ORDER BY seq").map(Self.decode)
        }
    }

    /// Job counts by status.
    public func counts() async throws -> [JobStatus: Int] {
        try await pool.read { db in
            var out: [JobStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM job GROUP BY status") {
                if let s = JobStatus(rawValue: row["status"]) { out[s] = row["n"] }
            }
            return out
        }
    }

    /// Counts of jobs in these statuses (uses the status index; cheap enough for every `daemon.health`).
    public func counts(of statuses: [JobStatus]) async throws -> [JobStatus: Int] {
        guard !statuses.isEmpty else { return [:] }
        let names = statuses.map(\.rawValue)
        return try await pool.read { db in
            var out: [JobStatus: Int] = [:]
            let sql = "SELECT status, COUNT(*) AS n FROM job WHERE status IN (" + names.map { _ in "?" }.joined(separator: ",") + ") GROUP BY status"
            for row in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(names)) {
                if let s = JobStatus(rawValue: row["status"]) { out[s] = row["n"] }
            }
            return out
        }
    }

    /// Runs SQLite's integrity check; returns "ok" when the file is sound.
    public func integrityCheck() async throws -> String {
        try await pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "?" }
    }

    static func decode(_ row: Row) throws -> Job {
        func json(_ col: String) throws -> JSONValue? {
            guard let s: String = row[col] else { return nil }
            do { return try JSONParser.parse(s) } catch { throw AtelierError(.storeFailure, "corrupt \(col) in store: \(error)") }
        }
        guard let taskJSON = try json("task_json") else { throw AtelierError(.storeFailure, "job without task") }
        let task = try ImageTask(json: taskJSON)
        let status = try StoredEnum.decode(JobStatus.self, row["status"], table: "job", column: "status")
        var job = Job(
            task: task, status: status, createdAt: Timestamp(milliseconds: row["created_ms"]),
            route: try json("route_json").map { v throws(AtelierError) in try RouteSummary(json: v) })
        job.updatedAt = Timestamp(milliseconds: row["updated_ms"])
        job.startedAt = (row["started_ms"] as Int64?).map(Timestamp.init(milliseconds:))
        job.finishedAt = (row["finished_ms"] as Int64?).map(Timestamp.init(milliseconds:))
        var results: [JobResult] = []
        for v in try json("results_json")?.arrayValue ?? [] { results.append(try JobResult(json: v)) }
        job.results = results
        job.costUSD = row["cost_usd"]
        job.error = try json("error_json").map(AtelierError.init(json:))
        var attempts: [Attempt] = []
        for v in try json("attempts_json")?.arrayValue ?? [] { attempts.append(try Attempt(storageJSON: v)) }
        job.attempts = attempts
        return job
    }
}
