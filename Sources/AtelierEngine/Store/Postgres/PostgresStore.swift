import AtelierCore
import Logging
import PostgresNIO

/// The store of a cluster of daemons: one PostgreSQL database (postgres-nio's connection pool), implementing
/// ``EngineStore``. Everything is asynchronous on NIO's event loops; nothing blocks a Swift concurrency thread.
///
/// Use it scoped, like AsyncHTTPClient's `withHTTPClient`:
/// ```swift
/// try await PostgresStore.withStore(location, logger: logger) { store in … }
/// ```
/// which runs the pool, applies the migrations (serialised across daemons by an advisory lock), and closes the pool
/// afterwards. A daemon can instead run ``run()`` in its `ServiceGroup` and call ``migrate()`` before serving.
///
/// The password from the ``PostgresLocation`` goes to the driver only; every message this type writes names the
/// location's redacted ``PostgresLocation/description``.
public final class PostgresStore: Sendable {
    /// Where it connects (redacted when printed).
    public let location: PostgresLocation
    let client: PostgresClient
    let logger: Logger
    /// How long one call may wait for a connection and its answer before it fails as a ``StoreFault`` (the pool
    /// waits for a connection for as long as the server is away; the engine must hear `store_failure` instead).
    public let callTimeout: Duration

    /// The NOTIFY channel of job changes.
    static let jobChannel = "atelier_job"

    /// A store over a new connection pool (not running until ``run()``).
    /// - Parameters:
    ///   - maximumConnections: the pool's size (each daemon's share of the server's `max_connections`; a
    ///     ``withJobNotices(_:)`` listener holds one for as long as it listens).
    ///   - callTimeout: how long one call may wait for a connection and its answer.
    public init(location: PostgresLocation, maximumConnections: Int = 16, callTimeout: Duration = .seconds(10), logger: Logger) {
        self.location = location
        self.logger = logger
        self.callTimeout = callTimeout
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database,
            tls: Self.tls(location.sslMode))
        configuration.options.maximumConnections = max(2, maximumConnections)
        configuration.options.connectTimeout = .seconds(10)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    static func tls(_ mode: PostgresLocation.SSLMode) -> PostgresClient.Configuration.TLS {
        var unverified = TLSConfiguration.makeClientConfiguration()
        unverified.certificateVerification = .none
        switch mode {
        case .disable: return .disable
        case .prefer: return .prefer(unverified)
        case .require: return .require(unverified)
        case .verifyFull: return .require(.makeClientConfiguration())
        }
    }

    /// Runs the connection pool until the calling task is cancelled (a `ServiceGroup` member, or ``withStore``).
    public func run() async {
        await client.run()
    }

    /// Runs a store for `location` around `body`: pool started, schema migrated, pool closed afterwards (also when
    /// `body` throws).
    public static func withStore<T: Sendable>(
        _ location: PostgresLocation, maximumConnections: Int = 16, callTimeout: Duration = .seconds(10), logger: Logger,
        _ body: (PostgresStore) async throws -> T
    ) async throws -> T {
        let store = PostgresStore(location: location, maximumConnections: maximumConnections, callTimeout: callTimeout, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            do {
                try await store.checkConnection()
                try await store.migrate()
                let value = try await body(store)
                group.cancelAll()
                return value
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    /// Runs `body` in one transaction on one pooled connection (BEGIN … COMMIT; ROLLBACK when it throws), within
    /// ``callTimeout``. The error thrown is `body`'s own when it failed (not the driver's transaction wrapper).
    ///
    /// A call that times out during its COMMIT has an unknown outcome, as with any networked database: callers
    /// treat the fault like any other and retry idempotently (inserts are idempotent; state changes are fenced).
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = self.client
        let logger = self.logger
        return try await withinDeadline {
            do {
                return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            } catch let error as PostgresTransactionError {
                throw error.closureError ?? error.commitError ?? error.beginError ?? error
            }
        }
    }

    /// Runs `operation`, failing with a ``StoreFault`` (and cancelling it) when it takes longer than ``callTimeout``.
    func withinDeadline<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = callTimeout
        let location = self.location
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StoreFault(message: "the PostgreSQL store \(location) did not answer within \(timeout)")
            }
            return value
        }
    }

    /// Opens one connection outside the pool and closes it: throws at once when the server is unreachable or refuses
    /// the credentials. (The pool itself retries failed connections in the background and lets queries wait for
    /// one, so a wrong password would otherwise look like a hang; call this at start.)
    public func checkConnection() async throws {
        let tls: PostgresConnection.Configuration.TLS
        switch location.sslMode {
        case .disable: tls = .disable
        case .prefer, .require, .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            if location.sslMode != .verifyFull { configuration.certificateVerification = .none }
            let context = try NIOSSLContext(configuration: configuration)
            tls = location.sslMode == .prefer ? .prefer(context) : .require(context)
        }
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password, database: location.database, tls: tls)
        configuration.options.connectTimeout = .seconds(10)
        let connection = try await PostgresConnection.connect(
            on: PostgresClient.defaultEventLoopGroup.next(), configuration: configuration, id: 0, logger: logger
        ).get()
        try await connection.close()
    }

    /// Runs `query` and returns its rows, mapped here. On `connection` (inside a caller's transaction, whose deadline
    /// covers it) or on a pooled connection within ``callTimeout``.
    func rows<T>(_ query: PostgresQuery, on connection: PostgresConnection? = nil, _ map: (PostgresRandomAccessRow) throws -> T) async throws -> [T] {
        let fetched: [PostgresRow]
        if let connection {
            fetched = try await Self.collect(connection.query(query, logger: logger))
        } else {
            let client = self.client
            let logger = self.logger
            fetched = try await withinDeadline { try await Self.collect(client.query(query, logger: logger)) }
        }
        return try fetched.map { try map($0.makeRandomAccess()) }
    }

    /// Every row of a result.
    private static func collect(_ sequence: PostgresRowSequence) async throws -> [PostgresRow] {
        var out: [PostgresRow] = []
        for try await row in sequence { out.append(row) }
        return out
    }

    /// Runs a statement whose rows do not matter.
    func execute(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws {
        _ = try await rows(query, on: connection) { _ in () }
    }
}

extension PostgresRandomAccessRow {
    /// The value of column `name`, decoded; a store error naming the column when it cannot be.
    func get<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        do { return try self[name].decode(T.self) } catch {
            throw AtelierError(.storeFailure, "unreadable column \(name) in the store (\(String(describing: T.self)) expected)")
        }
    }
}

extension PostgresQuery {
    /// Appends ` AND <condition> $n` to the query with `value` bound as its next parameter `n` (`condition` is SQL
    /// written here, such as `"seq <"`; only `value` comes from outside).
    mutating func and<Value: PostgresNonThrowingEncodable>(_ condition: String, _ value: Value) {
        sql += " AND \(condition) $\(binds.count + 1)"
        binds.append(value)
    }
}
