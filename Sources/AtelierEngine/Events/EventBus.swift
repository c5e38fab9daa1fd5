import AtelierCore
import Synchronization

/// An event about one subject (a job, a workflow), so that a listener can follow one subject's events.
public protocol SubjectEvent: Sendable {
    /// What the event is about: a taskUUID, a workflowUUID.
    var subject: String { get }
}

/// Fans events out to in-process subscribers: the engine's job events (``Engine/events``: socket subscriptions,
/// `job.wait`, delivery, workflows) and the workflow service's (``WorkflowService/events``: `workflow.wait`, tests).
/// Events are published after the change they report is committed. For consequences that must survive a crash, use a
/// write hook (``StoreWriteHook``, ``WorkflowWriteHook``), which runs inside the change's transaction, instead.
///
/// Subscribers are called synchronously on the publishing task and must not block; the socket server's sink only
/// enqueues a write on its channel.
public final class EventBus<Event: SubjectEvent>: Sendable {
    /// A registration; pass it to ``unsubscribe(_:)``.
    public struct Token: Hashable, Sendable { let raw: UInt64 }

    private struct Subscriber: Sendable {
        var subject: String?
        var sink: @Sendable (Event) -> Void
    }

    private let state = Mutex<(next: UInt64, subscribers: [UInt64: Subscriber])>((1, [:]))
    /// Times the waits of ``first(of:timeout:where:unlessSettled:)``.
    let clock: AtelierClock
    /// The waits' timeouts, all on one sleeping task (``DeadlineTimer``).
    private let timeouts: DeadlineTimer

    /// A bus without subscribers, whose waits time out on `clock`.
    public init(clock: AtelierClock = .live) {
        self.clock = clock
        self.timeouts = DeadlineTimer(clock: clock)
    }

    /// Calls `sink` for every event about `subject`, or about every subject when nil.
    public func subscribe(_ subject: String?, _ sink: @escaping @Sendable (Event) -> Void) -> Token {
        state.withLock { s in
            let id = s.next
            s.next += 1
            s.subscribers[id] = Subscriber(subject: subject, sink: sink)
            return Token(raw: id)
        }
    }

    /// Stops a subscription.
    public func unsubscribe(_ token: Token) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: token.raw) }
    }

    /// The number of waits' timeouts still scheduled (tests).
    var pendingTimeouts: Int { timeouts.pendingCount }

    /// The number of live subscriptions.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// True when a subscription names `subject` itself (subscriptions to every subject do not count).
    public func hasSubscribers(for subject: String) -> Bool {
        state.withLock { s in s.subscribers.values.contains { $0.subject == subject } }
    }

    /// Delivers `event` to the matching subscribers.
    public func publish(_ event: Event) {
        let sinks = state.withLock { s in
            s.subscribers.values.filter { $0.subject == nil || $0.subject == event.subject }.map(\.sink)
        }
        for sink in sinks { sink(event) }
    }

    /// Waits for the first event about `subject` that `matches`, for at most `timeout` on the bus's clock.
    ///
    /// `settled` is asked once the subscription is in place, so that nothing published in between is missed: when it
    /// answers true (the caller's condition already holds, e.g. the job finished before the wait began), this returns
    /// nil at once. The subscription ends when this returns, whichever way.
    /// - Returns: the event, or nil when `settled` answered true or the timeout passed first (read the subject's state
    ///   again then).
    public func first<E: Error>(
        of subject: String, timeout: Duration, where matches: @escaping @Sendable (Event) -> Bool,
        unlessSettled settled: () async throws(E) -> Bool
    ) async throws(E) -> Event? {
        let answer = FirstAnswer<Event>()
        let token = subscribe(subject) { event in
            if matches(event) { answer.resolve(event) }
        }
        defer { unsubscribe(token) }
        if try await settled() || timeout <= .zero { return nil }
        let timer = timeouts.schedule(after: timeout) { answer.resolve(nil) }
        defer { timeouts.cancel(timer) }
        return await withTaskCancellationHandler {
            await answer.value()
        } onCancel: {
            answer.resolve(nil)
        }
    }
}

/// The first of several possible answers (an event, a timeout, a cancellation), handed to one waiter.
private final class FirstAnswer<Event: Sendable>: Sendable {
    private struct State {
        var answer: Event??
        var waiter: CheckedContinuation<Event?, Never>?
    }

    private let state = Mutex(State())

    /// Sets the answer unless one is set already, and wakes the waiter.
    func resolve(_ value: Event?) {
        let waiter = state.withLock { s -> CheckedContinuation<Event?, Never>? in
            guard s.answer == nil else { return nil }
            s.answer = .some(value)
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: value)
    }

    /// The answer, once there is one.
    func value() async -> Event? {
        await withCheckedContinuation { (c: CheckedContinuation<Event?, Never>) in
            let ready = state.withLock { s -> Event?? in
                if let answer = s.answer { return .some(answer) }
                s.waiter = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}

extension EventBus where Event == JobEvent {
    /// Calls `sink` for every event of job `taskUUID`, or of every job when nil.
    public func subscribe(taskUUID: String?, _ sink: @escaping @Sendable (JobEvent) -> Void) -> Token {
        subscribe(taskUUID, sink)
    }
}

extension EventBus where Event == WorkflowEvent {
    /// Calls `sink` for every event of workflow `workflowUUID`, or of every workflow when nil.
    public func subscribe(workflowUUID: String?, _ sink: @escaping @Sendable (WorkflowEvent) -> Void) -> Token {
        subscribe(workflowUUID, sink)
    }
}
