import Dispatch

/// How the store's group commit (``GroupCommit``) spaces its transactions under load: once writes arrive together
/// (the last transaction carried more than one), the next transaction begins `interval` after the last one ended,
/// and every write arriving meanwhile joins it. A caller writing alone — each transaction carrying its one write —
/// never waits, and neither does a write after a pause longer than `interval`.
///
/// Why: under `synchronous = FULL` each transaction costs an `fsync` of the WAL, the WAL frames of every page it
/// touched, and two trips to and from the writer queue. Left alone, the group commit begins a transaction as soon
/// as the previous one ends, so under a steady stream of jobs each carries the two or three writes that arrived
/// during the last `fsync` — about one transaction per job. Spaced, each carries more: a job's share of the fsyncs,
/// WAL frames and thread switches falls (about 30 % of the daemon's CPU per 10 KB job, see docs/operations.md), for
/// at most `interval` more latency per write under load.
public struct CommitSpacing: Sendable {
    /// The least time between the end of one transaction and the beginning of the next under load; zero spaces nothing.
    public var interval: Duration
    /// The current time.
    var now: @Sendable () -> ContinuousClock.Instant
    /// Runs `work` once `delay` has passed (off the cooperative pool: `work` only queues the transaction).
    var schedule: @Sendable (_ delay: Duration, _ work: @escaping @Sendable () -> Void) -> Void

    /// Spacing on the real clock, the waits timed by Dispatch.
    /// - Parameter interval: the least time between two transactions under load (zero: no spacing).
    public init(interval: Duration) {
        self.init(interval: interval, now: { ContinuousClock.now }) { delay, work in
            let c = delay.components
            let nanoseconds = max(0, Int(c.seconds) * 1_000_000_000 + Int(c.attoseconds / 1_000_000_000))
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: work)
        }
    }

    /// Spacing with its own clock and timer (tests).
    init(
        interval: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant,
        schedule: @escaping @Sendable (_ delay: Duration, _ work: @escaping @Sendable () -> Void) -> Void
    ) {
        self.interval = interval
        self.now = now
        self.schedule = schedule
    }

    /// No spacing: each transaction begins as soon as the previous one ended.
    public static let none = CommitSpacing(interval: .zero)
}
