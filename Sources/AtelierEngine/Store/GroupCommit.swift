import AtelierCore
import GRDB
import Synchronization

/// Group commit for every write of the store: the writes that are waiting when the writer connection becomes free
/// run, in order of arrival, in ONE transaction, committed with one `fsync` of the WAL; each caller is answered only
/// after that commit (or with the error that kept its write out of it). Callers see no difference from one
/// transaction each: a write is acknowledged only once it is committed, and readers never see half of one.
///
/// Why: under `synchronous = FULL` every commit costs an `fsync`, a trip to GRDB's writer queue and SQLite's commit
/// work. A job makes three commits (insert, running, succeeded); with many jobs in flight their commits now share
/// transactions, so the per-job cost of a commit falls with the load (scripts/bench-vs-litellm).
///
/// Isolation of failures: writes are not wrapped in savepoints (two statements each, on every write). When one throws,
/// the whole transaction is rolled back, that write gets its error, and the others are run again, in the same order,
/// in the next transaction — so a write's body may run more than once, and must not have effects outside the database
/// other than `db.afterNextTransaction` callbacks (which fire only for the transaction that commits). When the COMMIT
/// itself fails (disk full, I/O error, a deferred constraint), nothing of the batch is stored and its writes are run
/// again one transaction each, so each caller gets the outcome of its own write alone.
///
/// Spacing (``CommitSpacing``): once writes arrive together (the last transaction carried several), the next
/// transaction waits until `interval` after the last one ended, so that each carries more writes — or only until as
/// many writes wait as the recent transactions carried at most (callers that each wait for their write are then all
/// back: waiting longer would only slow them). A caller writing alone (each transaction carrying its one write)
/// never waits.
///
/// Threads: the batch runs on GRDB's writer dispatch queue (never on the cooperative pool); callers' continuations
/// are resumed from there, so each write costs one hop to the writer queue and one back, shared by the batch. A
/// spaced transaction leaves the writer queue while it waits and is queued again by the spacing's timer.
final class GroupCommit: Sendable {
    /// One waiting write, its result type erased.
    struct Pending: Sendable {
        /// Runs the write's body; its value, boxed.
        let run: @Sendable (Database) throws -> any Sendable
        /// Answers the caller.
        let finish: @Sendable (Result<any Sendable, any Error>) -> Void
    }

    private struct State {
        var pending: [Pending] = []
        /// A drain runs, is queued, or waits for the spacing: new writes join it.
        var flushing = false
        var transactions = 0
        /// When the last transaction ended, and how many writes it carried (for the spacing).
        var lastEnd: AtelierClock.Instant?
        var lastWrites = 0
        /// The most writes recent transactions carried (falls by one per transaction that carried fewer): as many
        /// waiting writes end a wait early.
        var fill = 0
        /// How many times a transaction waited for the spacing; the wait in progress, by number (a timer that fires
        /// after its wait ended early finds another number, or none, and does nothing).
        var waits = 0
        var wait: Int?
    }

    /// What to do with the writes waiting, when no transaction runs.
    private enum Next {
        /// Begin the next transaction now.
        case now
        /// Wait this long (the spacing; the wait's number), then begin it.
        case after(Duration, wait: Int)
    }

    private let writer: DatabasePool
    private let state = Mutex(State())
    /// The most writes in one transaction (bounds the work a commit holds back).
    let maxBatch: Int
    /// Where each transaction's duration is reported (the commit latency metric).
    let timings = StoreCommitTimings()

    /// How transactions are spaced under load.
    let spacing: CommitSpacing

    init(writer: DatabasePool, maxBatch: Int = 1024, spacing: CommitSpacing = .none) {
        self.writer = writer
        self.maxBatch = maxBatch
        self.spacing = spacing
    }

    /// How many times a transaction waited for the spacing (tests).
    var spacedCount: Int { state.withLock { $0.waits } }

    /// How many writes wait for the next transaction (tests).
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// How many transactions were begun so far, committed or not (tests).
    var transactionCount: Int { state.withLock { $0.transactions } }

    /// Runs `body` in the next group transaction and returns its value once that transaction committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result: Result<any Sendable, any Error> = await withCheckedContinuation { continuation in
            enqueue(Pending(run: { db in try body(db) }, finish: { continuation.resume(returning: $0) }))
        }
        // The box holds exactly what `body` returned.
        return try result.get() as! T
    }

    private func enqueue(_ write: Pending) {
        let next = state.withLock { s -> Next? in
            s.pending.append(write)
            if s.flushing {
                // Waiting for the spacing: as many writes wait as recent transactions carried — the wait ends.
                guard s.wait != nil, s.pending.count >= s.fill else { return nil }
                s.wait = nil
                return .now
            }
            s.flushing = true
            return schedule(&s)
        }
        if let next { begin(next) }
    }

    /// Whether the writes waiting begin their transaction now or wait for the spacing; records the wait.
    private func schedule(_ s: inout State) -> Next {
        guard spacing.interval > .zero, s.lastWrites > 1, s.pending.count < s.fill, let lastEnd = s.lastEnd else { return .now }
        let left = spacing.clock.now.duration(to: lastEnd.advanced(by: spacing.interval))
        guard left > .zero else { return .now }
        s.waits += 1
        s.wait = s.waits
        return .after(left, wait: s.waits)
    }

    private func begin(_ next: Next) {
        switch next {
        case .now:
            writer.asyncWriteWithoutTransaction { db in self.drain(db) }
        case .after(let delay, let wait):
            _ = spacing.timer.schedule(after: delay) { [self] in
                // Only the wait still in progress begins the transaction (one that ended early already began it).
                let current = state.withLock { s -> Bool in
                    guard s.wait == wait else { return false }
                    s.wait = nil
                    return true
                }
                if current { writer.asyncWriteWithoutTransaction { db in self.drain(db) } }
            }
        }
    }

    /// On the writer queue: commits batches until nothing waits, or until the spacing holds the next one back (it
    /// then leaves the writer queue; its timer, or the last write it waits for, queues the drain again).
    private func drain(_ db: Database) {
        var retry: [Pending] = []
        while true {
            let limit = maxBatch
            let (taken, later) = state.withLock { s -> ([Pending], Next?) in
                if retry.isEmpty, !s.pending.isEmpty, case .after(let delay, let wait) = schedule(&s) { return ([], .after(delay, wait: wait)) }
                let room = max(0, limit - retry.count)
                let n = min(room, s.pending.count)
                let taken = retry + s.pending.prefix(n)
                s.pending.removeFirst(n)
                if taken.isEmpty { s.flushing = false }
                return (taken, nil)
            }
            if let later {
                begin(later)
                return
            }
            var batch = taken
            retry = []
            if batch.isEmpty { return }
            let writes = batch.count
            retry = commit(&batch, db)
            let ended = spacing.interval > .zero ? spacing.clock.now : nil
            state.withLock { s in
                s.lastEnd = ended
                s.lastWrites = writes
                s.fill = max(writes, s.fill - 1)
            }
        }
    }

    /// Runs `batch` in one transaction and answers its writes; returns the writes to run again (those that were
    /// rolled back with a failing neighbour).
    private func commit(_ batch: inout [Pending], _ db: Database) -> [Pending] {
        state.withLock { $0.transactions += 1 }
        var values: [any Sendable] = []
        values.reserveCapacity(batch.count)
        var failed: (index: Int, error: any Error)?
        let began = ContinuousClock.now
        let writes = batch.count
        func timed(_ committed: Bool) {
            let d = (ContinuousClock.now - began).components
            timings.record(seconds: Double(d.seconds) + Double(d.attoseconds) / 1e18, writes: writes, committed: committed)
        }
        do {
            try db.inTransaction {
                for (i, write) in batch.enumerated() {
                    do {
                        values.append(try write.run(db))
                    } catch {
                        failed = (i, error)
                        throw error
                    }
                }
                return .commit
            }
            timed(true)
        } catch {
            timed(false)
            guard let failed else {
                // The transaction could not begin or commit: no write of the batch is stored. Alone, the write gets
                // the error; in company, each runs again in a transaction of its own.
                if batch.count == 1 {
                    batch[0].finish(.failure(error))
                } else {
                    for write in batch {
                        var alone = [write]
                        _ = commit(&alone, db)
                    }
                }
                return []
            }
            batch[failed.index].finish(.failure(failed.error))
            batch.remove(at: failed.index)
            return batch
        }
        for (write, value) in zip(batch, values) { write.finish(.success(value)) }
        return []
    }
}
