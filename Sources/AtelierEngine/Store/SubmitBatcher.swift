import AtelierCore

/// Group commit for submissions: concurrent `submit` calls that arrive while a transaction is being written are
/// gathered and written together in the next one, so one fsync covers many acknowledged jobs.
///
/// Invariant: ``submit(_:)`` returns only after the transaction containing the job has committed.
actor SubmitBatcher {
    private let store: JobStore
    private var pending: [(Job, CheckedContinuation<InsertOutcome, any Error>)] = []
    private var flushing = false
    /// The most jobs written in one transaction.
    private let maxBatch: Int

    init(store: JobStore, maxBatch: Int = 512) {
        self.store = store
        self.maxBatch = maxBatch
    }

    /// Stores `job` durably (or finds it already stored) and returns the outcome.
    func submit(_ job: Job) async throws -> InsertOutcome {
        try await withCheckedThrowingContinuation { cont in
            pending.append((job, cont))
            if !flushing {
                flushing = true
                Task { await self.flush() }
            }
        }
    }

    private func flush() async {
        while !pending.isEmpty {
            let n = min(pending.count, maxBatch)
            let batch = Array(pending.prefix(n))
            pending.removeFirst(n)
            // Within one batch, a repeated taskUUID must see the first one: split at the first duplicate.
            var seen = Set<String>()
            var cut = batch.count
            for (i, (job, _)) in batch.enumerated() where !seen.insert(job.taskUUID).inserted {
                cut = i
                break
            }
            let now = Array(batch.prefix(cut))
            if cut < batch.count { pending.insert(contentsOf: batch[cut...], at: 0) }
            do {
                let outcomes = try await store.insert(now.map(\.0))
                for (i, (_, cont)) in now.enumerated() { cont.resume(returning: outcomes[i]) }
            } catch {
                for (_, cont) in now { cont.resume(throwing: error) }
            }
        }
        flushing = false
    }
}
