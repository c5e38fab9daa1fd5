import AtelierCore
import PostgresNIO

extension PostgresStore {
    // MARK: Inserting

    /// See ``EngineStore/insert(_:)``. One transaction for the whole batch (one commit for many acknowledged jobs).
    ///
    /// Lock order, the same in every daemon so that concurrent batches cannot deadlock: first the budget counters
    /// the batch touches (sorted), then the jobs in taskUUID order. Two daemons inserting the same taskUUID at once:
    /// the second insert waits on the first's unique-index entry; when the first commits it finds the row
    /// (`existing` or `conflict`), when it rolls back it inserts.
    public func insert(_ submissions: [JobSubmission]) async throws -> [SubmissionOutcome] {
        guard !submissions.isEmpty else { return [] }
        return try await transaction { [self] connection in
            let counters = Set(submissions.flatMap { $0.hold.map { Array($0.caps.keys) } ?? [] }).sorted()
            var spent = try await lockCounters(counters, on: connection)
            var changed = Set<BudgetCounter>()
            var outcomes = [SubmissionOutcome?](repeating: nil, count: submissions.count)
            let order = submissions.indices.sorted { submissions[$0].job.taskUUID < submissions[$1].job.taskUUID }
            for i in order {
                let job = submissions[i].job
                let request = JSONWriter.string(job.task.json)
                let routeJSON = job.route.map { JSONWriter.string($0.json) }
                let inserted = try await rows(
                    """
                    INSERT INTO job (task_uuid, status, request_json, task_json, created_ms, updated_ms, route_json, provider, model, arm)
                    VALUES (\(job.taskUUID), \(job.status.rawValue), \(request), \(request), \(job.createdAt.milliseconds),
                            \(job.updatedAt.milliseconds), \(routeJSON), \(job.route?.provider), \(job.route?.model), \(job.route?.arm))
                    ON CONFLICT (task_uuid) DO NOTHING
                    RETURNING seq
                    """, on: connection
                ) { try $0.get("seq", as: Int64.self) }
                guard let seq = inserted.first else {
                    let existing = try await rows("SELECT * FROM job WHERE task_uuid = \(job.taskUUID)", on: connection) { row in
                        (try row.get("request_json", as: String.self), try Self.decodeJob(row))
                    }
                    guard let (stored, storedJob) = existing.first else {
                        throw AtelierError(.storeFailure, "insert of \(job.taskUUID) neither inserted nor found")
                    }
                    outcomes[i] = stored == request ? .existing(storedJob) : .conflict
                    continue
                }
                if let hold = submissions[i].hold, let refusal = Self.refusal(hold, spent: spent) {
                    try await execute("DELETE FROM job WHERE seq = \(seq)", on: connection)
                    outcomes[i] = .overBudget(refusal)
                    continue
                }
                if let hold = submissions[i].hold {
                    for counter in hold.caps.keys {
                        spent[counter, default: 0] += hold.amountUSD
                        changed.insert(counter)
                    }
                }
                outcomes[i] = .inserted(job)
                // Claimers on every daemon wake for the new job once (and only if) the insert commits.
                let notice = Self.noticePayload(
                    JobNotice(
                        taskUUID: job.taskUUID, status: job.status, event: .queued, daemon: submissions[i].daemon, provider: job.route?.provider))
                try await execute("SELECT pg_notify(\(Self.jobChannel), \(notice))", on: connection)
            }
            for counter in changed.sorted() { try await writeCounter(counter, spent[counter] ?? 0, on: connection) }
            return outcomes.map { $0! }
        }
    }

    /// See ``EngineStore/job(_:)``.
    public func job(_ taskUUID: String) async throws -> Job? {
        try await rows("SELECT * FROM job WHERE task_uuid = \(taskUUID)") { try Self.decodeJob($0) }.first
    }

    /// The job and the canonical request it was submitted with (idempotent resubmission), or nil.
    public func jobWithRequest(_ taskUUID: String) async throws -> (job: Job, request: String)? {
        try await rows("SELECT * FROM job WHERE task_uuid = \(taskUUID)") { row in
            (job: try Self.decodeJob(row), request: try row.get("request_json", as: String.self))
        }.first
    }

    /// One page of jobs, newest first, optionally filtered by status (keyset on `seq`, as the SQLite store).
    public func list(status: JobStatus?, limit: Int, before cursor: Int64?) async throws -> (jobs: [Job], next: Int64?) {
        let page = max(1, limit)
        let fetched = try await rows(
            """
            SELECT * FROM job
            WHERE (\(status?.rawValue)::TEXT IS NULL OR status = \(status?.rawValue)) AND (\(cursor)::BIGINT IS NULL OR seq < \(cursor))
            ORDER BY seq DESC LIMIT \(page + 1)
            """
        ) { row in (seq: try row.get("seq", as: Int64.self), job: try Self.decodeJob(row)) }
        let kept = Array(fetched.prefix(page))
        return (kept.map(\.job), fetched.count > page ? kept.last?.seq : nil)
    }

    /// Counts of jobs in these statuses.
    public func counts(of statuses: [JobStatus]) async throws -> [JobStatus: Int] {
        guard !statuses.isEmpty else { return [:] }
        let pairs = try await rows(
            "SELECT status, count(*) AS n FROM job WHERE status = ANY(\(statuses.map(\.rawValue))) GROUP BY status"
        ) { row in (try row.get("status", as: String.self), try row.get("n", as: Int.self)) }
        var out: [JobStatus: Int] = [:]
        for (status, n) in pairs { if let s = JobStatus(rawValue: status) { out[s] = n } }
        return out
    }

    /// Rewrites the one-row probe table: whether the server accepts writes now (health, while the store is failing).
    public func probeWrite() async throws {
        try await execute(
            """
            INSERT INTO store_probe (id, checked_ms) VALUES (1, \(Timestamp.now().milliseconds))
            ON CONFLICT (id) DO UPDATE SET checked_ms = EXCLUDED.checked_ms
            """)
    }

    // MARK: Cancel requests

    /// Asks for `taskUUID` to be cancelled wherever it runs: marks the job (a daemon that claims it later finds the
    /// mark) and announces it to every daemon (its holder stops it). Returns the holder while its lease runs,
    /// nil when nobody holds the job; throws nothing when the job is finished or unknown (the caller reads it).
    @discardableResult
    public func requestCancel(_ taskUUID: String) async throws -> String? {
        try await transaction { [self] connection in
            let holders = try await rows(
                """
                UPDATE job SET cancel_requested = true
                WHERE task_uuid = \(taskUUID) AND status IN ('queued', 'running')
                RETURNING status, CASE WHEN lease_expires > clock_timestamp() THEN lease_owner END AS holder
                """, on: connection
            ) { (status: try $0.get("status", as: String.self), holder: try $0.get("holder", as: String?.self)) }
            guard let row = holders.first else { return nil }
            var notice = JobNotice(taskUUID: taskUUID, status: JobStatus(rawValue: row.status) ?? .queued, event: nil, daemon: nil)
            notice.cancelRequested = true
            try await execute("SELECT pg_notify(\(Self.jobChannel), \(Self.noticePayload(notice)))", on: connection)
            return row.holder
        }
    }

    /// Of `taskUUIDs`, those whose cancellation was asked for.
    public func cancelRequested(_ taskUUIDs: [String]) async throws -> Set<String> {
        guard !taskUUIDs.isEmpty else { return [] }
        return Set(
            try await rows("SELECT task_uuid FROM job WHERE task_uuid = ANY(\(taskUUIDs)) AND cancel_requested") {
                try $0.get("task_uuid", as: String.self)
            })
    }

    /// Every job that is not finished, oldest first.
    public func unfinishedJobs() async throws -> [Job] {
        try await rows("SELECT * FROM job WHERE status IN ('queued', 'running') ORDER BY seq") { try Self.decodeJob($0) }
    }

    // MARK: The queue

    /// See ``EngineStore/claimJobs(owner:limit:providers:leaseSeconds:)``.
    ///
    /// `SELECT … FOR UPDATE SKIP LOCKED` picks rows no other claimer is locking; a row another claimer took and
    /// committed meanwhile is re-checked against its newest version (READ COMMITTED), whose lease now runs, so it
    /// is dropped. Each claim increases the row's `lease_token`.
    public func claimJobs(owner: String, limit: Int, providers: [String]?, leaseSeconds: Double) async throws -> [ClaimedJob] {
        try await claim(owner: owner, limit: limit, providers: providers, leaseSeconds: leaseSeconds, excluding: [], on: nil)
    }

    /// See ``EngineStore/claimJobs(owner:provider:clusterLimit:limit:leaseSeconds:excluding:)``. Claimers of one
    /// provider are serialised by a transaction-scoped advisory lock on the provider's name, so the count of live
    /// leases they read cannot change under them: the cluster never holds more than `clusterLimit` of its jobs at once.
    public func claimJobs(
        owner: String, provider: String, clusterLimit: Int, limit: Int, leaseSeconds: Double, excluding: [String] = []
    ) async throws -> [ClaimedJob] {
        guard limit > 0, clusterLimit > 0 else { return [] }
        // Without the lock first: when the cluster already holds the limit (the usual answer while a provider is
        // busy), nothing is claimed and no claimer waits on the others. A slot freed after this read announces
        // itself (the finished job's notice wakes the claimers again).
        guard try await liveLeases(provider: provider, on: nil) < clusterLimit else { return [] }
        return try await transaction { [self] connection in
            try await execute("SELECT pg_advisory_xact_lock(hashtextextended(\("atelier-provider:" + provider), 0))", on: connection)
            let held = try await liveLeases(provider: provider, on: connection)
            let room = min(limit, clusterLimit - held)
            guard room > 0 else { return [] }
            return try await claim(
                owner: owner, limit: room, providers: [provider], leaseSeconds: leaseSeconds, excluding: excluding, on: connection)
        }
    }

    /// How many of `provider`'s unfinished jobs are held under a lease that still runs.
    private func liveLeases(provider: String, on connection: PostgresConnection?) async throws -> Int {
        try await rows(
            """
            SELECT count(*) AS n FROM job
            WHERE provider = \(provider) AND status IN ('queued', 'running') AND lease_expires > clock_timestamp()
            """, on: connection
        ) { try $0.get("n", as: Int.self) }.first ?? 0
    }

    /// The claim statement (on `connection` inside a caller's transaction, or as its own statement).
    private func claim(
        owner: String, limit: Int, providers: [String]?, leaseSeconds: Double, excluding: [String], on connection: PostgresConnection?
    ) async throws -> [ClaimedJob] {
        guard limit > 0 else { return [] }
        if let providers, providers.isEmpty { return [] }
        var query: PostgresQuery = """
            WITH candidate AS (
                SELECT seq FROM job
                WHERE status IN ('queued', 'running') AND (lease_expires IS NULL OR lease_expires < clock_timestamp())
            """
        if let providers {
            query.sql += " AND provider = ANY($\(query.binds.count + 1))"
            query.binds.append(providers)
        }
        if !excluding.isEmpty {
            query.sql += " AND NOT (task_uuid = ANY($\(query.binds.count + 1)))"
            query.binds.append(excluding)
        }
        query.sql += """
                ORDER BY seq LIMIT \(limit) FOR UPDATE SKIP LOCKED
            )
            UPDATE job SET lease_owner = $\(query.binds.count + 1), lease_token = job.lease_token + 1,
                           lease_expires = clock_timestamp() + make_interval(secs => $\(query.binds.count + 2))
            FROM candidate WHERE job.seq = candidate.seq
            RETURNING job.*, (extract(epoch FROM job.lease_expires) * 1000)::BIGINT AS lease_expires_ms
            """
        query.binds.append(owner)
        query.binds.append(leaseSeconds)
        let claimed = try await rows(query, on: connection) { row in
            (
                seq: try row.get("seq", as: Int64.self),
                claim: ClaimedJob(
                    job: try Self.decodeJob(row),
                    lease: StoreLease(
                        owner: owner, token: try row.get("lease_token"), expiresAt: Timestamp(milliseconds: try row.get("lease_expires_ms"))),
                    takenOver: try row.get("status", as: String.self) == JobStatus.running.rawValue,
                    cancelRequested: try row.get("cancel_requested", as: Bool.self))
            )
        }
        return claimed.sorted { $0.seq < $1.seq }.map(\.claim)
    }

    /// See ``EngineStore/renewLeases(owner:taskUUIDs:leaseSeconds:)``.
    public func renewLeases(owner: String, taskUUIDs: [String], leaseSeconds: Double) async throws -> [String] {
        guard !taskUUIDs.isEmpty else { return [] }
        return try await rows(
            """
            UPDATE job SET lease_expires = clock_timestamp() + make_interval(secs => \(leaseSeconds))
            WHERE lease_owner = \(owner) AND status IN ('queued', 'running') AND task_uuid = ANY(\(taskUUIDs))
            RETURNING task_uuid
            """
        ) { try $0.get("task_uuid", as: String.self) }
    }

    /// Gives a claimed job back without changing it (the daemon stops before starting it): it is claimable at once.
    /// False when the lease was no longer the job's.
    @discardableResult
    public func releaseJob(_ taskUUID: String, lease: StoreLease) async throws -> Bool {
        try await !rows(
            """
            UPDATE job SET lease_owner = NULL, lease_expires = NULL
            WHERE task_uuid = \(taskUUID) AND lease_owner = \(lease.owner) AND lease_token = \(lease.token)
            RETURNING seq
            """
        ) { _ in () }.isEmpty
    }

    // MARK: State changes

    /// See ``EngineStore/commit(_:change:lease:deliveries:)``. The notice is sent with `pg_notify` inside the
    /// transaction, so listeners hear of the change exactly when (and only if) it commits. Without a lease the job
    /// must also be unfinished (else ``StoreLeaseLost``).
    public func commit(_ job: Job, change: JobEventKind?, lease: StoreLease?, deliveries: [DeliveryRecord]) async throws {
        // A finished job, or one given back to the queue by a stop (`interrupted`), is released; a job queued again
        // by its holder (recovery of a taken-over attempt) keeps its lease.
        let releases = job.status.isTerminal || (job.status == .queued && change == .interrupted)
        let task = JSONWriter.string(job.task.json)
        let route = job.route.map { JSONWriter.string($0.json) }
        let results = JSONWriter.string(.array(job.results.map(\.json)))
        let error = job.error.map { JSONWriter.string($0.json) }
        let attempts = JSONWriter.string(.array(job.attempts.map(\.storageJSON)))
        let notice = Self.noticePayload(
            JobNotice(taskUUID: job.taskUUID, status: job.status, event: change, daemon: lease?.owner, provider: job.route?.provider))
        try await transaction { [self] connection in
            var query: PostgresQuery = """
                UPDATE job SET status = \(job.status.rawValue), task_json = \(task), updated_ms = \(job.updatedAt.milliseconds),
                    started_ms = \(job.startedAt?.milliseconds), finished_ms = \(job.finishedAt?.milliseconds), route_json = \(route),
                    results_json = \(results), cost_usd = \(job.costUSD), error_json = \(error), attempts_json = \(attempts),
                    provider = \(job.route?.provider), model = \(job.route?.model), arm = \(job.route?.arm),
                    lease_owner = CASE WHEN \(releases) THEN NULL ELSE lease_owner END,
                    lease_expires = CASE WHEN \(releases) THEN NULL ELSE lease_expires END
                WHERE task_uuid = \(job.taskUUID)
                """
            if let lease {
                query.sql += " AND lease_owner = $\(query.binds.count + 1) AND lease_token = $\(query.binds.count + 2)"
                query.binds.append(lease.owner)
                query.binds.append(lease.token)
            } else {
                // Nobody may hold it, and a finished job stays finished (a daemon acting on a stale copy must not
                // overwrite another daemon's final state).
                query.sql += " AND (lease_owner IS NULL OR lease_expires IS NULL OR lease_expires < clock_timestamp())"
                query.sql += " AND status IN ('queued', 'running')"
            }
            query.sql += " RETURNING seq"
            let updated: [Bool] = try await rows(query, on: connection) { _ in true }
            if updated.isEmpty {
                let exists = try await !rows("SELECT 1 AS one FROM job WHERE task_uuid = \(job.taskUUID)", on: connection) { _ in () }.isEmpty
                if !exists { throw AtelierError(.storeFailure, "job \(job.taskUUID) vanished from the store") }
                throw StoreLeaseLost(id: job.taskUUID)
            }
            for record in deliveries { try await insertDelivery(record, on: connection) }
            try await execute("SELECT pg_notify(\(Self.jobChannel), \(notice))", on: connection)
        }
    }

    // MARK: Decoding

    /// A job from a `job` row. An unknown status or unreadable JSON is a store error, never a silent default.
    static func decodeJob(_ row: PostgresRandomAccessRow) throws -> Job {
        func json(_ column: String) throws -> JSONValue? {
            guard let text = try row.get(column, as: String?.self) else { return nil }
            do { return try JSONParser.parse(text) } catch { throw AtelierError(.storeFailure, "corrupt \(column) in store: \(error)") }
        }
        guard let taskJSON = try json("task_json") else { throw AtelierError(.storeFailure, "job without task") }
        let task = try ImageTask(json: taskJSON)
        let statusText = try row.get("status", as: String.self)
        guard let status = JobStatus(rawValue: statusText) else {
            throw AtelierError(.storeFailure, "job \(task.taskUUID) has an unknown status in the store: \(statusText)")
        }
        var job = Job(
            task: task, status: status, createdAt: Timestamp(milliseconds: try row.get("created_ms")),
            route: try json("route_json").map { v throws(AtelierError) in try RouteSummary(json: v) })
        job.updatedAt = Timestamp(milliseconds: try row.get("updated_ms"))
        job.startedAt = try row.get("started_ms", as: Int64?.self).map(Timestamp.init(milliseconds:))
        job.finishedAt = try row.get("finished_ms", as: Int64?.self).map(Timestamp.init(milliseconds:))
        var results: [JobResult] = []
        for v in try json("results_json")?.arrayValue ?? [] { results.append(try JobResult(json: v)) }
        job.results = results
        job.costUSD = try row.get("cost_usd", as: Double?.self)
        job.error = try json("error_json").map(AtelierError.init(json:))
        var attempts: [Attempt] = []
        for v in try json("attempts_json")?.arrayValue ?? [] { attempts.append(try Attempt(storageJSON: v)) }
        job.attempts = attempts
        return job
    }
}
