import AtelierCore
import AtelierEngine
import AtelierServer
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The daemon's HTTP face (Hummingbird 2), a service of the daemon's `ServiceGroup` beside the Unix socket:
/// `/metrics` (Prometheus text exposition), `/healthz` (the engine's health) and the web console's static files
/// (`/console/`) without a token; everything else behind the bearer token (``BearerToken``): the console's API
/// (``HTTPFace/addAPI(to:)``), its event stream (``HTTPFace/addEvents(to:)``) and result images
/// (``HTTPFace/addImages(to:)``).
///
/// It binds loopback only unless remote binding is allowed (``check(address:allowRemote:)``). Once it listens, its
/// URL is written next to the socket (``BearerToken/urlPath(socketPath:)``) and logged as `http: serving`.
public struct HTTPFace: Service {
    /// What the face serves and where.
    public struct Configuration: Sendable {
        /// Where to listen.
        public var address: HTTPBindAddress
        /// The daemon's socket path: the token and URL files go next to it.
        public var socketPath: String
        /// The data directory: images are served only from its `images/` tree (nil: no images are served).
        public var dataDirectory: String?

        /// A configuration.
        public init(address: HTTPBindAddress, socketPath: String, dataDirectory: String? = nil) {
            self.address = address
            self.socketPath = socketPath
            self.dataDirectory = dataDirectory
        }
    }

    /// Paths served without the token (besides the console's files under ``ConsoleAssets/prefix``).
    public static let openPaths: Set<String> = ["/metrics", "/healthz", "/", "/console"]

    let configuration: Configuration
    let services: DaemonServices
    let sampler: MetricsSampler
    let metrics: AtelierMetrics
    let token: BearerToken
    let console: ConsoleAssets
    let logger: Logger
    var engine: Engine { services.engine }

    /// A face over `services` whose `/metrics` renders `metrics` after `sampler` updated the gauges, and whose
    /// console serves `console`.
    public init(
        configuration: Configuration, services: DaemonServices, metrics: AtelierMetrics, sampler: MetricsSampler, token: BearerToken,
        console: ConsoleAssets = ConsoleAssets(files: [:]), logger: Logger
    ) {
        self.configuration = configuration
        self.services = services
        self.metrics = metrics
        self.sampler = sampler
        self.token = token
        self.console = console
        self.logger = logger
    }

    /// Refuses a non-loopback address unless `allowRemote` (`--http-allow-remote`).
    /// - Throws: ``AtelierError`` `invalid_value` (field `--http`) naming the flag that would allow it.
    public static func check(address: HTTPBindAddress, allowRemote: Bool) throws(AtelierError) {
        guard address.isLoopback || allowRemote else {
            throw AtelierError(
                .invalidValue,
                "--http \(address) is not a loopback address; the HTTP face binds 127.0.0.1 or ::1 unless --http-allow-remote is given",
                field: "--http")
        }
    }

    /// The router: open paths, the token check, the console, the API.
    func router() -> Hummingbird.Router<BasicRequestContext> {
        let router = Hummingbird.Router()
        router.add(
            middleware: TokenMiddleware(token: token, openPaths: Self.openPaths, openPrefixes: [ConsoleAssets.prefix]))
        let sampler = self.sampler
        let metrics = self.metrics
        let engine = self.engine
        router.get("/metrics") { _, _ -> Response in
            await sampler.sample()
            return Response(
                status: .ok, headers: [.contentType: AtelierMetrics.contentType],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        router.get("/healthz") { _, _ -> Response in
            let health = await engine.health()
            let body: JSONValue = [
                "status": .string(health.isOK ? "ok" : "degraded"), "reasons": .array(health.reasons.map(JSONValue.string)),
                "version": .string(health.version), "uptimeSeconds": .number(health.uptimeSeconds), "queued": .int(Int64(health.queued)),
                "running": .int(Int64(health.running)), "draining": .bool(health.draining),
            ]
            return Self.json(body, status: health.isOK ? .ok : .serviceUnavailable)
        }
        addConsole(to: router)
        addAPI(to: router)
        addEvents(to: router)
        addImages(to: router)
        return router
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status) -> Response {
        var bytes = JSONWriter.bytes(value)
        bytes.append(0x0A)
        return Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Serves until a graceful shutdown of the group.
    public func run() async throws {
        let socketPath = configuration.socketPath
        let address = configuration.address
        let logger = self.logger
        // Hummingbird's own start-up line says "listening" before the Unix socket may: keep it below info.
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                let url = "http://\(HTTPBindAddress(host: address.host, port: port))/"
                do {
                    try await BlockingWork.run { try BearerToken.writePrivate(url, to: BearerToken.urlPath(socketPath: socketPath)) }
                } catch {
                    logger.error("http: cannot write the URL file", metadata: ["error": "\(error)"])
                }
                logger.info("http: serving", metadata: ["url": "\(url)"])
            },
            logger: serverLogger)
        try await app.run()
    }
}
