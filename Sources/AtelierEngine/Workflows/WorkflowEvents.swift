import AtelierCore

/// Something that happened to a workflow (published after the change is committed).
public struct WorkflowEvent: SubjectEvent {
    public var event: WorkflowEventKind
    /// The workflow after the change.
    public var workflow: Workflow
    /// True when another daemon of the cluster made the change (PostgreSQL mode): this daemon shows it to its own
    /// listeners; the webhook is owed (and its outbox row written) by the daemon that made it.
    public var remote: Bool
    /// The workflow's id.
    public var subject: String { workflow.workflowUUID }

    /// An event about `workflow`; `remote` when another daemon made the change.
    public init(event: WorkflowEventKind, workflow: Workflow, remote: Bool = false) {
        self.event = event
        self.workflow = workflow
        self.remote = remote
    }

    /// `{event, workflowUUID, state, workflow}` — what a webhook posts (to the workflow's `webhookURL`).
    public var json: JSONValue {
        [
            "event": .string(event.rawValue), "workflowUUID": .string(workflow.workflowUUID), "state": .string(workflow.state.rawValue),
            "workflow": workflow.json(includeJobs: false),
        ]
    }
}
