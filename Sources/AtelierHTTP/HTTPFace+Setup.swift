import AtelierCore
import AtelierEngine
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
    /// created 0700 when missing), and the job-event metrics observer subscribed to the engine for the life of the
    /// process. `onToken` sees the token first (the daemon adds it to the log scrubber).
    /// - Throws: the file error when the token cannot be written.
    public static func make(
        address: HTTPBindAddress, socketPath: String, engine: Engine, delivery: DeliveryService?, logger: Logger,
        onToken: @Sendable (String) -> Void = { _ in }
    ) async throws -> HTTPFace {
        let token = BearerToken()
        onToken(token.value)
        let tokenPath = BearerToken.path(socketPath: socketPath)
        try await BlockingWork.run {
            let dir = (socketPath as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try BearerToken.writePrivate(token.value, to: tokenPath)
        }
        let metrics = AtelierMetrics()
        _ = JobMetricsObserver(events: engine.events, metrics: metrics)
        let sampler = MetricsSampler(engine: engine, delivery: delivery, metrics: metrics)
        logger.info("http: token written", metadata: ["path": "\(tokenPath)"])
        return HTTPFace(
            configuration: .init(address: address, socketPath: socketPath), engine: engine, metrics: metrics, sampler: sampler, token: token,
            logger: logger)
    }
}
