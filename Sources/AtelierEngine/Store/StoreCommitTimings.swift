import Synchronization

/// Reports how long each store transaction took, from its `BEGIN` to the end of its `COMMIT` (the fsync included), to
/// whoever observes — the HTTP face's `atelier_store_commit_duration_seconds` histogram. The engine itself holds no
/// metrics code: the group commit (``GroupCommit``) calls ``record(seconds:writes:committed:)`` after every
/// transaction, on GRDB's writer queue, and observers must only update in-memory counters.
public final class StoreCommitTimings: Sendable {
    /// One transaction: its duration in seconds, how many writes it held, and whether it committed.
    public typealias Observer = @Sendable (_ seconds: Double, _ writes: Int, _ committed: Bool) -> Void

    private let observers = Mutex<[Observer]>([])

    /// No observers.
    public init() {}

    /// Calls `observer` after every transaction from now on (for the life of the store).
    public func observe(_ observer: @escaping Observer) { observers.withLock { $0.append(observer) } }

    /// Reports one transaction to every observer.
    func record(seconds: Double, writes: Int, committed: Bool) {
        let current = observers.withLock { $0 }
        for o in current { o(seconds, writes, committed) }
    }
}
