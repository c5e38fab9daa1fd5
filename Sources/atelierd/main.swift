import ArgumentParser
import AtelierCore
import AtelierEngine
import AtelierProviders
import AtelierRPC
import AtelierServer
import Foundation
import Logging
import ServiceLifecycle

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

    @Option(help: "Commit durability: full (survives power loss) or normal (survives a daemon crash).")
    var durability: String = "full"

    @Option(help: "Largest accepted frame in bytes.")
    var maxFrameBytes: Int = 64 << 20

    @Option(help: "Seconds a graceful shutdown waits for running provider calls.")
    var shutdownGrace: Double = 20

    @Flag(help: "Accept and store jobs but do not start them (maintenance, benchmarks).")
    var hold = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env ATELIER_LOG_LEVEL).")
    var logLevel: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let level = Logger.Level(rawValue: logLevel ?? env["ATELIER_LOG_LEVEL"] ?? "info") ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        var logger = Logger(label: "atelierd")
        logger.logLevel = level

        guard let durabilityMode = Durability(rawValue: durability) else {
            throw ValidationError("--durability must be full or normal")
        }
        let socketPath = socket ?? DefaultPaths.socket(environment: env)
        let dataDirectory = dataDir ?? DefaultPaths.dataDirectory(environment: env)
        let providersDir = providers ?? DefaultPaths.providers(environment: env)
        let routingFile = routing ?? DefaultPaths.routing(environment: env)

        let catalog: Catalog
        let policy: RoutingPolicy
        do {
            catalog = try CatalogLoader.load(directory: providersDir)
            policy = try RoutingPolicy.load(path: routingFile, catalog: catalog)
        } catch {
            FileHandle.standardError.write(Data("atelierd: configuration error:\n\(error.description)\n".utf8))
            throw ExitCode(78)
        }

        let files = ResultFiles(root: dataDirectory)
        try files.prepare()
        let store = try JobStore(path: files.databasePath, durability: durabilityMode)
        let transport = AsyncHTTPTransport()
        let registry = ProviderRegistry(catalog: catalog, environment: env) { config, credentials in
            config.kind == .local
                ? LocalProvider(id: config.id) : NetworkProviders.make(config: config, credentials: credentials, transport: transport)
        }
        let engine = Engine(
            configuration: EngineConfiguration(dataDirectory: dataDirectory, durability: durabilityMode, shutdownGraceSeconds: shutdownGrace, hold: hold),
            store: store, catalog: catalog, policy: policy, registry: registry, transport: transport, logger: logger)
        let server = SocketServer(
            configuration: SocketServerConfiguration(socketPath: socketPath, maxFrameBytes: maxFrameBytes),
            services: DaemonServices(engine: engine), logger: logger)

        let available = catalog.models.filter { registry.entry($0.provider)?.unavailable == nil }.map(\.id)
        logger.info(
            "starting",
            metadata: [
                "version": "\(AtelierVersion.current)", "dataDir": "\(dataDirectory)", "providers": "\(providersDir)", "routing": "\(routingFile)",
                "models": "\(catalog.models.count)", "available": "\(available.joined(separator: ","))",
            ])

        let daemon = DaemonService(engine: engine, server: server, transport: transport, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [daemon], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}

/// Runs the engine and the socket server, and stops them in order on SIGTERM/SIGINT: stop accepting, drain
/// running provider calls (or persist them for the next start), close connections.
struct DaemonService: Service {
    let engine: Engine
    let server: SocketServer
    let transport: AsyncHTTPTransport
    let logger: Logger

    func run() async throws {
        do {
            try await engine.start()
            try await server.start()
        } catch {
            await transport.shutdown()
            throw error
        }
        try? await gracefulShutdown()
        logger.info("graceful shutdown: closing the socket")
        await server.stopAccepting()
        await engine.shutdown()
        await server.closeConnections()
        await transport.shutdown()
    }
}
