import AtelierCore

/// What the engine knows about its own condition (`daemon.health` adds the delivery backlog and renders it).
public struct EngineHealth: Sendable, Equatable {
    /// A model whose circuit breaker is open.
    public struct OpenBreaker: Sendable, Equatable {
        /// The model id.
        public var model: String
        /// Why the breaker opened.
        public var reason: String
    }

    /// Why the engine is degraded: the store cannot be read or commit, or a model's circuit breaker is open.
    /// Empty when it is ok.
    public var reasons: [String]
    /// The daemon's version.
    public var version: String
    /// Seconds since the engine started (millisecond precision).
    public var uptimeSeconds: Double
    /// Jobs queued, counted from the store (as `job.list` shows them).
    public var queued: Int
    /// Jobs running, counted from the store.
    public var running: Int
    /// True while the engine drains for shutdown.
    public var draining: Bool
    /// Whether the store accepts writes.
    public var store: StoreCondition.Status
    /// Models whose circuit breaker is open, with why, sorted by model.
    public var openBreakers: [OpenBreaker]
    /// Which store the daemon runs on.
    public var storeKind: StoreKind
    /// PostgreSQL mode: this daemon's id and the other live daemons of the cluster; nil with SQLite.
    public var cluster: ClusterHealth?

    /// A daemon's view of its cluster.
    public struct ClusterHealth: Sendable, Equatable {
        /// This daemon's id.
        public var daemonID: String
        /// The other daemons whose heartbeat is recent, most recently seen first (nil when the store could not be
        /// read).
        public var others: [DaemonPresence]?

        /// A cluster view.
        public init(daemonID: String, others: [DaemonPresence]?) {
            self.daemonID = daemonID
            self.others = others
        }
    }

    /// True when nothing is degraded.
    public var isOK: Bool { reasons.isEmpty }

    /// A health report.
    public init(
        reasons: [String], version: String, uptimeSeconds: Double, queued: Int, running: Int, draining: Bool, store: StoreCondition.Status,
        openBreakers: [OpenBreaker], storeKind: StoreKind = .sqlite, cluster: ClusterHealth? = nil
    ) {
        self.reasons = reasons
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.queued = queued
        self.running = running
        self.draining = draining
        self.store = store
        self.openBreakers = openBreakers
        self.storeKind = storeKind
        self.cluster = cluster
    }
}
