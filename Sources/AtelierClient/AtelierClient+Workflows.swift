import AtelierCore
import AtelierRPC

extension AtelierClient {
    /// `workflow.submit`: starts a workflow from a request (the members of docs/protocol.md, or ``WorkflowSpec/json``).
    public func submitWorkflow(_ request: JSONValue) async throws -> WorkflowDocument {
        try WorkflowDocument(await call(RPCMethod.workflowSubmit, params: request))
    }

    /// `workflow.get`.
    public func workflow(_ workflowUUID: String) async throws -> WorkflowDocument {
        try WorkflowDocument(await call(RPCMethod.workflowGet, params: ["workflowUUID": .string(workflowUUID)]))
    }

    /// `workflow.wait`: the workflow once it rests (awaiting a selection, or finished), or as it is when the timeout passes.
    public func waitWorkflow(_ workflowUUID: String, timeoutSeconds: Double) async throws -> WorkflowDocument {
        try WorkflowDocument(
            await call(RPCMethod.workflowWait, params: ["workflowUUID": .string(workflowUUID), "timeoutSeconds": .number(timeoutSeconds)]))
    }

    /// `workflow.select`: finishes the variant whose image is `imageUUID`.
    public func selectVariant(_ workflowUUID: String, imageUUID: String) async throws -> WorkflowDocument {
        try WorkflowDocument(
            await call(RPCMethod.workflowSelect, params: ["workflowUUID": .string(workflowUUID), "imageUUID": .string(imageUUID)]))
    }

    /// `workflow.cancel`: cancels the workflow and its unfinished jobs.
    public func cancelWorkflow(_ workflowUUID: String) async throws -> WorkflowDocument {
        try WorkflowDocument(await call(RPCMethod.workflowCancel, params: ["workflowUUID": .string(workflowUUID)]))
    }

    /// `workflow.list`: workflow summaries, newest first; `nextCursor` continues the list.
    public func workflows(
        state: WorkflowState? = nil, limit: Int = 50, cursor: String? = nil
    ) async throws -> (workflows: [WorkflowSummary], nextCursor: String?) {
        let page = try await listPage(
            RPCMethod.workflowList, "workflows", filters: ["state": state.map { .string($0.rawValue) }], limit: limit, cursor: cursor)
        return (try page.items.map { w throws(AtelierClientError) in try WorkflowSummary(w) }, page.nextCursor)
    }
}
