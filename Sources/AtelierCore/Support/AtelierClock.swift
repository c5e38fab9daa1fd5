import Foundation

/// The daemon's one clock: a Swift `Clock` measured in `Duration` whose instants are also wall-clock times.
///
/// Everything that waits or reads the time — the engine's retry waits, the providers' polling, webhook retry
/// schedules, event-bus timeouts — takes an `AtelierClock` (injected, defaulting to ``live``), so tests control time
/// instead of waiting for it. It comes in two variants behind one type (no generic parameter to thread through the
/// engine):
///
/// - ``live``: real time. Instants are anchored once to the system's wall clock and then follow the monotonic
///   `ContinuousClock`, so durations measured on it never run backwards; a step of the system clock after the
///   daemon started is not followed (NTP's gradual slewing is).
/// - ``manual(startingAt:advancesOnSleep:)``: time that moves only when a test says so (``advance(by:)``), or — with
///   `advancesOnSleep` — jumps forward by whatever each sleeper asks for, so a polling loop runs its whole virtual
///   schedule at once. The manual variant records every requested sleep (``recordedSleeps``).
///
/// The three uses it serves:
///
/// ```swift
/// try await clock.sleep(for: .seconds(1.5))          // a retry delay or a poll interval
/// try await clock.sleep(until: Timestamp(milliseconds: nextAttemptMs))   // a stored wall-clock deadline
/// let nowMs = clock.timestamp.milliseconds             // "now" in milliseconds since the epoch
/// ```
///
/// Like `Task.sleep`, every sleep throws `CancellationError` when its task is cancelled.
public struct AtelierClock: Clock, Sendable {
    /// The clock's unit of elapsed time.
    public typealias Duration = Swift.Duration

    /// A point in time on the clock, held as the time elapsed since 1970-01-01T00:00:00Z.
    public struct Instant: InstantProtocol, Sendable, Hashable, Comparable {
        /// The clock's unit of elapsed time.
        public typealias Duration = Swift.Duration

        /// Time since the Unix epoch.
        public var sinceEpoch: Duration

        /// The instant `sinceEpoch` after the Unix epoch.
        public init(sinceEpoch: Duration) { self.sinceEpoch = sinceEpoch }

        /// The instant of a wall-clock time.
        public init(_ timestamp: Timestamp) { self.sinceEpoch = .milliseconds(timestamp.milliseconds) }

        /// The wall-clock time of this instant, truncated to the millisecond (towards the past).
        public var timestamp: Timestamp {
            let (seconds, attoseconds) = sinceEpoch.components
            let attoPerMs: Int64 = 1_000_000_000_000_000
            var ms = attoseconds / attoPerMs
            if attoseconds < 0 && attoseconds % attoPerMs != 0 { ms -= 1 }
            return Timestamp(milliseconds: seconds * 1000 + ms)
        }

        /// This instant moved by `duration`.
        public func advanced(by duration: Duration) -> Instant { Instant(sinceEpoch: sinceEpoch + duration) }

        /// The time from this instant to `other` (negative when `other` is earlier).
        public func duration(to other: Instant) -> Duration { other.sinceEpoch - sinceEpoch }

        /// Earlier instants order first.
        public static func < (a: Instant, b: Instant) -> Bool { a.sinceEpoch < b.sinceEpoch }
    }

    /// Where the time comes from.
    enum Source: Sendable {
        /// Real time, anchored once.
        case live(LiveAnchor)
        /// Test time.
        case manual(ManualTime)
    }

    let source: Source

    init(source: Source) { self.source = source }

    /// Real time (see the type's description). Anchored to the wall clock the first time it is used.
    public static let live = AtelierClock(source: .live(LiveAnchor()))

    /// A test clock that starts at `start` and moves only through ``advance(by:)``/``advance(to:)`` or, when
    /// `advancesOnSleep` is true, by the length of each sleep (which then returns at once).
    ///
    /// - Parameters:
    ///   - start: the wall-clock time of the clock's first instant (default 2023-11-14T22:13:20Z).
    ///   - advancesOnSleep: whether a sleep moves time to its deadline instead of waiting for ``advance(by:)``.
    public static func manual(
        startingAt start: Timestamp = Timestamp(milliseconds: 1_700_000_000_000), advancesOnSleep: Bool = false
    )
        -> AtelierClock
    {
        AtelierClock(source: .manual(ManualTime(start: Instant(start), advancesOnSleep: advancesOnSleep)))
    }

    /// The current instant.
    public var now: Instant {
        switch source {
        case .live(let anchor): anchor.now
        case .manual(let time): time.now
        }
    }

    /// The current wall-clock time (milliseconds since the epoch).
    public var timestamp: Timestamp { now.timestamp }

    /// The smallest step the clock can measure.
    public var minimumResolution: Duration {
        switch source {
        case .live: ContinuousClock().minimumResolution
        case .manual: .nanoseconds(1)
        }
    }

    /// Whether this is a test clock (``manual(startingAt:advancesOnSleep:)``).
    public var isManual: Bool {
        if case .manual = source { return true }
        return false
    }

    /// Returns at `deadline` (at once when it has passed). Throws `CancellationError` when the task is cancelled
    /// first.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        switch source {
        case .live(let anchor):
            try await ContinuousClock().sleep(until: anchor.continuousInstant(of: deadline), tolerance: tolerance)
        case .manual(let time):
            try await time.sleep(until: deadline, from: nil)
        }
    }

    /// Returns after `duration` (at once when it is zero or negative). Throws `CancellationError` when the task is
    /// cancelled first.
    ///
    /// On the manual clock the deadline is taken from `now` atomically with the sleep, so concurrent sleepers on an
    /// auto-advancing clock each move time by exactly what they asked for.
    public func sleep(for duration: Duration, tolerance: Duration? = nil) async throws {
        switch source {
        case .live:
            try await ContinuousClock().sleep(for: duration, tolerance: tolerance)
        case .manual(let time):
            try await time.sleep(until: nil, from: duration)
        }
    }

    /// Returns at the wall-clock time `timestamp` (at once when it has passed). Throws `CancellationError` when the
    /// task is cancelled first.
    public func sleep(until timestamp: Timestamp) async throws {
        try await sleep(until: Instant(timestamp), tolerance: nil)
    }
}

/// The live clock's tie between the wall clock and the monotonic clock, taken once.
final class LiveAnchor: Sendable {
    /// Wall-clock time at the anchor.
    let wall: Duration
    /// The monotonic clock at the same moment.
    let monotonic: ContinuousClock.Instant

    init() {
        monotonic = ContinuousClock.now
        // Whole microseconds: Date's resolution on Linux (gettimeofday-backed).
        wall = .microseconds(Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
    }

    /// The current instant: the anchor's wall time plus the monotonic time elapsed since.
    var now: AtelierClock.Instant {
        AtelierClock.Instant(sinceEpoch: wall + monotonic.duration(to: ContinuousClock.now))
    }

    /// The monotonic instant at which `instant` falls.
    func continuousInstant(of instant: AtelierClock.Instant) -> ContinuousClock.Instant {
        monotonic.advanced(by: instant.sinceEpoch - wall)
    }
}
