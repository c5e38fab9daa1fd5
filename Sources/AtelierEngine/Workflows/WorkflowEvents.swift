import AtelierCore
import Synchronization

/// Something that happened to a workflow (published after the change is committed).
public struct WorkflowEvent: Sendable {
    public var event: WorkflowEventKind
    /// The workflow after the change.
    public var workflow: Workflow

    public init(event: WorkflowEventKind, workflow: Workflow) {
        self.event = event
        self.workflow = workflow
    }

    /// `{event, workflowUUID, state, workflow}` — what a webhook posts (to the workflow's `webhookURL`).
    public var json: JSONValue {
        [
            "event": .string(event.rawValue), "workflowUUID": .string(workflow.workflowUUID), "state": .string(workflow.state.rawValue),
            "workflow": workflow.json(includeJobs: false),
        ]
    }
}

/// Fans workflow events out to in-process listeners: `workflow.wait`, and the webhook sender (which delivers
/// `workflow.*` events to `workflow.spec.webhookURL`; for delivery that survives a crash, attach a
/// ``WorkflowWriteHook`` to the ``WorkflowStore`` instead, which runs inside the state change's transaction).
///
/// Sinks are called synchronously on the publishing task and must not block.
public final class WorkflowEventBus: Sendable {
    /// A registration; pass it to ``unsubscribe(_:)``.
    public struct Token: Hashable, Sendable { let raw: UInt64 }

    private struct Subscriber: Sendable {
        var workflowUUID: String?
        var sink: @Sendable (WorkflowEvent) -> Void
    }

    private let state = Mutex<(next: UInt64, subscribers: [UInt64: Subscriber])>((1, [:]))

    public init() {}

    /// Calls `sink` for every event of workflow `workflowUUID`, or of every workflow when nil.
    public func subscribe(workflowUUID: String?, _ sink: @escaping @Sendable (WorkflowEvent) -> Void) -> Token {
        state.withLock { s in
            let id = s.next
            s.next += 1
            s.subscribers[id] = Subscriber(workflowUUID: workflowUUID, sink: sink)
            return Token(raw: id)
        }
    }

    public func unsubscribe(_ token: Token) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: token.raw) }
    }

    public func publish(_ event: WorkflowEvent) {
        let sinks = state.withLock { s in
            s.subscribers.values.filter { $0.workflowUUID == nil || $0.workflowUUID == event.workflow.workflowUUID }.map(\.sink)
        }
        for sink in sinks { sink(event) }
    }
}
