import AtelierCore
import AtelierEngine
import Testing

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

    @Test func firstReturnsNilAtOnceWhenAlreadySettled() async {
        let bus = EventBus<Note>()
        let clock = ContinuousClock()
        let start = clock.now
        let found = await bus.first(of: "a", timeout: .seconds(600), where: { _ in true }, unlessSettled: { true })
        #expect(found == nil)
        #expect(clock.now - start < .seconds(300), "a settled wait must not sit out its timeout")
        #expect(bus.subscriberCount == 0)
    }

    @Test func firstReturnsNilWhenTheTimeoutPasses() async {
        let bus = EventBus<Note>()
        let found = await bus.first(of: "a", timeout: .milliseconds(20), where: { _ in true }, unlessSettled: { false })
        #expect(found == nil)
        #expect(bus.subscriberCount == 0)
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
