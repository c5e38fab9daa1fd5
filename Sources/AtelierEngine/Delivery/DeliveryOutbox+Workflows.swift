import AtelierCore
import Foundation
import GRDB

extension DeliveryOutbox: WorkflowWriteHook {
    /// The workflow events sent to the workflow's `webhookURL` (progress-only events stay in process).
    static let workflowWebhookEvents: Set<WorkflowEventKind> = [.awaitingSelection, .succeeded, .failed, .cancelled]

    /// In the SAME transaction as a workflow's state change, records the signed message it owes its webhook:
    /// `{"type": "workflow.awaiting_selection" | "workflow.succeeded" | …, "timestamp", "data": <the workflow>}`.
    /// The message is keyed by the workflowUUID (`delivery.list {taskUUID: <workflowUUID>}` shows it).
    public func write(_ change: WorkflowChange, in db: Database) throws {
        try insert(rows(for: change), db)
    }

    /// The outbox row `change` owes (its webhook message), or none: what ``write(_:in:)`` inserts in SQLite's
    /// transaction, and what a shared store writes with the workflow's change.
    public func rows(for change: WorkflowChange) -> [DeliveryRecord] {
        guard let event = change.event, Self.workflowWebhookEvents.contains(event), let hook = change.workflow.spec.webhookURL else { return [] }
        let now = clock.timestamp.milliseconds
        let data = WebhookBody.redactingURLs(in: "request", of: change.workflow.json(includeJobs: false))
        let record = DeliveryRecord.new(
            .webhook, event: event.rawValue, taskUUID: change.workflow.workflowUUID, url: hook,
            body: WebhookBody.render(type: event.rawValue, eventMs: now, data: data), nowMs: now, eventMs: now, configuration: configuration)
        return [record]
    }
}

extension DeliveryOutbox: TaskCheck {
    /// Checks a task's delivery URLs before it is stored: literal addresses the policy forbids are refused
    /// (`invalid_url` with the field). Host names are checked again after DNS at send time.
    public func check(_ task: ImageTask) throws(AtelierError) {
        let policy = configuration.addressPolicy
        if let w = task.webhookURL { try policy.checkLiteral(w, field: "/webhookURL") }
        for (i, u) in (task.uploadEndpoint ?? []).enumerated() {
            try policy.checkLiteral(u, field: task.uploadEndpointIsArray ? "/uploadEndpoint/\(i)" : "/uploadEndpoint")
        }
    }
}
