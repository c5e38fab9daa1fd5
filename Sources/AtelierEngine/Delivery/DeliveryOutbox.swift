import AtelierCore
import Foundation
import GRDB

/// The outbox's write hook: in the SAME transaction as a job's final state change it records every message and
/// upload that change owes, so a crash can never separate "image stored" from "receiver will be told".
///
/// - `succeeded`: one upload per result with an endpoint, one `job.result` message per result, one `job.succeeded`.
///   Webhooks about images that are being uploaded are held until their upload settles, so that the message can
///   say where the image went (`uploadURL`) or why it did not get there (`uploadError`).
/// - `failed`, `cancelled`: one `job.failed` / `job.cancelled` message.
///
/// After the transaction commits, the worker is woken.
public final class DeliveryOutbox: StoreWriteHook {
    let configuration: DeliveryConfiguration
    let clock: AtelierClock
    /// Signalled after a transaction that added rows commits.
    public let wakeup: DeliveryWakeup

    public init(configuration: DeliveryConfiguration, clock: AtelierClock = .live, wakeup: DeliveryWakeup = DeliveryWakeup()) {
        self.configuration = configuration
        self.clock = clock
        self.wakeup = wakeup
    }

    public func write(_ change: StateChange, in db: Database) throws {
        try insert(rows(for: change), db)
    }

    /// The outbox rows `change` owes (none for most changes): what ``write(_:in:)`` inserts in SQLite's transaction,
    /// and what a shared store's commit (``EngineStore/commit(_:change:lease:deliveries:)``) writes with the change.
    public func rows(for change: StateChange) -> [DeliveryRecord] {
        let job = change.job
        let task = job.task
        let uploads = task.uploadEndpoint ?? []
        guard task.webhookURL != nil || !uploads.isEmpty else { return [] }
        let now = clock.timestamp.milliseconds
        let eventMs = job.finishedAt?.milliseconds ?? now
        var rows: [DeliveryRecord] = []
        func row(
            _ kind: DeliveryKind, _ event: String, url: String, image: String?, index: Int?, held: Bool, payload: String?, body: String?
        ) -> DeliveryRecord {
            DeliveryRecord.new(
                kind, event: event, taskUUID: job.taskUUID, url: url, image: image, index: index, held: held, payload: payload, body: body,
                nowMs: now, eventMs: eventMs, configuration: configuration)
        }
        switch change.event {
        case .succeeded:
            let results = change.newResults.isEmpty ? job.results : change.newResults
            var uploading = Set<String>()
            for (i, r) in results.enumerated() where i < uploads.count {
                rows.append(
                    row(.upload, "upload", url: uploads[i], image: r.imageUUID, index: i, held: false, payload: JSONWriter.string(r.json), body: nil))
                uploading.insert(r.imageUUID)
            }
            if let hook = task.webhookURL {
                for (i, r) in results.enumerated() {
                    let data = WebhookBody.resultData(job: job, result: r, index: i)
                    let held = uploading.contains(r.imageUUID)
                    rows.append(
                        row(
                            .webhook, WebhookEvent.result.rawValue, url: hook, image: r.imageUUID, index: i, held: held,
                            payload: held ? JSONWriter.string(data) : nil,
                            body: held ? nil : WebhookBody.render(.result, eventMs: eventMs, data: data)))
                }
                let data = WebhookBody.jobData(job)
                let held = !uploading.isEmpty
                rows.append(
                    row(
                        .webhook, WebhookEvent.succeeded.rawValue, url: hook, image: nil, index: nil, held: held,
                        payload: held ? JSONWriter.string(data) : nil, body: held ? nil : WebhookBody.render(.succeeded, eventMs: eventMs, data: data)
                    ))
            }
        case .failed, .cancelled:
            guard let hook = task.webhookURL else { return [] }
            let type: WebhookEvent = change.event == .failed ? .failed : .cancelled
            rows.append(
                row(
                    .webhook, type.rawValue, url: hook, image: nil, index: nil, held: false, payload: nil,
                    body: WebhookBody.render(type, eventMs: eventMs, data: WebhookBody.jobData(job))))
        case .queued, .running, .result, .interrupted:
            return []
        }
        return rows
    }

    /// Inserts `rows` in the caller's transaction and wakes the worker once that transaction commits.
    func insert(_ rows: [DeliveryRecord], _ db: Database) throws {
        guard !rows.isEmpty else { return }
        for r in rows { try DeliveryStore.insert(r, db) }
        let wakeup = self.wakeup
        db.afterNextTransaction(onCommit: { _ in wakeup.signal() })
    }
}
