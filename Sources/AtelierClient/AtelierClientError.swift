import AtelierRPC

/// A failure of the client itself: no daemon, a connection that failed or closed, an answer it cannot read.
///
/// Errors the daemon answers with arrive as ``RPCError`` (stable `data.code`, `data.field`), not as this type.
/// A struct over a private enum, so that new kinds of failure can be added without breaking callers: compare
/// ``code`` with the static codes (`error.code == .daemonNotRunning`).
public struct AtelierClientError: Error, Sendable, Hashable, CustomStringConvertible {
    fileprivate enum Kind: String, Sendable, Hashable {
        case daemonNotRunning = "daemon_not_running"
        case connectFailed = "connect_failed"
        case connectionClosed = "connection_closed"
        case badResponse = "bad_response"
    }

    /// What kind of failure this is. Compare with the static members; new codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate let kind: Kind
        /// Nothing listens on the socket (no socket file, or nobody accepts on it).
        public static let daemonNotRunning = Code(kind: .daemonNotRunning)
        /// Connecting failed for another reason (permissions, a path too long, …); ``AtelierClientError/message`` says which.
        public static let connectFailed = Code(kind: .connectFailed)
        /// The connection closed before the answer arrived.
        public static let connectionClosed = Code(kind: .connectionClosed)
        /// The daemon answered with something this client does not understand.
        public static let badResponse = Code(kind: .badResponse)
        /// The stable snake_case name, e.g. `daemon_not_running`.
        public var description: String { kind.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What happened, for people.
    public let message: String
    /// The socket the client tried, for connection failures.
    public let socketPath: String?

    private init(_ kind: Kind, _ message: String, socketPath: String? = nil) {
        self.code = Code(kind: kind)
        self.message = message
        self.socketPath = socketPath
    }

    /// Nothing listens on `socketPath`.
    public static func daemonNotRunning(socketPath: String) -> AtelierClientError {
        AtelierClientError(
            .daemonNotRunning, "atelierd is not running on \(socketPath) (start it with: atelierd --socket \(socketPath))", socketPath: socketPath)
    }

    /// Connecting to `socketPath` failed for a reason other than a missing daemon.
    public static func connectFailed(socketPath: String, reason: String) -> AtelierClientError {
        AtelierClientError(.connectFailed, "cannot connect to atelierd on \(socketPath): \(reason)", socketPath: socketPath)
    }

    /// The connection closed before the answer arrived.
    public static let connectionClosed = AtelierClientError(.connectionClosed, "the connection to atelierd closed")

    /// The daemon's answer could not be read as `what`.
    public static func badResponse(_ what: String) -> AtelierClientError {
        AtelierClientError(.badResponse, "unexpected answer from atelierd: \(what)")
    }

    /// The ``message``.
    public var description: String { message }
}
