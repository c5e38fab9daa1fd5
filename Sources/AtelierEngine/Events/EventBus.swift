import AtelierCore
import Synchronization

/// Something that happened to a job.
public struct JobEvent: Sendable {
    /// What kind of change: `queued`, `running`, `attempt`, `result`, `succeeded`, `failed`, `cancelled`.
    public var event: String
    /// The job after the change.
    public var job: Job
    /// The image this event is about (`result` events).
    public var result: JobResult?

    public init(event: String, job: Job, result: JobResult? = nil) {
        self.event = event
        self.job = job
        self.result = result
    }

    /// The `job.event` notification params: `{taskUUID, status, event, result?, job}`.
    public var json: JSONValue {
        var o: JSONObject = ["taskUUID": .string(job.taskUUID), "status": .string(job.status.rawValue), "event": .string(event)]
        o.append("result", ifPresent: result?.json)
        o.append("job", job.json)
        return .object(o)
    }
}

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
