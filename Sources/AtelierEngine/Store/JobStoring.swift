import AtelierCore

/// The kind of store a daemon runs on.
public enum StoreKind: String, Sendable, Equatable {
    /// One daemon, one SQLite file (GRDB).
    case sqlite
    /// A cluster of daemons sharing one PostgreSQL database.
    case postgres
}

/// The engine's jobs path: what it needs from a store to accept, run, recover and read jobs. The SQLite
/// ``JobStore`` and the PostgreSQL ``PostgresJobStore`` implement it; the engine holds one `any JobStoring`.
///
/// Errors: a failure of the storage itself (disk full, server away) is thrown as a ``StoreFault`` (or an error
/// ``fault(_:)`` classifies as one), so callers retry it; a write refused because another daemon holds the job is
/// ``StoreLeaseLost``.
public protocol JobStoring: Sendable {
    /// Which store this is (`daemon.health`).
    var kind: StoreKind { get }
    /// Whether commits currently succeed (`daemon.health`).
    var condition: StoreCondition { get }
    /// `error` from one of this store's operations as a store fault (retry later), or nil when it is not one.
    func fault(_ error: any Error) -> StoreFault?

    /// Stores a new job durably (or finds the same taskUUID stored before), returning only after it committed. The
    /// hold, when given, is charged in the same transaction (stores that keep budgets themselves).
    func insert(_ submission: JobSubmission) async throws -> SubmissionOutcome
    /// Writes the whole state of `job` and, in the same transaction, what `change` owes (outbox rows). With a lease,
    /// only while that lease is still the job's (else ``StoreLeaseLost``).
    func commit(_ job: Job, change: StateChange?, lease: StoreLease?) async throws

    /// The job with this id, or nil.
    func job(_ taskUUID: String) async throws -> Job?
    /// The job and the canonical request it was submitted with, or nil.
    func jobWithRequest(_ taskUUID: String) async throws -> (job: Job, request: String)?
    /// Every job that is not finished, oldest first.
    func unfinishedJobs() async throws -> [Job]
    /// One page of jobs, newest first (the cursor is the last row's sequence).
    func list(status: JobStatus?, limit: Int, before cursor: Int64?) async throws -> (jobs: [Job], next: Int64?)
    /// Counts of jobs in these statuses.
    func counts(of statuses: [JobStatus]) async throws -> [JobStatus: Int]
    /// A tiny real write: whether the store accepts writes now.
    func probeWrite() async throws
    /// Per-group statistics of jobs created since `since`.
    func stats(by grouping: StatsGrouping, since: Timestamp) async throws -> [StatsReport.Group]
}

extension JobStoring {
    /// Default for stores that do not read statistics yet.
    public func stats(by grouping: StatsGrouping, since: Timestamp) async throws -> [StatsReport.Group] {
        throw AtelierError(.storeFailure, "statistics are not available on the \(kind.rawValue) store yet")
    }

    /// Default for stores without a probe: a read stands in for it.
    public func probeWrite() async throws {
        _ = try await counts(of: [.queued])
    }
}
