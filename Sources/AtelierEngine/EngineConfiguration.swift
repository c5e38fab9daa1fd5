import AtelierCore

/// Settings of the engine. Every field has a default; the daemon fills them from flags and environment.
public struct EngineConfiguration: Sendable {
    /// The data directory (store, images, scratch).
    public var dataDirectory: String
    /// Commit durability of the store.
    public var durability: Durability
    /// How long a graceful shutdown waits for running provider calls before interrupting them (their jobs are
    /// resumed or re-run at the next start).
    public var shutdownGraceSeconds: Double
    /// Finished jobs kept in the in-memory cache for fast `job.get`.
    public var jobCacheCapacity: Int
    /// The longest `job.wait` timeout accepted, in seconds.
    public var maxWaitSeconds: Double
    /// The clock the engine's waits sleep on: retry delays, store and result-file retries, the shutdown grace period,
    /// the workflow service's resubmission backoff, and uptime. Tests inject a manual clock
    /// (``AtelierClock/manual(startingAt:advancesOnSleep:)``) so that no test waits for real time. Two things stay
    /// on real time: `job.wait` timeouts (the event bus's own clock, so that a clock that jumps through every sleep
    /// does not end a caller's wait at once) and job timestamps (`Timestamp.now()`, compared with wall-clock times
    /// such as budget windows).
    public var clock: AtelierClock
    /// Random numbers in 0..<1 for retry jitter and generated seeds (injectable for tests).
    public var random: @Sendable () -> Double
    /// Accept and store jobs but do not start them (maintenance, benchmarks). Queued jobs start when released.
    public var hold: Bool
    /// The first wait before retrying a state change the store could not commit (disk full, I/O error, busy); the
    /// wait doubles up to ``storeRetryMaxDelaySeconds`` and the change is retried until it commits.
    public var storeRetryInitialDelaySeconds: Double = 0.05
    /// The longest wait between retries of an uncommitted state change (how soon a job moves again after the store
    /// recovers).
    public var storeRetryMaxDelaySeconds: Double = 2
    /// Checks every task must pass before it is stored, whoever submits it (socket, workflows, reproduction) —
    /// e.g. delivery's refusal of forbidden literal addresses.
    public var taskChecks: [any TaskCheck] = []
    /// Lease, heartbeat and reconcile timing in PostgreSQL mode (unused with SQLite).
    public var cluster = ClusterConfiguration()

    /// - Parameters:
    ///   - dataDirectory: where the store and images live.
    ///   - durability: `.full` (fsync per group commit) or `.normal`.
    ///   - shutdownGraceSeconds: grace period for running calls on SIGTERM.
    ///   - jobCacheCapacity: finished jobs kept in memory.
    ///   - maxWaitSeconds: the longest accepted `job.wait`.
    ///   - clock: the clock engine waits sleep on (``AtelierClock/live`` unless a test injects another).
    ///   - random: random numbers in 0..<1 (retry jitter, generated seeds).
    ///   - hold: accept and store jobs without starting them.
    public init(
        dataDirectory: String, durability: Durability = .full, shutdownGraceSeconds: Double = 20, jobCacheCapacity: Int = 4096,
        maxWaitSeconds: Double = 3600,
        clock: AtelierClock = .live,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }, hold: Bool = false
    ) {
        self.dataDirectory = dataDirectory
        self.durability = durability
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.jobCacheCapacity = jobCacheCapacity
        self.maxWaitSeconds = maxWaitSeconds
        self.clock = clock
        self.random = random
        self.hold = hold
    }
}

/// The version of Atelier.
public enum AtelierVersion {
    public static let current = "0.1.0"
}

/// A check every task must pass before it is stored (see ``EngineConfiguration/taskChecks``).
public protocol TaskCheck: Sendable {
    /// Throws the caller-facing error (with its field) when the task must be refused.
    func check(_ task: ImageTask) throws(AtelierError)
}
