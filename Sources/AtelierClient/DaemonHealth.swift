import AtelierCore

/// The `daemon.health` answer, typed for `atelier health`: the status and why, the counts, the store, the open
/// breakers and the delivery backlog. ``json`` is the whole report (docs/protocol.md).
public struct DaemonHealth: Sendable, Equatable {
    /// Whether the store accepts writes, and since when it does not.
    public struct Store: Sendable, Equatable {
        public var ok: Bool
        /// Why not.
        public var error: String?
        /// Since when (ISO 8601).
        public var since: String?
        /// `sqlite` or `postgres` (nil from a daemon that does not say).
        public var kind: String?
    }

    /// Another live daemon of the cluster.
    public struct Peer: Sendable, Equatable {
        public var id: String
        /// Its last heartbeat (ISO 8601).
        public var lastSeen: String
        /// When it started (ISO 8601).
        public var startedAt: String
    }

    /// PostgreSQL mode: this daemon's id and the other live daemons.
    public struct Cluster: Sendable, Equatable {
        /// This daemon's id.
        public var daemon: String
        /// The others, most recently seen first (nil when the daemon could not read them).
        public var daemons: [Peer]?
    }

    /// A model whose breaker is open.
    public struct Breaker: Sendable, Equatable {
        public var model: String
        public var reason: String
    }

    /// The delivery outbox's backlog.
    public struct Delivery: Sendable, Equatable {
        /// Deliveries not yet delivered or given up.
        public var open: Int
        /// Of those, due now.
        public var due: Int
        /// Due for longer than they should be.
        public var overdue: Int
    }

    /// `ok` or `degraded`.
    public var status: String
    /// Why it is degraded.
    public var reasons: [String]
    /// The daemon's version.
    public var version: String
    /// Seconds since it started.
    public var uptimeSeconds: Double
    /// Jobs waiting for a slot.
    public var queued: Int
    /// Jobs running.
    public var running: Int
    /// It is shutting down.
    public var draining: Bool
    /// The store's state.
    public var store: Store
    /// Open breakers.
    public var breakers: [Breaker]
    /// The delivery backlog, when delivery is enabled and readable.
    public var delivery: Delivery?
    /// The cluster, in PostgreSQL mode.
    public var cluster: Cluster?
    /// The whole report.
    public var json: JSONValue

    /// Whether the daemon reports itself healthy.
    public var isOK: Bool { status == "ok" }

    /// Reads a `daemon.health` answer; throws ``AtelierClientError/Code/badResponse`` when it is not one.
    public init(_ v: JSONValue) throws(AtelierClientError) {
        let r = try AnswerReader(v, "health")
        status = try r.string("status")
        reasons = try r.array("reasons").compactMap(\.stringValue)
        version = try r.string("version")
        uptimeSeconds = try r.double("uptimeSeconds")
        queued = try r.int("queued")
        running = try r.int("running")
        draining = try r.bool("draining")
        guard let s = try r.optionalObject("store") else { throw AtelierClientError.badResponse("health: store is missing") }
        store = Store(ok: try s.bool("ok"), error: s.optionalString("error"), since: s.optionalString("since"), kind: s.optionalString("kind"))
        var breakers: [Breaker] = []
        for b in try r.array("breakers") {
            let x = try AnswerReader(b, "breaker")
            breakers.append(Breaker(model: try x.string("model"), reason: x.optionalString("reason") ?? ""))
        }
        self.breakers = breakers
        delivery = try r.optionalObject("delivery").map { d throws(AtelierClientError) in
            Delivery(open: try d.int("open"), due: try d.int("due"), overdue: try d.int("overdue"))
        }
        cluster = try r.optionalObject("cluster").map { c throws(AtelierClientError) in
            var peers: [Peer]?
            if case .array(let list)? = c.value["daemons"] {
                var read: [Peer] = []
                for p in list {
                    let x = try AnswerReader(p, "daemon")
                    read.append(Peer(id: try x.string("id"), lastSeen: try x.string("lastSeen"), startedAt: try x.string("startedAt")))
                }
                peers = read
            }
            return Cluster(daemon: try c.string("daemon"), daemons: peers)
        }
        json = v
    }
}
