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
        guard let event = change.event, Self.workflowWebhookEvents.contains(event), let hook = change.workflow.spec.webhookURL else { return }
        let now = clock.nowMs()
        let schedule = configuration.schedule(.webhook)
        var data = change.workflow.json(includeJobs: false)
        if case .object(var o) = data, case .object(var spec)? = o["request"] {
            // Never echo query strings (tokens, presigned signatures) back to receivers.
            if let w = spec["webhookURL"]?.stringValue { spec["webhookURL"] = .string(URLCheck.redacted(w)) }
            if case .array(let a)? = spec["uploadEndpoint"] {
                spec["uploadEndpoint"] = .array(a.map { .string(URLCheck.redacted($0.stringValue ?? "")) })
            }
            if case .string(let u)? = spec["uploadEndpoint"] { spec["uploadEndpoint"] = .string(URLCheck.redacted(u)) }
            o["request"] = .object(spec)
            data = .object(o)
        }
        let body = JSONWriter.string(["type": .string(event.rawValue), "timestamp": .string(Timestamp(milliseconds: now).iso8601), "data": data])
        let record = DeliveryRecord(
            seq: 0, id: "msg_" + UUIDv4.generate().replacingOccurrences(of: "-", with: ""), kind: .webhook, taskUUID: change.workflow.workflowUUID,
            event: event.rawValue, imageUUID: nil, resultIndex: nil, url: hook, hostKey: DeliveryRecord.hostKey(hook),
            state: DeliveryStateMachine.initial(nowMs: now, held: false, schedule: schedule, unitRandom: configuration.random()),
            createdMs: now, updatedMs: now, eventMs: now, payload: nil, body: body)
        try DeliveryStore.insert(record, db)
        let wakeup = self.wakeup
        db.afterNextTransaction(onCommit: { _ in wakeup.signal() })
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
