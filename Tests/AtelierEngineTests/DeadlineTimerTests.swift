import AtelierCore
import AtelierTestSupport
import Testing

@testable import AtelierEngine

/// The shared timer behind the waits' timeouts: callbacks at their deadlines in order, none after a cancel, an
/// earlier deadline honoured although a later one was being slept for, and cancelled entries not kept for good.
@Suite("deadline timer")
struct DeadlineTimerTests {
    @Test func callbacksRunAtTheirDeadlinesInOrderAndNeverAfterACancel() async throws {
        let clock = AtelierClock.manual()
        let timer = DeadlineTimer(clock: clock)
        let fired = Locked<[Int]>([])
        _ = timer.schedule(after: .seconds(30)) { fired.withLock { $0.append(30) } }
        // Earlier than what the timer sleeps for: it must be woken for it.
        _ = timer.schedule(after: .seconds(20)) { fired.withLock { $0.append(20) } }
        let cancelled = timer.schedule(after: .seconds(25)) { fired.withLock { $0.append(25) } }
        timer.cancel(cancelled)
        #expect(timer.pendingCount == 2)
        clock.advance(by: .seconds(19))
        clock.advance(by: .seconds(2))
        try await eventually(timeout: .seconds(10), "the 20 s callback runs") { fired.withLock { $0 } == [20] }
        #expect(timer.pendingCount == 1)
        clock.advance(by: .seconds(5))  // past the cancelled one's deadline
        clock.advance(by: .seconds(5))
        try await eventually(timeout: .seconds(10), "the 30 s callback runs") { fired.withLock { $0 } == [20, 30] }
        #expect(timer.pendingCount == 0)
        // Scheduled again after everything ran: a new sleeper.
        _ = timer.schedule(after: .seconds(1)) { fired.withLock { $0.append(1) } }
        clock.advance(by: .seconds(1))
        try await eventually(timeout: .seconds(10), "a callback scheduled after the timer went idle runs") {
            fired.withLock { $0 } == [20, 30, 1]
        }
    }

    @Test func manyCancelledEntriesAreDroppedAndTheLiveOnesStillRun() async throws {
        let clock = AtelierClock.manual()
        let timer = DeadlineTimer(clock: clock)
        let fired = Locked<Int>(0)
        var tokens: [DeadlineTimer.Token] = []
        for i in 0..<5000 {
            tokens.append(timer.schedule(after: .seconds(Int64(60 + i % 7))) { fired.withLock { $0 += 1 } })
        }
        for t in tokens.dropLast(3) { timer.cancel(t) }
        #expect(timer.pendingCount == 3)
        clock.advance(by: .seconds(120))
        try await eventually(timeout: .seconds(10), "the three live callbacks run") { fired.withLock { $0 } == 3 }
        #expect(timer.pendingCount == 0)
    }
}
