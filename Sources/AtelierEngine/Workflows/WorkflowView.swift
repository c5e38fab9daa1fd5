import AtelierCore

/// A workflow with the live job of each submitted stage: what `workflow.submit`, `.get`, `.wait`, `.select` and
/// `.cancel` answer. The server renders it (``Workflow/json(jobs:includeJobs:)``).
public struct WorkflowView: Sendable {
    /// The workflow.
    public var workflow: Workflow
    /// The stage jobs known so far, by taskUUID (a stage not yet submitted has none).
    public var jobs: [String: Job]

    /// `workflow` with its stage `jobs`.
    public init(workflow: Workflow, jobs: [String: Job]) {
        self.workflow = workflow
        self.jobs = jobs
    }
}

/// One page of `workflow.list`: workflows newest first, and where the next page starts.
public struct WorkflowPage: Sendable {
    /// The workflows (their current state).
    public var workflows: [Workflow]
    /// The cursor of the next page; nil on the last one.
    public var nextCursor: Int64?

    /// A page of `workflows`, continued at `nextCursor`.
    public init(workflows: [Workflow], nextCursor: Int64?) {
        self.workflows = workflows
        self.nextCursor = nextCursor
    }
}
