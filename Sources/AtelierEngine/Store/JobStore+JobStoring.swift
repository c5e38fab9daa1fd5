import AtelierCore

/// The SQLite store on the engine's jobs path: the one-daemon case. Inserts and state changes go through its group
/// commit as before; leases are never given (no other daemon can hold a job), and budget holds are kept by the
/// engine's in-memory ledger instead of the store.
extension JobStore: JobStoring {
    /// Always ``StoreKind/sqlite``.
    public var kind: StoreKind { .sqlite }

    /// SQLite's fault classification (disk full, I/O error, busy past the timeout), naming the data directory.
    public func fault(_ error: any Error) -> StoreFault? {
        StoreFault(error, directory: database.directory)
    }

    /// ``insert(_:)`` of one job (the hold is ignored: the ledger is in memory).
    public func insert(_ submission: JobSubmission) async throws -> SubmissionOutcome {
        guard let outcome = try await insert([submission.job]).first else {
            throw AtelierError(.storeFailure, "the store answered no outcome for \(submission.job.taskUUID)")
        }
        switch outcome {
        case .inserted(let job): return .inserted(job)
        case .existing(let job): return .existing(job)
        case .conflict: return .conflict
        }
    }

    /// ``update(_:change:)``; `lease` is ignored (one daemon).
    public func commit(_ job: Job, change: StateChange?, lease: StoreLease?) async throws {
        try await update(job, change: change)
    }
}
