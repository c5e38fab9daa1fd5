import AtelierCore
import AtelierTestSupport
import Testing

@testable import AtelierEngine

/// The event bus shared by jobs and workflows: subject filtering, and waiting for the first matching event.
@Suite("event bus")
struct EventBusTests {
    struct Note: SubjectEvent {
        var subject: String
        var value: Int
    }

    @Test func subscribersSeeTheirSubjectOrEverything() {
        let bus = EventBus<Note>()
        let ofA = Locked<[Int]>([])
        let ofAll = Locked<[Int]>([])
        let one = bus.subscribe("a") { n in ofA.withLock { $0.append(n.value) } }
        let all = bus.subscribe(nil) { n in ofAll.withLock { $0.append(n.value) } }
        bus.publish(Note(subject: "a", value: 1))
        bus.publish(Note(subject: "b", value: 2))
        bus.unsubscribe(one)
        bus.publish(Note(subject: "a", value: 3))
        bus.unsubscribe(all)
        bus.publish(Note(subject: "a", value: 4))
        #expect(ofA.withLock { $0 } == [1])
        #expect(ofAll.withLock { $0 } == [1, 2, 3])
        #expect(bus.subscriberCount == 0)
    }

    @Test func firstReturnsTheFirstMatchingEventOfItsSubject() async {
        let bus = EventBus<Note>()
        // `unlessSettled` runs once the subscription is in place: events published then are not missed.
        let found = await bus.first(of: "a", timeout: .seconds(60), where: { $0.value > 1 }) {
            bus.publish(Note(subject: "b", value: 5))  // another subject
            bus.publish(Note(subject: "a", value: 1))  // does not match
            bus.publish(Note(subject: "a", value: 2))
            bus.publish(Note(subject: "a", value: 3))
            return false
        }
        #expect(found?.value == 2)
        #expect(bus.subscriberCount == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func manyConcurrentWaitsEachGetTheirEventOrTheirTimeoutAndLeaveNothingBehind() async throws {
        // On the real clock, through the shared timer: 200 waits at once, the even ones answered by an event published
        // once every wait is subscribed (their timeout, 60 s, never comes first), the odd ones timing out after
        // 1–40 ms while events and other timeouts fire around them.
        let bus = EventBus<Note>()
        let registered = Locked<Int>(0)
        let results = try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            for i in 0..<200 {
                group.addTask {
                    let timeout: Duration = i.isMultiple(of: 2) ? .seconds(60) : .milliseconds(1 + i % 40)
                    let event = await bus.first(of: "s\(i)", timeout: timeout, where: { _ in true }) {
                        registered.withLock { $0 += 1 }
                        return false
                    }
                    return (i, event?.value)
                }
            }
            try await eventually(timeout: .seconds(30), "every wait is subscribed") { registered.withLock { $0 } == 200 }
            for i in stride(from: 0, to: 200, by: 2) { bus.publish(Note(subject: "s\(i)", value: i)) }
            var out: [Int: Int?] = [:]
            for try await (i, v) in group { out[i] = v }
            return out
        }
        #expect(results.count == 200)
        for (i, v) in results {
            #expect(v == (i.isMultiple(of: 2) ? i : nil), "wait \(i)")
        }
        #expect(bus.pendingTimeouts == 0, "every timeout fired or was dropped")
        #expect(bus.subscriberCount == 0)
    }

    @Test func firstReturnsNilAtOnceWhenAlreadySettled() async {
        // A manual clock that nobody advances: a wait that sat out its timeout would never return.
        let clock = AtelierClock.manual()
        let bus = EventBus<Note>(clock: clock)
        let found = await bus.first(of: "a", timeout: .seconds(600), where: { _ in true }, unlessSettled: { true })
        #expect(found == nil)
        #expect(clock.recordedSleeps.isEmpty, "a settled wait must not sit out its timeout")
        #expect(bus.subscriberCount == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func firstReturnsNilWhenTheTimeoutPassesOnTheBusClock() async {
        let clock = AtelierClock.manual()
        let bus = EventBus<Note>(clock: clock)
        let waiter = Task { await bus.first(of: "a", timeout: .seconds(30), where: { _ in true }, unlessSettled: { false }) }
        await clock.waitForSleepers(1)
        #expect(clock.recordedSleeps == [.seconds(30)])
        clock.advance(by: .seconds(29))
        #expect(clock.sleeperCount == 1, "still waiting one second before its timeout")
        clock.advance(by: .seconds(1))
        #expect(await waiter.value == nil)
        #expect(bus.subscriberCount == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func anEventBeforeTheTimeoutEndsTheWait() async throws {
        let clock = AtelierClock.manual()
        let bus = EventBus<Note>(clock: clock)
        let waiter = Task { await bus.first(of: "a", timeout: .seconds(30), where: { _ in true }, unlessSettled: { false }) }
        await clock.waitForSleepers(1)
        bus.publish(Note(subject: "a", value: 7))
        #expect(await waiter.value?.value == 7)
        #expect(bus.pendingTimeouts == 0, "the wait's timeout is dropped with it")
        #expect(bus.subscriberCount == 0)
        // The shared timer wakes at the dropped deadline, finds nothing to run and goes idle.
        clock.advance(by: .seconds(30))
        try await eventually(timeout: .seconds(10), "the timer goes idle") { clock.sleeperCount == 0 }
    }

    @Test func settledErrorsAreThrown() async {
        struct Gone: Error {}
        let bus = EventBus<Note>()
        await #expect(throws: Gone.self) {
            _ = try await bus.first(of: "a", timeout: .seconds(600), where: { _ in true }, unlessSettled: { () throws(Gone) -> Bool in throw Gone() })
        }
        #expect(bus.subscriberCount == 0)
    }
}
