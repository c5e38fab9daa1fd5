import AtelierCore
import AtelierEngine
import AtelierRPC

/// A connection as the dispatcher sees it: where to push notifications, and its subscriptions.
public protocol RPCConnection: AnyObject, Sendable {
    /// Sends one server notification line, unless the connection has too many unsent notifications (then it is
    /// dropped and counted for the next `job.events_dropped`).
    func push(_ bytes: [UInt8])
    /// Sends one `job.event` matched by the subscription with `filter` (nil: every job), once per connection: an
    /// event that the connection's every-job subscription also matches is sent by that subscription alone.
    /// `encode` builds the line only when it is sent.
    func pushEvent(matchedBy filter: String?, _ encode: () -> [UInt8])
    /// Remembers a subscription so it is cancelled when the connection closes.
    func addSubscription(_ token: EventBus<JobEvent>.Token, taskUUID: String?)
    /// Removes subscriptions for `taskUUID` (nil: all); returns how many were removed.
    func removeSubscriptions(taskUUID: String?) -> [EventBus<JobEvent>.Token]
    /// Subscribes once per filter: when the connection already holds a subscription for `taskUUID` (nil: every
    /// job) it answers ``SubscribeOutcome/existing``; when it holds `limit` subscriptions, ``SubscribeOutcome/full``;
    /// otherwise it calls `make` and remembers the token, atomically with the checks.
    func subscribe(taskUUID: String?, limit: Int, _ make: () -> EventBus<JobEvent>.Token) -> SubscribeOutcome
}

/// What ``RPCConnection/subscribe(taskUUID:limit:_:)`` did.
public enum SubscribeOutcome: Sendable {
    /// A new subscription was made.
    case added
    /// The connection already had one with this filter; nothing changed.
    case existing
    /// The connection holds as many subscriptions as it may; nothing changed.
    case full
}

/// The services behind the socket. Features add their service here (with a default) and their methods in an
/// `RPCDispatcher+Feature.swift` file.
public struct DaemonServices: Sendable {
    /// The job engine.
    public var engine: Engine
    /// Where `config.reload` re-reads the configuration from (nil: reload unsupported).
    public var configSource: ConfigSource?
    /// Hybrid workflows (`workflow.*`; nil: not enabled).
    public var workflows: WorkflowService? = nil
    /// Webhook and upload delivery (`delivery.*`, `webhook.secret`; nil: not enabled).
    public var delivery: DeliveryService? = nil

    public init(engine: Engine, configSource: ConfigSource? = nil) {
        self.engine = engine
        self.configSource = configSource
    }
}

/// Maps JSON-RPC methods onto the daemon's services. Every params object is parsed strictly (unknown members are
/// errors) so that mistakes surface as `-32602` with `data.field`.
///
/// Methods live in a table: each feature contributes its handlers from its own file (`jobHandlers` in
/// `RPCDispatcher+Jobs.swift`, …) and is listed once in ``handlers``.
public struct RPCDispatcher: Sendable {
    /// One method: parses its params object and answers, or throws an ``AtelierError``.
    public typealias Handler = @Sendable (RPCDispatcher, JSONValue, (any RPCConnection)?) async throws(AtelierError) -> JSONValue

    /// The services behind the socket.
    public let services: DaemonServices
    /// The job engine.
    public var engine: Engine { services.engine }

    public init(services: DaemonServices) { self.services = services }

    /// Every method, by name. A name claimed by two groups stops the daemon at start-up (see ``table(_:)``).
    static let handlers: [String: Handler] = {
        let (all, duplicates) = Self.table([jobHandlers, adminHandlers, workflowHandlers, modelHandlers, deliveryHandlers])
        precondition(duplicates.isEmpty, "RPC methods with two handlers: \(duplicates.joined(separator: ", "))")
        return all
    }()

    /// Merges handler groups into one table, and names every method that more than one group claims (the first
    /// group's handler is kept for it; ``handlers`` refuses to start with any).
    public static func table(_ groups: [[String: Handler]]) -> (table: [String: Handler], duplicates: [String]) {
        var all: [String: Handler] = [:]
        var duplicates: Set<String> = []
        for group in groups {
            for (name, handler) in group {
                if all[name] == nil { all[name] = handler } else { duplicates.insert(name) }
            }
        }
        return (all, duplicates.sorted())
    }

    /// The method names, sorted (for `method_not_found` hints).
    public static var methods: [String] { handlers.keys.sorted() }

    /// Whether this dispatcher knows `method`.
    public static func knows(_ method: String) -> Bool { handlers[method] != nil }

    /// Handles one request; returns the result, or the error to send.
    public func handle(_ request: RPCRequest, connection: (any RPCConnection)?) async -> Result<JSONValue, RPCError> {
        do throws(AtelierError) {
            guard let handler = Self.handlers[request.method] else { throw AtelierError(.internalError, "unknown method") }
            return .success(try await handler(self, try params(request), connection))
        } catch {
            return .failure(RPCError(error))
        }
    }

    private func params(_ request: RPCRequest) throws(AtelierError) -> JSONValue {
        switch request.params {
        case nil: return .object([:])
        case .object?: return request.params!
        case .array(let a)? where a.isEmpty: return .object([:])
        default: throw AtelierError(.invalidType, "params must be an object for \(request.method)", field: "")
        }
    }
}
