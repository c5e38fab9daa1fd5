import AtelierCore

/// Which held webhooks of one task its final uploads release — the same rule for every store, without I/O.
///
/// A `result` webhook waits for the upload of its own image; the job's other webhooks wait for all its uploads.
/// A released webhook's body is rendered with the upload outcomes and its state moved by the delivery machine;
/// the store writes the returned records in the transaction that read them.
enum HeldWebhookRelease {
    /// The released records among `rows` (every delivery row of one task, oldest first), updated as of `nowMs`.
    /// - Parameter machine: the delivery state machine for a record (with its kind's retry schedule).
    static func released(
        from rows: [DeliveryRecord], nowMs: Int64, machine: (DeliveryRecord) -> DeliveryStateMachine
    ) -> [DeliveryRecord] {
        let uploads = rows.filter { $0.kind == .upload }
        var outcomes: [String: WebhookBody.UploadOutcome] = [:]
        for u in uploads where u.state.status.isFinal {
            if let id = u.imageUUID { outcomes[id] = WebhookBody.UploadOutcome(url: u.url, state: u.state) }
        }
        let allFinal = uploads.allSatisfy { $0.state.status.isFinal }
        var released: [DeliveryRecord] = []
        for var r in rows where r.kind == .webhook && r.state.held {
            let ready = r.event == WebhookEvent.result.rawValue ? r.imageUUID.map { outcomes[$0] != nil } ?? true : allFinal
            guard ready, let type = WebhookEvent(rawValue: r.event) else { continue }
            var m = machine(r)
            guard m.handle(.release(nowMs: nowMs)) != .ignore else { continue }
            let data = (try? JSONParser.parse(r.payload ?? "null")) ?? .null
            r.body = WebhookBody.render(type, eventMs: r.eventMs, data: WebhookBody.withUploads(data, event: r.event, uploads: outcomes))
            r.state = m.state
            r.updatedMs = nowMs
            released.append(r)
        }
        return released
    }
}
