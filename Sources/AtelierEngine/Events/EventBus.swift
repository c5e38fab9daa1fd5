import AtelierCore
import Synchronization

/// Fans job events out to subscribers (socket connections, waiters, delivery).
///
/// Subscribers are called synchronously on the publishing task and must not block; the socket server's sink
/// only enqueues a write on its channel.
public final class EventBus: Sendable {
    /// A registration; pass it to ``unsubscribe(_:)``.
    public struct Token: Hashable, Sendable { let raw: UInt64 }

    private struct Subscriber: Sendable {
        var taskUUID: String?
        var sink: @Sendable (JobEvent) -> Void
    }

    private let state = Mutex<(next: UInt64, subscribers: [UInt64: Subscriber])>((1, [:]))

    public init() {}

    /// Calls `sink` for every event of job `taskUUID`, or of every job when nil.
    public func subscribe(taskUUID: String?, _ sink: @escaping @Sendable (JobEvent) -> Void) -> Token {
        state.withLock { s in
            let id = s.next
            s.next += 1
            s.subscribers[id] = Subscriber(taskUUID: taskUUID, sink: sink)
            return Token(raw: id)
        }
    }

    /// Stops a subscription.
    public func unsubscribe(_ token: Token) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: token.raw) }
    }

    /// The number of live subscriptions.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Delivers `event` to the matching subscribers.
    public func publish(_ event: JobEvent) {
        let sinks = state.withLock { s in
            s.subscribers.values.filter { $0.taskUUID == nil || $0.taskUUID == event.job.taskUUID }.map(\.sink)
        }
        for sink in sinks { sink(event) }
    }
}
