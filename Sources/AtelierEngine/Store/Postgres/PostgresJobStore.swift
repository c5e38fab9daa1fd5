import AtelierCore

/// The PostgreSQL store on the engine's jobs path (``JobStoring``): inserts carry the submitting daemon and the
/// budget hold into one transaction, state changes are written under the job's lease with the outbox rows they owe.
///
/// Faults: every PostgreSQL error that goes away by itself (the server restarting or unreachable, a serialization
/// conflict, a call past its deadline) is rethrown as a ``StoreFault`` naming the redacted location, so the engine's
/// store retry and `store_failure` answers treat both stores alike; writes also keep ``condition`` current.
public struct PostgresJobStore: JobStoring {
    /// The shared store (claims, leases, notices, heartbeats go to it directly).
    public let store: PostgresStore
    /// The outbox whose rows a state change owes (nil: no deliveries, e.g. tests).
    public let outbox: DeliveryOutbox?
    /// This daemon's id, the owner of its leases.
    public let daemonID: String
    /// Whether commits currently succeed.
    public let condition: StoreCondition

    /// The jobs path of `store` for daemon `daemonID`.
    public init(store: PostgresStore, daemonID: String, outbox: DeliveryOutbox? = nil, condition: StoreCondition = StoreCondition()) {
        self.store = store
        self.outbox = outbox
        self.daemonID = daemonID
        self.condition = condition
    }

    /// Always ``StoreKind/postgres``.
    public var kind: StoreKind { .postgres }

    /// PostgreSQL's fault classification (``StoreFault/postgres(_:location:)``).
    public func fault(_ error: any Error) -> StoreFault? {
        StoreFault.postgres(error, location: store.location)
    }

    /// Runs a read, rethrowing a fault as ``StoreFault``.
    private func reading<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch {
            if let fault = fault(error) { throw fault }
            throw error
        }
    }

    /// Runs a write, rethrowing a fault as ``StoreFault`` and recording it in ``condition`` (cleared on success).
    private func writing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            let value = try await body()
            condition.clear(.database)
            return value
        } catch {
            if let fault = fault(error) {
                condition.record(.database, fault.message)
                throw fault
            }
            throw error
        }
    }

    /// See ``JobStoring/insert(_:)``: globally idempotent, the hold charged in the same transaction.
    public func insert(_ submission: JobSubmission) async throws -> SubmissionOutcome {
        var submission = submission
        submission.daemon = daemonID
        let outcomes = try await writing { try await store.insert([submission]) }
        guard let outcome = outcomes.first else {
            throw AtelierError(.storeFailure, "the store answered no outcome for \(submission.job.taskUUID)")
        }
        return outcome
    }

    /// See ``JobStoring/commit(_:change:lease:)``. The outbox rows of `change` join the transaction; the local
    /// delivery worker is woken after the commit.
    public func commit(_ job: Job, change: StateChange?, lease: StoreLease?) async throws {
        let rows = change.flatMap { c in outbox?.rows(for: c) } ?? []
        try await writing { try await store.commit(job, change: change?.event, lease: lease, deliveries: rows) }
        if !rows.isEmpty { outbox?.wakeup.signal() }
    }

    /// See ``JobStoring/job(_:)``.
    public func job(_ taskUUID: String) async throws -> Job? {
        try await reading { try await store.job(taskUUID) }
    }

    /// See ``JobStoring/jobWithRequest(_:)``.
    public func jobWithRequest(_ taskUUID: String) async throws -> (job: Job, request: String)? {
        try await reading { try await store.jobWithRequest(taskUUID) }
    }

    /// See ``JobStoring/unfinishedJobs()``.
    public func unfinishedJobs() async throws -> [Job] {
        try await reading { try await store.unfinishedJobs() }
    }

    /// See ``JobStoring/list(status:limit:before:)``.
    public func list(status: JobStatus?, limit: Int, before cursor: Int64?) async throws -> (jobs: [Job], next: Int64?) {
        try await reading { try await store.list(status: status, limit: limit, before: cursor) }
    }

    /// See ``JobStoring/counts(of:)``.
    public func counts(of statuses: [JobStatus]) async throws -> [JobStatus: Int] {
        try await reading { try await store.counts(of: statuses) }
    }

    /// See ``JobStoring/stats(by:since:)``.
    public func stats(by grouping: StatsGrouping, since: Timestamp) async throws -> [StatsReport.Group] {
        try await reading { try await store.stats(by: grouping, since: since) }
    }

    /// See ``JobStoring/probeWrite()``.
    public func probeWrite() async throws {
        try await writing { try await store.probeWrite() }
    }
}
