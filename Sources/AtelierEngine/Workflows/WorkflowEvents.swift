import AtelierCore

/// Something that happened to a workflow (published after the change is committed).
public struct WorkflowEvent: SubjectEvent {
    public var event: WorkflowEventKind
    /// The workflow after the change.
    public var workflow: Workflow
    /// The workflow's id.
    public var subject: String { workflow.workflowUUID }

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
