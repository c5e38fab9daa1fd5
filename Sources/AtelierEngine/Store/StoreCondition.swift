import AtelierCore
import Synchronization

/// Whether the daemon's storage currently accepts writes, and since when it does not (`daemon.health`'s `store`).
///
/// Two parts can fail independently: the database (commits) and the result files (image writes). Each is marked
/// failing by the operation that hit the fault and cleared by the next one that succeeds.
public final class StoreCondition: Sendable {
    /// The part of the storage a fault concerns.
    public enum Part: String, Sendable, CaseIterable {
        case database
        case files
    }

    /// The state reported by health.
    public struct Status: Sendable, Equatable {
        /// True when no part is failing.
        public var ok: Bool
        /// Why not (the messages of the failing parts), nil when ok.
        public var error: String?
        /// When the oldest current failure began, nil when ok.
        public var since: Timestamp?
    }

    private struct Failure {
        var message: String
        var since: Timestamp
    }

    private let failures = Mutex<[Part: Failure]>([:])

    public init() {}

    /// Marks `part` failing with `message` (keeps the first time it started failing).
    public func record(_ part: Part, _ message: String) {
        failures.withLock { f in
            f[part] = Failure(message: message, since: f[part]?.since ?? .now())
        }
    }

    /// Marks `part` working again.
    public func clear(_ part: Part) {
        failures.withLock { f in
            if f[part] != nil { f[part] = nil }
        }
    }

    /// The current state.
    public var status: Status {
        failures.withLock { f in
            let current = Part.allCases.compactMap { p in f[p].map { (p, $0) } }
            guard !current.isEmpty else { return Status(ok: true, error: nil, since: nil) }
            return Status(
                ok: false, error: current.map(\.1.message).joined(separator: "; "), since: current.map(\.1.since).min())
        }
    }

    /// The current database fault, if commits are failing.
    public var databaseFault: StoreFault? {
        failures.withLock { f in f[.database].map { StoreFault(message: $0.message) } }
    }
}
