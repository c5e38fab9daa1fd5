import AtelierCore
import Logging

/// Runs a store write until it commits: a store fault (disk full, I/O error, busy past the timeout) is retried with
/// capped exponential backoff, so the work it records waits in place and continues by itself once the store accepts
/// writes again (docs/architecture.md, "Store faults"). The engine's job state changes and the workflow service's
/// state changes both go through it.
///
/// Writes must happen even when the calling task was cancelled (shutdown, a caller's cancel): GRDB refuses to start
/// work in a cancelled task, so the operation and the waits run through ``withoutCancellation(_:)``.
struct StoreRetry: Sendable {
    /// The first wait after a fault, in seconds; doubled after each further fault up to ``maxDelaySeconds``.
    let initialDelaySeconds: Double
    /// The longest wait between two tries.
    let maxDelaySeconds: Double
    /// Waits between tries (tests inject a clock).
    let sleep: @Sendable (Double) async throws -> Void
    /// The data directory, named in fault messages.
    let directory: String
    let logger: Logger

    /// The engine's retry settings.
    init(configuration: EngineConfiguration, logger: Logger) {
        self.initialDelaySeconds = configuration.storeRetryInitialDelaySeconds
        self.maxDelaySeconds = configuration.storeRetryMaxDelaySeconds
        self.sleep = { [clock = configuration.clock] in try await clock.sleep(for: .seconds($0)) }
        self.directory = configuration.dataDirectory
        self.logger = logger
    }

    /// Runs `operation` until it succeeds and returns its value.
    ///
    /// Errors other than store faults throw at once (an ``AtelierError`` as it is, anything else as `store_failure`);
    /// so does a fault once `stopping()` answers true (the daemon is shutting down: the work is recovered from its
    /// last committed state at the next start). `stopping` is read on the caller's actor before every retry.
    /// - Parameters:
    ///   - what: the write, for logs (e.g. "job state change").
    ///   - metadata: identifies the work in logs (e.g. its taskUUID).
    func untilStored<T: Sendable>(
        _ what: String, metadata: Logger.Metadata, isolation: isolated (any Actor)? = #isolation, stopping: () -> Bool,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws(AtelierError) -> T {
        var delay = initialDelaySeconds
        var failures = 0
        var meta = metadata
        meta["what"] = "\(what)"
        while true {
            do {
                let value = try await withoutCancellation(operation)
                if failures > 0 {
                    meta["retries"] = "\(failures)"
                    logger.notice("store accepts writes again", metadata: meta)
                }
                return value
            } catch {
                guard let fault = StoreFault(error, directory: directory), !stopping() else {
                    meta["error"] = "\(error)"
                    logger.error("store update failed", metadata: meta)
                    if let e = error as? AtelierError { throw e }
                    throw AtelierError(.storeFailure, "store update failed", retryable: true)
                }
                if failures == 0 {
                    var m = meta
                    m["fault"] = "\(fault)"
                    logger.error("store fault; retrying until it commits", metadata: m)
                }
                failures += 1
                let sleep = self.sleep
                let wait = delay
                _ = await withoutCancellation { try? await sleep(wait) }
                delay = min(delay * 2, maxDelaySeconds)
            }
        }
    }
}
