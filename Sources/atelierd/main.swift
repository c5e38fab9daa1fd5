import ArgumentParser
import AtelierCore
import AtelierEngine
import AtelierHTTP
import AtelierOperations
import AtelierProviders
import AtelierRPC
import AtelierServer
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `atelierd`: the Atelier daemon.
@main
struct Atelierd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atelierd",
        abstract: "Routes image-generation jobs across providers; serves JSON-RPC 2.0 (NDJSON) on a Unix-domain socket.",
        version: AtelierVersion.current)

    @Option(help: "Socket path (env ATELIER_SOCKET; default $XDG_RUNTIME_DIR/atelier/atelierd.sock or /tmp/atelier-$UID/atelierd.sock).")
    var socket: String?

    @Option(help: "Data directory for the store and images (env ATELIER_DATA_DIR; default $XDG_STATE_HOME/atelier or ~/.local/state/atelier).")
    var dataDir: String?

    @Option(help: "Directory of provider files (env ATELIER_PROVIDERS; default ./providers).")
    var providers: String?

    @Option(help: "Routing policy file (env ATELIER_ROUTING; default ./routing.json).")
    var routing: String?

    @Option(
        help:
            "Store URL (env ATELIER_STORE): sqlite: (default, the data directory's file) or sqlite:PATH; postgres://user:pass@host:port/db?sslmode=… runs this daemon as one of a cluster sharing that database (and --data-dir)."
    )
    var store: String?

    @Option(help: "This daemon's id in a PostgreSQL cluster (env ATELIER_DAEMON_ID; default host-pid-random, new at every start).")
    var daemonId: String?

    @Option(help: "Seconds a claim holds a job in a PostgreSQL cluster before another daemon may take it over (renewed while it runs).")
    var leaseSeconds: Double = 15

    @Option(
        help:
            "Seconds between a PostgreSQL cluster daemon's full reads of the unfinished jobs it shows waiters (catches notices lost while disconnected; events arrive by notice in between)."
    )
    var reconcileSeconds: Double = 5

    @Option(help: "Commit durability: full (survives power loss) or normal (survives a daemon crash).")
    var durability: String = "full"

    @Option(
        help:
            "SQLite store, under load: the least milliseconds between two commits, so that each carries more writes (fewer fsyncs per job); a lone writer never waits. 0 turns it off."
    )
    var commitIntervalMs: Double = 2

    @Option(help: "Largest accepted frame in bytes.")
    var maxFrameBytes: Int = 64 << 20

    @Option(help: "Most requests in one batch; a larger batch is refused with -32600 batch_too_large.")
    var maxBatch: Int = 1000

    @Option(help: "Seconds a graceful shutdown waits for running provider calls.")
    var shutdownGrace: Double = 20

    @Flag(help: "Accept and store jobs but do not start them (maintenance, benchmarks).")
    var hold = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env ATELIER_LOG_LEVEL).")
    var logLevel: String?

    @Option(help: "Log format: text, or json for one JSON object per line (env ATELIER_LOG_FORMAT).")
    var logFormat: String?

    @OptionGroup(title: "Delivery (webhooks and uploads)")
    var delivery: DeliveryOptions

    @Option(
        name: .customLong("http"), help: "Serve HTTP on HOST:PORT: /metrics, /healthz and a token-protected API (env ATELIER_HTTP; loopback only).")
    var http: String?

    @Flag(help: "Let --http bind a non-loopback address.")
    var httpAllowRemote = false

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let level = Logger.Level(rawValue: logLevel ?? env["ATELIER_LOG_LEVEL"] ?? "info") ?? .info
        let secrets = LogSecrets(environment: env)
        switch logFormat ?? env["ATELIER_LOG_FORMAT"] ?? "text" {
        case "json": LoggingSystem.bootstrap { label in JSONLogHandler(label: label, secrets: secrets, logLevel: level) }
        case "text":
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            }
        default: throw ValidationError("--log-format must be text or json")
        }
        var logger = Logger(label: "atelierd")
        logger.logLevel = level

        guard let durabilityMode = Durability(rawValue: durability) else {
            throw ValidationError("--durability must be full or normal")
        }
        // The store comes first: a bad URL or an unsupported kind stops here, before anything is opened. Messages
        // show the URL with its password replaced.
        let storeLocation: StoreLocation
        do { storeLocation = try StoreLocation.resolve(flag: store, environment: env) } catch {
            FileHandle.standardError.write(Data("atelierd: --store: \(error)\n".utf8))
            throw ExitCode(64)
        }
        guard leaseSeconds >= 1 else { throw ValidationError("--lease-seconds must be at least 1") }
        guard commitIntervalMs.isFinite, (0...100).contains(commitIntervalMs) else {
            throw ValidationError("--commit-interval-ms must be between 0 and 100")
        }
        guard reconcileSeconds >= 0.5 else { throw ValidationError("--reconcile-seconds must be at least 0.5") }
        let socketPath = socket ?? DefaultPaths.socket(environment: env)
        let dataDirectory = dataDir ?? DefaultPaths.dataDirectory(environment: env)
        let providersDir = providers ?? DefaultPaths.providers(environment: env)
        let routingFile = routing ?? DefaultPaths.routing(environment: env)

        // The address policy of every outbound fetch; a bad range is a usage error, before any client exists.
        let addressPolicy = try delivery.addressPolicy()
        let httpAddress: HTTPBindAddress?
        do throws(AtelierError) { httpAddress = try HTTPFace.bindAddress(flag: http, environment: env, allowRemote: httpAllowRemote) } catch {
            throw ValidationError(error.message)
        }
        let outbox = try delivery.makeOutbox()
        // Provider calls go to operator-configured hosts; any redirect they answer with obeys the address policy.
        // Reference images are fetched under the same policy on every hop. Both clients are shut down here, on
        // every path, once everything that uses them has stopped.
        let transport = AsyncHTTPTransport(redirectGuard: AddressGuard(policy: addressPolicy))
        let egress = EgressHTTPTransport(addressGuard: AddressGuard(policy: addressPolicy))
        do {
            try await serve(
                transport: transport, egress: egress, addressPolicy: addressPolicy, outbox: outbox, durability: durabilityMode,
                storeLocation: storeLocation, socketPath: socketPath, httpAddress: httpAddress, logSecrets: secrets,
                dataDirectory: dataDirectory, providersDir: providersDir, routingFile: routingFile, environment: env, logger: logger)
        } catch {
            await transport.shutdown()
            await egress.shutdown()
            throw error
        }
        await transport.shutdown()
        await egress.shutdown()
        logger.info("stopped")
    }

    /// Loads the configuration, opens the store, and serves until a graceful shutdown.
    ///
    /// Start-up file and database work (configuration files, the data directory, opening and migrating the store,
    /// the webhook secret) runs on NIO's thread pool like every other blocking call: nothing blocks a Swift
    /// concurrency thread, not even before the socket is served (docs/architecture.md, "Never block the
    /// cooperative pool").
    private func serve(
        transport: AsyncHTTPTransport, egress: EgressHTTPTransport, addressPolicy: AddressPolicy, outbox: DeliveryOutbox, durability: Durability,
        storeLocation: StoreLocation, socketPath: String, httpAddress: HTTPBindAddress?, logSecrets: LogSecrets, dataDirectory: String,
        providersDir: String,
        routingFile: String, environment env: [String: String], logger: Logger
    ) async throws {
        let source = ConfigSource(providersDirectory: providersDir, routingFile: routingFile, environment: env) { config, credentials in
            config.kind == .local
                ? LocalProvider(id: config.id) : NetworkProviders.make(config: config, credentials: credentials, transport: transport)
        }
        let catalog: Catalog
        let policy: RoutingPolicy
        let registry: ProviderRegistry
        do {
            (catalog, policy, registry) = try await source.loadOffPool()
        } catch {
            FileHandle.standardError.write(Data("atelierd: configuration error:\n\(error.description)\n".utf8))
            throw ExitCode(78)
        }

        LargeBufferMemory.apply()  // megabyte result bodies are returned to the system when their job ends
        let setup = ServeSetup(
            catalog: catalog, policy: policy, registry: registry, source: source, egress: egress, addressPolicy: addressPolicy, outbox: outbox,
            durability: durability, socketPath: socketPath, httpAddress: httpAddress, logSecrets: logSecrets, dataDirectory: dataDirectory,
            providersDir: providersDir, routingFile: routingFile, environment: env, logger: logger)
        switch storeLocation {
        case .sqlite(let storePath):
            let files = ResultFiles(root: dataDirectory)
            let commitSpacing = CommitSpacing(interval: .microseconds(Int((commitIntervalMs * 1000).rounded())))
            let store: JobStore
            do {
                store = try await BlockingWork.run {
                    try files.prepare()
                    return try JobStore(
                        path: storePath ?? files.databasePath, durability: durability, hooks: [outbox], commitSpacing: commitSpacing)
                }
            } catch {
                FileHandle.standardError.write(Data("atelierd: cannot open the data directory \(dataDirectory): \(error)\n".utf8))
                throw ExitCode(73)
            }
            try await run(setup, jobs: store, sqlite: store)
        case .postgres(let location):
            let daemonID = daemonId ?? env["ATELIER_DAEMON_ID"] ?? ClusterConfiguration.newDaemonID()
            // The data directory is shared by the cluster: this daemon's scratch files live under tmp/<daemonID>/.
            let files = ResultFiles(root: dataDirectory, daemonID: daemonID)
            do {
                try await BlockingWork.run {
                    try files.prepare()
                    try files.checkWritable()
                }
            } catch {
                FileHandle.standardError.write(Data("atelierd: cannot open the data directory \(dataDirectory): \(error)\n".utf8))
                throw ExitCode(73)
            }
            var connected = false
            do {
                try await PostgresStore.withStore(location, logger: logger) { store in
                    connected = true
                    logger.info("store", metadata: ["kind": "postgres", "location": "\(location)", "daemon": "\(daemonID)"])
                    try await run(setup, jobs: PostgresJobStore(store: store, daemonID: daemonID, outbox: outbox), sqlite: nil)
                }
            } catch  where !connected {
                // The location prints with its password replaced; the server's own reason (e.g. a refused password,
                // with its SQLSTATE) is shown, the driver's errors never carry the password.
                let reason = StoreFault.postgresDescription(error, location: location)
                FileHandle.standardError.write(Data("atelierd: cannot open the PostgreSQL store: \(reason)\n".utf8))
                throw ExitCode(69)
            }
        }
    }

    /// Everything ``run(_:jobs:sqlite:)`` needs besides the store.
    private struct ServeSetup {
        var catalog: Catalog
        var policy: RoutingPolicy
        var registry: ProviderRegistry
        var source: ConfigSource
        var egress: EgressHTTPTransport
        var addressPolicy: AddressPolicy
        var outbox: DeliveryOutbox
        var durability: Durability
        var socketPath: String
        var httpAddress: HTTPBindAddress?
        var logSecrets: LogSecrets
        var dataDirectory: String
        var providersDir: String
        var routingFile: String
        var environment: [String: String]
        var logger: Logger
    }

    /// Builds the engine and its services over an opened store and serves until a graceful shutdown. `sqlite` is
    /// the SQLite store in SQLite mode (workflows and deliveries live in its file); nil in PostgreSQL mode.
    private func run(_ setup: ServeSetup, jobs: any JobStoring, sqlite: JobStore?) async throws {
        let (catalog, policy, registry, source, egress, outbox) = (
            setup.catalog, setup.policy, setup.registry, setup.source, setup.egress, setup.outbox
        )
        let (socketPath, httpAddress, logSecrets, dataDirectory, env, logger) = (
            setup.socketPath, setup.httpAddress, setup.logSecrets, setup.dataDirectory, setup.environment, setup.logger
        )
        let (providersDir, routingFile) = (setup.providersDir, setup.routingFile)
        var engineConfiguration = EngineConfiguration(
            dataDirectory: dataDirectory, durability: setup.durability, shutdownGraceSeconds: shutdownGrace, hold: hold)
        engineConfiguration.taskChecks = [outbox, ReferenceAddressCheck(policy: setup.addressPolicy)]
        engineConfiguration.cluster.leaseSeconds = leaseSeconds
        engineConfiguration.cluster.heartbeatSeconds = min(2, leaseSeconds / 4)
        engineConfiguration.cluster.reconcileSeconds = reconcileSeconds
        let engine = Engine(
            configuration: engineConfiguration,
            store: jobs, catalog: catalog, policy: policy, registry: registry, transport: egress, logger: logger)
        let workflows: WorkflowService
        let deliveryService: DeliveryService
        if let sqlite {
            workflows = WorkflowService(engine: engine, store: WorkflowStore(jobs: sqlite, hooks: [outbox]), logger: logger)
            deliveryService = try await delivery.makeService(
                outbox: outbox, backing: .sqlite(sqlite), engine: engine, dataDirectory: dataDirectory, environment: env, logger: logger)
        } else if let shared = jobs as? PostgresJobStore {
            workflows = WorkflowService(engine: engine, store: PostgresWorkflowStore(store: shared.store, outbox: outbox), logger: logger)
            deliveryService = try await delivery.makeService(
                outbox: outbox, backing: .postgres(shared.store, daemonID: shared.daemonID), engine: engine, dataDirectory: dataDirectory,
                environment: env, logger: logger)
        } else {
            throw ValidationError("unsupported store")
        }
        let services = DaemonServices(engine: engine, configSource: source).adding(workflows: workflows).adding(delivery: deliveryService)
        let server = SocketServer(
            configuration: SocketServerConfiguration(socketPath: socketPath, maxFrameBytes: maxFrameBytes, maxBatchRequests: max(1, maxBatch)),
            services: services, logger: logger)

        let available = catalog.models.filter { registry.entry($0.provider)?.unavailable == nil }.map(\.id)
        logger.info(
            "starting",
            metadata: [
                "version": "\(AtelierVersion.current)", "dataDir": "\(dataDirectory)", "providers": "\(providersDir)", "routing": "\(routingFile)",
                "models": "\(catalog.models.count)", "available": "\(available.joined(separator: ","))",
            ])

        let daemon = DaemonService(engine: engine, server: server, logger: logger, workflows: workflows)
        let hangup = ReloadOnHangup(engine: engine, source: source, logger: logger)
        var running: [any Service] = [deliveryService, daemon, hangup]
        if let httpAddress {
            do {
                running.append(
                    try await HTTPFace.make(
                        address: httpAddress, socketPath: socketPath, engine: engine, delivery: deliveryService, workflows: workflows,
                        dataDirectory: dataDirectory, commitTimings: sqlite?.database.commitTimings, environment: env, logger: logger,
                        onToken: { logSecrets.add($0) }))
            } catch {
                FileHandle.standardError.write(Data("atelierd: cannot write the HTTP token next to \(socketPath): \(error)\n".utf8))
                throw ExitCode(73)
            }
        }
        let group = ServiceGroup(
            configuration: .init(services: running, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Runs the engine and the socket server, and stops them in order on SIGTERM/SIGINT: stop accepting, drain
/// running provider calls (or persist them for the next start), close connections.
struct DaemonService: Service {
    let engine: Engine
    let server: SocketServer
    let logger: Logger
    /// Started after the engine (it reconciles workflows against the recovered jobs), stopped after it drains.
    var workflows: WorkflowService? = nil

    func run() async throws {
        try await engine.start()
        try await workflows?.start()
        try await server.start()
        SystemdNotifier.notify("READY=1\nMAINPID=\(getpid())")  // Type=notify units: the socket listens
        try? await gracefulShutdown()
        SystemdNotifier.notify("STOPPING=1")
        logger.info("graceful shutdown: closing the socket")
        await server.stopAccepting()
        await engine.shutdown()
        await workflows?.stop()
        await server.closeConnections()
    }
}

/// SIGHUP: re-read providers and routing, validate everything, swap atomically; a bad file changes nothing.
struct ReloadOnHangup: Service {
    let engine: Engine
    let source: ConfigSource
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading configuration")
            SystemdNotifier.notify("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotifier.monotonicMicroseconds)")
            do { _ = try await engine.reload(from: source) } catch {
                logger.error("reload rejected; the running configuration is unchanged", metadata: ["error": "\(error.message)"])
            }
            SystemdNotifier.notify("READY=1")
        }
    }
}

/// `atelierd`'s delivery flags (webhooks and uploads; see docs/delivery.md).
struct DeliveryOptions: ParsableArguments {
    @Option(help: "Webhook attempt schedule: waits before each attempt, e.g. 0,5s,5m,30m,2h,5h,10h,10h (the default).")
    var webhookRetrySchedule: String?

    @Option(help: "Upload attempt schedule (default 0,2s,10s,1m,5m,15m,30m).")
    var uploadRetrySchedule: String?

    @Option(help: "Random spread of each retry wait, as a fraction (0.1 = ±10%).")
    var deliveryJitter: Double = 0.1

    @Option(help: "Seconds one webhook attempt may take.")
    var webhookTimeout: Double = 15

    @Option(help: "Seconds one upload attempt may take.")
    var uploadTimeout: Double = 300

    @Option(help: "Delivery attempts in flight to one host at once.")
    var deliveryPerHost: Int = 16

    @Option(help: "Delivery attempts in flight in total.")
    var deliveryConcurrency: Int = 256

    @Option(
        name: [.customLong("egress-allow"), .customLong("delivery-allow")],
        help:
            "An address range outbound fetches (deliveries, reference images) may reach even if denied (CIDR, e.g. 169.254.10.0/24). Repeatable; --delivery-allow is an alias."
    )
    var egressAllow: [String] = []

    @Option(
        name: [.customLong("egress-deny"), .customLong("delivery-deny")],
        help:
            "An address range outbound fetches (deliveries, reference images) may not reach, besides link-local and cloud metadata (CIDR, e.g. 10.0.0.0/8). Repeatable; --delivery-deny is an alias."
    )
    var egressDeny: [String] = []

    /// The address policy of every outbound fetch (deliveries and reference images); a bad range is a usage error.
    func addressPolicy() throws -> AddressPolicy {
        func ranges(_ list: [String], _ name: String) throws -> [CIDR] {
            try list.map { t in
                guard let c = CIDR(t) else { throw ValidationError("--\(name) must be an address or CIDR range, not '\(t)'") }
                return c
            }
        }
        return AddressPolicy(allow: try ranges(egressAllow, "egress-allow"), extraDeny: try ranges(egressDeny, "egress-deny"))
    }

    /// The delivery settings; flag mistakes are usage errors.
    func configuration() throws -> DeliveryConfiguration {
        func schedule(_ text: String?, _ name: String, _ fallback: RetrySchedule) throws -> RetrySchedule {
            guard let text else { return RetrySchedule(delays: fallback.delays, jitter: deliveryJitter) }
            guard let s = RetrySchedule.parse(text, jitter: deliveryJitter) else {
                throw ValidationError("--\(name) must be a comma-separated list of waits such as 0,5s,5m,2h")
            }
            return s
        }
        guard (0...1).contains(deliveryJitter) else { throw ValidationError("--delivery-jitter must be between 0 and 1") }
        guard webhookTimeout > 0, uploadTimeout > 0 else { throw ValidationError("delivery timeouts must be positive") }
        return DeliveryConfiguration(
            webhookSchedule: try schedule(webhookRetrySchedule, "webhook-retry-schedule", .webhookDefault),
            uploadSchedule: try schedule(uploadRetrySchedule, "upload-retry-schedule", .uploadDefault),
            webhookTimeoutSeconds: webhookTimeout, uploadTimeoutSeconds: uploadTimeout, perHostConcurrency: deliveryPerHost,
            maxConcurrency: deliveryConcurrency,
            addressPolicy: try addressPolicy())
    }

    /// The outbox hook for the store (create before opening it).
    func makeOutbox() throws -> DeliveryOutbox { DeliveryOutbox(configuration: try configuration()) }

    /// Where the delivery outbox lives.
    enum Backing {
        /// The SQLite store's file (one daemon).
        case sqlite(JobStore)
        /// The cluster's database: rows claimed under this daemon's leases, so another daemon delivers a dead one's.
        case postgres(PostgresStore, daemonID: String)
    }

    /// The delivery worker, with the webhook secret from ATELIER_WEBHOOK_SECRET or the data directory (generated
    /// there on first start; read and written on NIO's thread pool). Exits 78 when the secret is unusable.
    func makeService(
        outbox: DeliveryOutbox, backing: Backing, engine: Engine, dataDirectory: String, environment: [String: String], logger: Logger
    ) async throws -> DeliveryService {
        let loaded: Result<(WebhookSecret, WebhookSecret.Source), AtelierError>
        do {
            loaded = try await BlockingWork.run {
                do throws(AtelierError) { return .success(try WebhookSecret.load(dataDirectory: dataDirectory, environment: environment)) } catch {
                    return .failure(error)
                }
            }
        } catch {
            loaded = .failure(AtelierError(.unavailable, "the file thread pool is not running"))
        }
        let secret: WebhookSecret
        let source: WebhookSecret.Source
        switch loaded {
        case .success(let s): (secret, source) = s
        case .failure(let error):
            FileHandle.standardError.write(Data("atelierd: webhook secret: \(error.message)\n".utf8))
            throw ExitCode(78)
        }
        switch backing {
        case .sqlite(let store):
            return DeliveryService(
                outbox: outbox, jobStore: store, secret: secret, secretSource: source, cache: engine.cache, events: engine.events, logger: logger)
        case .postgres(let store, let daemonID):
            return DeliveryService(
                outbox: outbox, store: PostgresOutbox(store: store, owner: daemonID, configuration: try configuration()),
                jobs: { try await store.job($0) }, secret: secret, secretSource: source, cache: engine.cache, events: engine.events, logger: logger)
        }
    }
}
