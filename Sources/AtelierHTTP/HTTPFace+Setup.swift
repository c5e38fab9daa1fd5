import AtelierCore
import AtelierEngine
import AtelierServer
import Foundation
import Logging

extension HTTPFace {
    /// What `--http` / `ATELIER_HTTP` and `--http-allow-remote` ask for: the checked bind address, or nil when the face
    /// is off.
    /// - Throws: ``AtelierError`` `invalid_value` for a malformed or (without `allowRemote`) non-loopback address.
    public static func bindAddress(flag: String?, environment: [String: String], allowRemote: Bool) throws(AtelierError) -> HTTPBindAddress? {
        guard let text = flag ?? environment["ATELIER_HTTP"], !text.isEmpty else { return nil }
        let parsed = try HTTPBindAddress(parsing: text)
        try check(address: parsed, allowRemote: allowRemote)
        return parsed
    }

    /// The face for a daemon: a fresh token written 0600 next to the socket (on NIO's thread pool; the directory is
    /// created 0700 when missing), the console's files read into memory, and the job-event metrics observer
    /// subscribed to the engine for the life of the process. `onToken` sees the token first (the daemon adds it to the
    /// log scrubber). `workflows` serves the console's Workflows page; `dataDirectory` is where images are served from;
    /// `commitTimings` feeds the store commit latency histogram; `ATELIER_METRICS_COST_TAG` in `environment` names the
    /// tag whose values label spend (``AtelierMetrics/Name/costByTag``).
    /// - Throws: the file error when the token cannot be written.
    public static func make(
        address: HTTPBindAddress, socketPath: String, engine: Engine, delivery: DeliveryService?, workflows: WorkflowService? = nil,
        dataDirectory: String? = nil, commitTimings: StoreCommitTimings? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger, onToken: @Sendable (String) -> Void = { _ in }
    ) async throws -> HTTPFace {
        let token = BearerToken()
        onToken(token.value)
        let tokenPath = BearerToken.path(socketPath: socketPath)
        let console = try await BlockingWork.run {
            let dir = (socketPath as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try BearerToken.writePrivate(token.value, to: tokenPath)
            return ConsoleAssets.load()
        }
        if console.directory == nil {
            logger.warning("http: the console's files were not found; /console/ answers 404 (see docs/operations.md, \"The console\")")
        }
        let metrics = AtelierMetrics()
        let costTag = environment["ATELIER_METRICS_COST_TAG"].flatMap { $0.isEmpty ? nil : $0 }
        _ = JobMetricsObserver(events: engine.events, metrics: metrics, costTag: costTag)
        commitTimings?.observe { [metrics] seconds, _, committed in
            metrics.record(
                AtelierMetrics.Name.storeCommit, [("outcome", committed ? "committed" : "failed")],
                duration: .nanoseconds(Int64(seconds * 1e9)))
        }
        let sampler = MetricsSampler(engine: engine, delivery: delivery, metrics: metrics)
        logger.info("http: token written", metadata: ["path": "\(tokenPath)"])
        var services = DaemonServices(engine: engine)
        if let workflows { services = services.adding(workflows: workflows) }
        if let delivery { services = services.adding(delivery: delivery) }
        return HTTPFace(
            configuration: .init(address: address, socketPath: socketPath, dataDirectory: dataDirectory), services: services, metrics: metrics,
            sampler: sampler, token: token, console: console, logger: logger)
    }
}
