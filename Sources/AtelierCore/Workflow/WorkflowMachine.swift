/// Something that happened to a workflow.
public enum WorkflowInput: Sendable {
    /// A job of the workflow changed (from job events, a submission's answer, or reconciliation at start).
    case job(Job)
    /// Reconciliation at start: this stage job is not in the store (the daemon stopped before submitting it).
    case jobMissing(taskUUID: String)
    /// A stage job could not be submitted, for good (`no_route`, `budget_exceeded`, …; not transient errors).
    case submitFailed(taskUUID: String, error: AtelierError)
    /// The caller (or mode `first`) chose a variant's image.
    case select(imageUUID: String)
    /// The caller cancelled the workflow.
    case cancel
}

/// What the service must do after a transition (in order), once the new state is stored.
public enum WorkflowAction: Sendable, Equatable {
    /// Submit this task (idempotent: its taskUUID is derived from the workflow).
    case submit(ImageTask)
    /// Cancel these jobs (unfinished stage jobs of a cancelled workflow).
    case cancelJobs([String])
    /// Publish this event (`workflow.awaiting_selection`, …) to listeners and the workflow's webhook.
    case emit(WorkflowEventKind)
}

/// The events a workflow publishes.
public enum WorkflowEventKind: String, Sendable, CaseIterable {
    case created = "workflow.created"
    case variantFinished = "workflow.variant_finished"
    case awaitingSelection = "workflow.awaiting_selection"
    case finalizing = "workflow.finalizing"
    case succeeded = "workflow.succeeded"
    case failed = "workflow.failed"
    case cancelled = "workflow.cancelled"
}

extension ErrorCode {
    /// The workflow is not in a state that allows this (e.g. selecting after the final started).
    public static let invalidState: ErrorCode = "invalid_state"
    /// The workflowUUID is already used by a different request.
    public static let conflictWorkflowUUID: ErrorCode = "conflict_workflow_uuid"
}

/// The workflow state machine: pure, no clock, no I/O. The service stores the new state, then performs the actions.
///
/// Every input is idempotent and order-tolerant: a job's end is recorded once; a final job that finishes before
/// its submission was acknowledged is still recorded; reports about a finished workflow only update its records
/// (a variant that finishes after the final still has its cost counted).
public enum WorkflowMachine {
    /// The actions that start a new workflow: submit every variant.
    public static func start(_ w: Workflow) -> [WorkflowAction] {
        [.emit(.created)] + w.variants.indices.map { .submit(w.spec.variantTask($0)) }
    }

    /// Applies `input` to `w` at time `now`; returns what to do next. Throws (and changes nothing) when the input is
    /// not allowed: selecting an unknown or failed image, selecting twice, cancelling a finished workflow.
    public static func apply(_ input: WorkflowInput, to w: inout Workflow, now: Timestamp) throws(AtelierError) -> [WorkflowAction] {
        var next = w
        let actions = try transition(input, &next, now)
        if next != w { next.updatedAt = now }
        w = next
        return actions
    }

    private static func transition(_ input: WorkflowInput, _ w: inout Workflow, _ now: Timestamp) throws(AtelierError) -> [WorkflowAction] {
        switch input {
        case .job(let job):
            if let i = w.variants.firstIndex(where: { $0.taskUUID == job.taskUUID }) {
                guard w.variants[i].record(job) else { return [] }
                return [.emit(.variantFinished)] + afterVariantFinished(i, &w, now)
            }
            if job.taskUUID == w.final.taskUUID {
                guard w.final.record(job) else { return [] }
                return afterFinalFinished(&w, now)
            }
            return []

        case .jobMissing(let id):
            if let i = w.variants.firstIndex(where: { $0.taskUUID == id }) {
                if w.variants[i].isSubmitted && w.variants[i].isFinished { return [] }
                if w.state.isTerminal {
                    w.variants[i].status = .cancelled
                    w.variants[i].finishedAt = now
                    return []
                }
                return [.submit(w.spec.variantTask(i))]
            }
            if id == w.final.taskUUID, w.state == .finalizing, !w.final.isFinished, let t = w.finalTask {
                return [.submit(t)]
            }
            return []

        case .submitFailed(let id, let error):
            if let i = w.variants.firstIndex(where: { $0.taskUUID == id }) {
                guard !w.variants[i].isFinished else { return [] }
                w.variants[i].recordRejected(error, at: now)
                return [.emit(.variantFinished)] + afterVariantFinished(i, &w, now)
            }
            if id == w.final.taskUUID, !w.final.isFinished, !w.state.isTerminal {
                w.final.recordRejected(error, at: now)
                return finish(&w, .failed, error, now)
            }
            return []

        case .select(let imageUUID):
            if let s = w.selection {
                if s.imageUUID == imageUUID { return [] }
                throw AtelierError(
                    .invalidState, "workflow \(w.workflowUUID) already finishes image \(s.imageUUID)", field: "/imageUUID",
                    details: ["state": .string(w.state.rawValue), "selectedImageUUID": .string(s.imageUUID)])
            }
            guard w.state == .ideating || w.state == .awaitingSelection else {
                throw AtelierError(
                    .invalidState, "workflow \(w.workflowUUID) is \(w.state.rawValue); nothing can be selected", field: "/workflowUUID",
                    details: ["state": .string(w.state.rawValue)])
            }
            let selectable = w.variants.enumerated().filter { $0.element.status == .succeeded && $0.element.image != nil }
            guard let (i, _) = selectable.first(where: { $0.element.image?.imageUUID == imageUUID }) else {
                throw AtelierError(
                    .invalidValue, "image \(imageUUID) is not a finished variant of workflow \(w.workflowUUID)", field: "/imageUUID",
                    details: ["allowed": .array(selectable.compactMap { $0.element.image.map { .string($0.imageUUID) } })])
            }
            return select(i, by: .client, &w, now)

        case .cancel:
            guard !w.state.isTerminal else {
                throw AtelierError(
                    .notCancellable, "workflow \(w.workflowUUID) is already \(w.state.rawValue)", field: "/workflowUUID",
                    details: ["status": .string(w.state.rawValue)])
            }
            let running = (w.variants + [w.final]).filter { $0.isSubmitted && !$0.isFinished }.map(\.taskUUID)
            var actions = finish(&w, .cancelled, AtelierError(.cancelled, "cancelled by the caller"), now)
            if !running.isEmpty { actions.insert(.cancelJobs(running), at: 0) }
            return actions
        }
    }

    private static func select(_ i: Int, by: WorkflowSpec.SelectionMode, _ w: inout Workflow, _ now: Timestamp) -> [WorkflowAction] {
        guard let image = w.variants[i].image else { return [] }
        w.selection = WorkflowSelection(imageUUID: image.imageUUID, variantIndex: i, by: by, at: now)
        w.state = .finalizing
        guard let t = w.finalTask else { return [] }
        return [.emit(.finalizing), .submit(t)]
    }

    private static func afterVariantFinished(_ i: Int, _ w: inout Workflow, _ now: Timestamp) -> [WorkflowAction] {
        guard w.state == .ideating else { return [] }
        if w.selection == nil, w.spec.selectionMode == .first, w.variants[i].status == .succeeded, w.variants[i].image != nil {
            return select(i, by: .first, &w, now)
        }
        guard w.variants.allSatisfy(\.isFinished) else { return [] }
        if !w.variants.contains(where: { $0.status == .succeeded && $0.image != nil }) {
            var errors = JSONObject()
            for v in w.variants { errors.append(v.taskUUID, v.error?.json ?? .string(v.status?.rawValue ?? "unknown")) }
            // One shared cause (all no_route, all refused, …) is the workflow's error code; mixed causes are no_image.
            let codes = Set(w.variants.compactMap { $0.error?.code.rawValue }).sorted()
            let code = codes.count == 1 ? ErrorCode(rawValue: codes[0]) : .noImage
            let message = "every ideation variant failed" + (codes.isEmpty ? "" : " (\(codes.joined(separator: ", ")))")
            return finish(&w, .failed, AtelierError(code, message, details: ["variants": .object(errors)]), now)
        }
        w.state = .awaitingSelection
        return [.emit(.awaitingSelection)]
    }

    private static func afterFinalFinished(_ w: inout Workflow, _ now: Timestamp) -> [WorkflowAction] {
        guard !w.state.isTerminal else { return [] }
        switch w.final.status {
        case .succeeded?: return finish(&w, .succeeded, nil, now)
        case .cancelled?: return finish(&w, .cancelled, w.final.error ?? AtelierError(.cancelled, "the final job was cancelled"), now)
        default: return finish(&w, .failed, w.final.error ?? AtelierError(.internalError, "the final job failed"), now)
        }
    }

    private static func finish(_ w: inout Workflow, _ state: WorkflowState, _ error: AtelierError?, _ now: Timestamp) -> [WorkflowAction] {
        w.state = state
        w.error = error
        w.finishedAt = now
        switch state {
        case .succeeded: return [.emit(.succeeded)]
        case .cancelled: return [.emit(.cancelled)]
        default: return [.emit(.failed)]
        }
    }
}
