import AtelierCore

/// Waits between polls of an asynchronous API and enforces the total deadline and cancellation, on the injected
/// clock (tests pass a manual clock that advances on each sleep, so a whole polling schedule runs at once).
struct PollWaiter {
    let clock: AtelierClock
    let backoff: PollBackoff
    let deadline: AtelierClock.Instant
    let total: Duration
    var polls = 0

    init(clock: AtelierClock, backoff: PollBackoff, total: Duration) {
        self.clock = clock
        self.backoff = backoff
        self.total = total
        self.deadline = clock.now.advanced(by: total)
    }

    /// A waiter with the polling settings and total deadline of `configuration`.
    init(_ configuration: ProviderClientConfiguration) {
        self.init(
            clock: configuration.polling.clock, backoff: configuration.polling.backoff, total: .seconds(configuration.totalTimeoutSeconds))
    }

    /// Sleeps before the next poll. Throws `timeout` when the deadline would pass, `cancelled` when the job was
    /// cancelled or the sleep was interrupted.
    mutating func wait(context: GenerationContext, what: String) async throws(ProviderError) {
        if context.isCancelled { throw ProviderError(.cancelled, "cancelled while waiting for \(what)") }
        let remaining = clock.now.duration(to: deadline)
        if remaining <= .zero {
            throw ProviderError(.timeout, "\(what) did not finish within \(Self.format(total)) s")
        }
        let d = min(backoff.delay(beforePoll: polls), remaining)
        polls += 1
        do { try await clock.sleep(for: d) } catch {
            throw ProviderError(.cancelled, "cancelled while waiting for \(what)")
        }
        if context.isCancelled { throw ProviderError(.cancelled, "cancelled while waiting for \(what)") }
    }

    /// Seconds as written in messages: `600`, or `0.5`.
    static func format(_ d: Duration) -> String {
        let s = d.inSeconds
        return s.rounded() == s ? String(Int(s)) : String(s)
    }
}
