import Testing

@testable import AtelierCore

@Suite("AtelierClock")
struct AtelierClockTests {
    static let start = Timestamp(milliseconds: 1_750_000_000_123)

    @Test("instants convert to and from wall-clock timestamps, truncating towards the past")
    func instantTimestamp() {
        #expect(AtelierClock.Instant(Self.start).timestamp == Self.start)
        #expect(AtelierClock.Instant(sinceEpoch: .microseconds(1_999)).timestamp.milliseconds == 1)
        #expect(AtelierClock.Instant(sinceEpoch: .microseconds(-1)).timestamp.milliseconds == -1)
        #expect(AtelierClock.Instant(sinceEpoch: .milliseconds(-2)).timestamp.milliseconds == -2)
        let a = AtelierClock.Instant(Self.start)
        #expect(a.advanced(by: .seconds(2)).duration(to: a) == .seconds(-2))
        #expect(a < a.advanced(by: .nanoseconds(1)))
    }

    @Test("durations convert to seconds and milliseconds")
    func durationConversions() {
        #expect(Duration.milliseconds(1500).inSeconds == 1.5)
        #expect(Duration.seconds(2.0004).inMilliseconds == 2000)
        #expect(Duration.microseconds(2_600).inMilliseconds == 3)
        #expect(Duration.seconds(-1).inMilliseconds == -1000)
    }

    @Test("the live clock follows the wall clock and never runs backwards")
    func liveClock() async throws {
        let clock = AtelierClock.live
        #expect(!clock.isManual)
        let a = clock.now
        let b = clock.now
        #expect(a <= b)
        #expect(abs(clock.timestamp.milliseconds - Timestamp.now().milliseconds) < 1000)
        // Deadlines already reached return at once.
        try await clock.sleep(for: .zero)
        try await clock.sleep(until: a)
        try await clock.sleep(until: Timestamp(milliseconds: 0))
        #expect(clock.now >= b)
    }

    @Test("a cancelled live sleep throws CancellationError")
    func liveCancellation() async {
        let sleeper = Task { try await AtelierClock.live.sleep(for: .seconds(3600)) }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
    }

    @Test("a manual clock starts where it is told and moves only when advanced")
    func manualNow() {
        let clock = AtelierClock.manual(startingAt: Self.start)
        #expect(clock.isManual)
        #expect(clock.timestamp == Self.start)
        clock.advance(by: .milliseconds(1500))
        #expect(clock.timestamp.milliseconds == Self.start.milliseconds + 1500)
        clock.advance(by: .seconds(-10))
        #expect(clock.timestamp.milliseconds == Self.start.milliseconds + 1500)
        clock.advance(to: AtelierClock.Instant(Self.start))
        #expect(clock.timestamp.milliseconds == Self.start.milliseconds + 1500)
        clock.advance(to: AtelierClock.Instant(Timestamp(milliseconds: Self.start.milliseconds + 5000)))
        #expect(clock.timestamp.milliseconds == Self.start.milliseconds + 5000)
    }

    @Test("a manual sleeper wakes only when time reaches its deadline", .timeLimit(.minutes(1)))
    func manualSleeperWakes() async throws {
        let clock = AtelierClock.manual(startingAt: Self.start)
        let sleeper = Task { try await clock.sleep(for: .seconds(10)) }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(9))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        try await sleeper.value
        #expect(clock.sleeperCount == 0)
        #expect(clock.recordedSleeps == [.seconds(10)])
    }

    @Test("sleepers on a wall-clock deadline wake in deadline order as time passes", .timeLimit(.minutes(1)))
    func manualWallDeadlines() async throws {
        let clock = AtelierClock.manual(startingAt: Self.start)
        let late = Task { try await clock.sleep(until: Timestamp(milliseconds: Self.start.milliseconds + 5000)) }
        let early = Task { try await clock.sleep(until: Timestamp(milliseconds: Self.start.milliseconds + 2000)) }
        await clock.waitForSleepers(2)
        clock.advance(by: .seconds(3))
        try await early.value
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(2))
        try await late.value
        #expect(clock.sleeperCount == 0)
        // A deadline already past returns at once.
        try await clock.sleep(until: Self.start)
    }

    @Test("cancelling a manual sleeper throws CancellationError and removes it", .timeLimit(.minutes(1)))
    func manualCancellation() async {
        let clock = AtelierClock.manual(startingAt: Self.start)
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        await clock.waitForSleepers(1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
        // A task cancelled before it sleeps does not sleep at all.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(for: .seconds(1))
        }
        await #expect(throws: CancellationError.self) { try await early.value }
    }

    @Test("an auto-advancing manual clock moves time by each sleep and returns at once, recording the sleeps")
    func autoAdvance() async throws {
        let clock = AtelierClock.manual(startingAt: Self.start, advancesOnSleep: true)
        try await clock.sleep(for: .milliseconds(500))
        try await clock.sleep(for: .seconds(1.5))
        #expect(clock.timestamp.milliseconds == Self.start.milliseconds + 2000)
        try await clock.sleep(until: Timestamp(milliseconds: Self.start.milliseconds + 3000))
        #expect(clock.timestamp.milliseconds == Self.start.milliseconds + 3000)
        try await clock.sleep(for: .zero)
        #expect(clock.recordedSleeps == [.milliseconds(500), .milliseconds(1500), .seconds(1), .zero])
        clock.advance(by: .seconds(1))
        #expect(clock.timestamp.milliseconds == Self.start.milliseconds + 4000)
    }

    @Test("waitForSleepers returns when its task is cancelled", .timeLimit(.minutes(1)))
    func waitForSleepersCancellation() async {
        let clock = AtelierClock.manual()
        let waiter = Task { await clock.waitForSleepers(1) }
        waiter.cancel()
        await waiter.value
        #expect(clock.sleeperCount == 0)
    }
}
