import AtelierCore
import GRDB

/// The only door to the store's SQLite file. Every engine store (jobs, workflows, delivery outbox) reads and
/// writes through it; the underlying `DatabasePool` is never handed out.
///
/// Why it exists: GRDB offers a synchronous and an asynchronous overload of `read`/`write`, and Swift silently
/// picks the synchronous one when the closure's result is not `Sendable` (e.g. `[Row]`). The synchronous one
/// blocks the calling thread on GRDB's reader semaphore; on a Swift concurrency thread that can freeze the whole
/// cooperative pool (two threads on a two-core machine). This type only offers `async` methods whose closures are
/// `@Sendable` and return `Sendable` values, so a blocking database call cannot be written by accident: rows must
/// be mapped to values inside the closure.
///
/// Writes also feed ``condition`` (what `daemon.health` reports as the store's state) and pass through an optional
/// ``StoreFaultInjection`` (tests simulate a full disk with it).
public final class StoreDatabase: Sendable {
    private let pool: DatabasePool
    /// The directory of the database file (named in fault messages).
    public let directory: String
    /// Whether writes currently commit, and since when they do not.
    public let condition: StoreCondition
    private let injection: StoreFaultInjection?
    /// The group commit every write goes through.
    let group: GroupCommit
    /// Each transaction's duration, for the commit latency metric (``StoreCommitTimings``).
    public var commitTimings: StoreCommitTimings { group.timings }

    init(pool: DatabasePool, directory: String, condition: StoreCondition, injection: StoreFaultInjection?, spacing: CommitSpacing = .none) {
        self.pool = pool
        self.group = GroupCommit(writer: pool, spacing: spacing)
        self.directory = directory
        self.condition = condition
        self.injection = injection
    }

    /// Runs `body` in a read-only transaction on a reader connection, without blocking the calling thread.
    public func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    /// Runs `body` in a write transaction, without blocking the calling thread, and returns once that transaction
    /// committed. Writes waiting at the same moment share one transaction and one fsync (``GroupCommit``), so `body`
    /// may run more than once (when a write of the same batch fails, the others run again without it): it must only
    /// touch the database. A failed commit that is a store fault (disk full, I/O error, busy past the timeout) marks
    /// ``condition`` as failing; a successful one clears it. The write happens even when the calling task is
    /// cancelled.
    public func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let injection = self.injection
        do {
            let value = try await group.write { db in
                try injection?.beforeCommit()
                return try body(db)
            }
            condition.clear(.database)
            return value
        } catch {
            if let fault = StoreFault(error, directory: directory) { condition.record(.database, fault.message) }
            throw error
        }
    }
}
