import AtelierCore

/// How the store's group commit (``GroupCommit``) spaces its transactions under load: once writes arrive together
/// (the last transaction carried more than one), the next transaction begins `interval` after the last one ended,
/// and every write arriving meanwhile joins it. A caller writing alone — each transaction carrying its one write —
/// never waits, and neither does a write after a pause longer than `interval`.
///
/// Why: under `synchronous = FULL` each transaction costs an `fsync` of the WAL, the WAL frames of every page it
/// touched, and two trips to and from the writer queue. Left alone, the group commit begins a transaction as soon
/// as the previous one ends, so under a steady stream of jobs each carries the two or three writes that arrived
/// during the last `fsync` — about one transaction per job. Spaced, each carries more: a job's share of the fsyncs,
/// WAL frames and thread switches falls (docs/operations.md, "Commit spacing"), for at most `interval` more latency
/// per write under load.
public struct CommitSpacing: Sendable {
    /// The least time between the end of one transaction and the beginning of the next under load; zero spaces nothing.
    public let interval: Duration
    /// The clock the interval is measured on.
    let clock: AtelierClock
    /// Times the waits (the engine's shared kind of timer: one sleeping task, callbacks that only queue work).
    let timer: DeadlineTimer

    /// - Parameters:
    ///   - interval: the least time between two transactions under load (zero: no spacing).
    ///   - clock: the clock it is measured on (tests move a manual one).
    public init(interval: Duration, clock: AtelierClock = .live) {
        self.interval = interval
        self.clock = clock
        self.timer = DeadlineTimer(clock: clock)
    }

    /// No spacing: each transaction begins as soon as the previous one ended.
    public static let none = CommitSpacing(interval: .zero)
}
