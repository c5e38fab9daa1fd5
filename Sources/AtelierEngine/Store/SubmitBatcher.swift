import AtelierCore

/// Durable submission: stores one job through the store's own batching — SQLite's group commit (``GroupCommit``),
/// so concurrent submits and the state changes of running jobs that wait at the same moment share one transaction
/// and one fsync; PostgreSQL's insert transaction (with the budget hold) otherwise.
///
/// It used to gather submits itself, on an actor of its own; the store now batches every write, so a submit costs no
/// hop of its own. A repeated taskUUID within one group transaction sees the first one: the writes run in order.
///
/// Invariant: ``submit(_:)`` returns only after the transaction containing the job has committed.
struct SubmitBatcher: Sendable {
    private let store: any JobStoring

    init(store: any JobStoring) {
        self.store = store
    }

    /// Stores the job durably (or finds it already stored) and returns the outcome.
    func submit(_ submission: JobSubmission) async throws -> SubmissionOutcome {
        try await store.insert(submission)
    }
}
