import Foundation

/// Timing of a daemon in a cluster (PostgreSQL mode). The waits run on real time, not on
/// ``EngineConfiguration/clock``: leases expire on the database server's clock, which a test clock cannot move.
public struct ClusterConfiguration: Sendable, Equatable {
    /// How long a claim holds a job without renewal; another daemon takes the job over once it runs out.
    public var leaseSeconds: Double
    /// How often the daemon records that it is alive and renews its leases (well under ``leaseSeconds``).
    public var heartbeatSeconds: Double
    /// How often the daemon looks for work without being told (notices lost while disconnected, expired leases)
    /// and refreshes other daemons' jobs it shows.
    public var reconcileSeconds: Double
    /// A daemon whose last heartbeat is older than this is not listed as live (`daemon.health`).
    public var liveWithinSeconds: Double
    /// How often the workflow service catches unfinished workflows up with their stage jobs' stored ends (an end
    /// that reached no daemon's service: its runner died right after committing it and no other daemon showed it).
    public var workflowCatchUpSeconds: Double

    /// Timing with these values (defaults: lease 15 s, heartbeat 2 s, reconcile 5 s, live within 10 s, workflow
    /// catch-up 30 s).
    public init(
        leaseSeconds: Double = 15, heartbeatSeconds: Double = 2, reconcileSeconds: Double = 5, liveWithinSeconds: Double = 10,
        workflowCatchUpSeconds: Double = 30
    ) {
        self.leaseSeconds = leaseSeconds
        self.heartbeatSeconds = heartbeatSeconds
        self.reconcileSeconds = reconcileSeconds
        self.liveWithinSeconds = liveWithinSeconds
        self.workflowCatchUpSeconds = workflowCatchUpSeconds
    }

    /// A fresh daemon id: host name, process id and four random hex digits (unique across restarts of one host).
    public static func newDaemonID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let suffix = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        return "\(host)-\(getpid())-\(String(repeating: "0", count: 4 - suffix.count))\(suffix)"
    }
}
