import AtelierCore
import AtelierProviders
import Synchronization

/// Bounds whole HTTP exchanges — a request and the reading of its entire answer — by the request's `timeoutSeconds`,
/// all on one sleeping task (``DeadlineTimer``).
///
/// Why: AsyncHTTPClient's deadline covers a request only until the answer's head arrives; the body is then bounded by
/// the read timeout alone (300 s between two bytes), so an upstream whose body stalls would hold the job (and its
/// provider slot) for five minutes, and one trickling bytes for ever. The daemon's transports run each exchange
/// through ``run(_:_:)``: at the deadline the exchange's task is cancelled and the call ends in `timeout`; cancelling
/// the caller cancels it too.
final class ExchangeDeadlines: Sendable {
    private let timer: DeadlineTimer

    /// Deadlines on `clock`.
    init(clock: AtelierClock = .live) {
        self.timer = DeadlineTimer(clock: clock)
    }

    /// Runs `body` within `request.timeoutSeconds`; past it, throws `timeout` naming the request's URL (redacted).
    func run<T: Sendable>(_ request: HTTPRequest, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await run(timeoutSeconds: request.timeoutSeconds, url: request.url, body)
    }

    /// Runs `body` within `timeoutSeconds`; past it, throws `timeout` naming `url` (redacted).
    func run<T: Sendable>(timeoutSeconds: Double, url: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timedOut = Mutex(false)
        let task = Task { try await body() }
        let token = timer.schedule(after: .milliseconds(Int64(timeoutSeconds * 1000))) {
            timedOut.withLock { $0 = true }
            task.cancel()
        }
        defer { timer.cancel(token) }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch {
            if timedOut.withLock({ $0 }) { throw ProviderError(.timeout, "request to \(URLCheck.redacted(url)) timed out") }
            throw error
        }
    }
}
