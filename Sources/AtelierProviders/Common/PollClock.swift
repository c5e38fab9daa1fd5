import AtelierCore

/// Time as the polling providers see it: a monotonic `now` and a `sleep`, both injectable so tests never wait.
///
/// Tests pass a virtual clock whose `sleep` advances `now`; the daemon uses ``live``.
public struct PollClock: Sendable {
    /// Sleeps for the given seconds. Throwing (cancellation) ends the wait; the provider reports `cancelled`.
    public var sleep: @Sendable (Double) async throws -> Void
    /// Monotonic seconds since an arbitrary origin.
    public var now: @Sendable () -> Double

    public init(sleep: @escaping @Sendable (Double) async throws -> Void, now: @escaping @Sendable () -> Double) {
        self.sleep = sleep
        self.now = now
    }

    /// Real time: `Task.sleep` and the continuous clock.
    public static let live: PollClock = {
        let origin = ContinuousClock.now
        return PollClock(
            sleep: { seconds in
                if seconds > 0 { try await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded()))) }
            },
            now: {
                let d = ContinuousClock.now - origin
                return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            })
    }()
}

/// An exponential polling cadence: `first`, then ×`factor` each time, never above `cap`.
public struct PollBackoff: Sendable, Equatable {
    public var first: Double
    public var factor: Double
    public var cap: Double

    public init(first: Double, factor: Double, cap: Double) {
        self.first = first
        self.factor = factor
        self.cap = cap
    }

    /// The delay before poll number `n` (0 = the first poll).
    public func delay(beforePoll n: Int) -> Double {
        var d = first
        var i = 0
        while i < n && d < cap {
            d *= factor
            i += 1
        }
        return min(d, cap)
    }

    /// Runware's cadence (the official SDK's): 1 s, ×1.5, at most 10 s.
    public static let runware = PollBackoff(first: 1, factor: 1.5, cap: 10)
    /// BFL's cadence: 0.5 s, ×1.5, at most 5 s (BFL images usually finish in seconds).
    public static let bfl = PollBackoff(first: 0.5, factor: 1.5, cap: 5)
}

/// Waits between polls and enforces the total deadline and cancellation.
struct PollWaiter {
    let clock: PollClock
    let backoff: PollBackoff
    let deadline: Double
    let totalSeconds: Double
    var polls = 0

    init(clock: PollClock, backoff: PollBackoff, totalSeconds: Double) {
        self.clock = clock
        self.backoff = backoff
        self.totalSeconds = totalSeconds
        self.deadline = clock.now() + totalSeconds
    }

    /// Sleeps before the next poll. Throws `timeout` when the deadline would pass, `cancelled` when the job was
    /// cancelled or the sleep was interrupted.
    mutating func wait(context: GenerationContext, what: String) async throws(ProviderError) {
        if context.isCancelled { throw ProviderError(.cancelled, "cancelled while waiting for \(what)") }
        let remaining = deadline - clock.now()
        if remaining <= 0 {
            throw ProviderError(.timeout, "\(what) did not finish within \(Self.format(totalSeconds)) s")
        }
        let d = min(backoff.delay(beforePoll: polls), remaining)
        polls += 1
        do { try await clock.sleep(d) } catch {
            throw ProviderError(.cancelled, "cancelled while waiting for \(what)")
        }
        if context.isCancelled { throw ProviderError(.cancelled, "cancelled while waiting for \(what)") }
    }

    var expired: Bool { clock.now() >= deadline }

    static func format(_ s: Double) -> String {
        s.rounded() == s ? String(Int(s)) : String(s)
    }
}
