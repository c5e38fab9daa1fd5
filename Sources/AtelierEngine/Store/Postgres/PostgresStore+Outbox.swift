import AtelierCore
import PostgresNIO

extension PostgresStore {
    /// Adds one outbox row (a row already there for the same message is left as it is, as in SQLite).
    func insertDelivery(_ r: DeliveryRecord, on connection: PostgresConnection) async throws {
        try await execute(
            """
            INSERT INTO delivery (id, kind, task_uuid, event, image_uuid, result_index, url, host_key, status, held, attempts,
                cycle_attempts, next_attempt_ms, created_ms, updated_ms, event_ms, payload, body)
            VALUES (\(r.id), \(r.kind.rawValue), \(r.taskUUID), \(r.event), \(r.imageUUID ?? ""), \(r.resultIndex), \(r.url), \(r.hostKey),
                \(r.state.status.rawValue), \(r.state.held), \(r.state.attempts), \(r.state.cycleAttempts), \(r.state.nextAttemptMs),
                \(r.createdMs), \(r.updatedMs), \(r.eventMs), \(r.payload), \(r.body))
            ON CONFLICT DO NOTHING
            """, on: connection)
    }

    /// See ``EngineStore/claimDeliveries(owner:limit:nowMs:excludingHosts:leaseSeconds:)``.
    ///
    /// Every state change goes through ``DeliveryStateMachine``: a row taken over from an expired lease is first
    /// `recovered` (its attempt's fate is unknown), then claimed like a due row.
    public func claimDeliveries(
        owner: String, limit: Int, nowMs: Int64, excludingHosts: [String], leaseSeconds: Double
    ) async throws -> [ClaimedDelivery] {
        guard limit > 0 else { return [] }
        return try await transaction { [self] connection in
            var query: PostgresQuery = """
                SELECT * FROM delivery
                WHERE ((status = 'pending' AND NOT held AND next_attempt_ms <= \(nowMs))
                       OR (status = 'sending' AND (lease_expires IS NULL OR lease_expires < clock_timestamp())))
                """
            if !excludingHosts.isEmpty {
                query.sql += " AND host_key <> ALL($\(query.binds.count + 1))"
                query.binds.append(excludingHosts)
            }
            query.sql += " ORDER BY next_attempt_ms NULLS FIRST, seq LIMIT \(limit) FOR UPDATE SKIP LOCKED"
            let candidates = try await rows(query, on: connection) { try Self.decodeDelivery($0) }
            var claimed: [ClaimedDelivery] = []
            for var record in candidates {
                // The schedule does not matter to recover/claim; the row's own kind's default keeps the type whole.
                var machine = DeliveryStateMachine(
                    state: record.state, schedule: record.kind == .webhook ? .webhookDefault : .uploadDefault)
                let takenOver = record.state.status == .sending
                if takenOver { _ = machine.handle(.recovered(nowMs: nowMs)) }
                guard machine.handle(.claim(nowMs: nowMs)) == .send else { continue }
                record.state = machine.state
                record.updatedMs = nowMs
                let s = record.state
                let lease = try await rows(
                    """
                    UPDATE delivery SET status = \(s.status.rawValue), held = \(s.held), attempts = \(s.attempts),
                        cycle_attempts = \(s.cycleAttempts), next_attempt_ms = \(s.nextAttemptMs), updated_ms = \(nowMs),
                        lease_owner = \(owner), lease_token = lease_token + 1,
                        lease_expires = clock_timestamp() + make_interval(secs => \(leaseSeconds))
                    WHERE seq = \(record.seq)
                    RETURNING lease_token, (extract(epoch FROM lease_expires) * 1000)::BIGINT AS lease_expires_ms
                    """, on: connection
                ) { row in
                    StoreLease(owner: owner, token: try row.get("lease_token"), expiresAt: Timestamp(milliseconds: try row.get("lease_expires_ms")))
                }
                guard let lease = lease.first else { continue }
                claimed.append(ClaimedDelivery(record: record, lease: lease, takenOver: takenOver))
            }
            return claimed
        }
    }

    /// See ``EngineStore/recordDelivery(_:lease:)``: the row as the state machine left it, written only under the
    /// claimer's lease, which it releases; then, for a final upload, the job's held webhooks (as SQLite's
    /// `DeliveryStore.release`), with the job's rows locked so that two daemons settling two uploads of one job at
    /// once release each webhook once.
    public func recordDelivery(_ r: DeliveryRecord, lease: StoreLease) async throws -> DeliveryRecording {
        let s = r.state
        let error = s.lastError.map { JSONWriter.string($0.json) }
        return try await transaction { [self] connection in
            let written: [Bool] = try await rows(
                """
                UPDATE delivery SET status = \(s.status.rawValue), held = \(s.held), attempts = \(s.attempts),
                    cycle_attempts = \(s.cycleAttempts), next_attempt_ms = \(s.nextAttemptMs), last_status = \(s.lastHTTPStatus),
                    last_error_json = \(error), delivered_ms = \(s.deliveredMs), updated_ms = \(r.updatedMs), body = \(r.body),
                    lease_owner = NULL, lease_expires = NULL
                WHERE id = \(r.id) AND lease_owner = \(lease.owner) AND lease_token = \(lease.token)
                RETURNING seq
                """, on: connection
            ) { _ in true }
            guard !written.isEmpty else { return DeliveryRecording(recorded: false) }
            guard r.kind == .upload, s.status.isFinal else { return DeliveryRecording(recorded: true) }
            return DeliveryRecording(recorded: true, released: try await releaseHeld(task: r.taskUUID, nowMs: r.updatedMs, on: connection))
        }
    }

    /// Releases the held webhooks of `task` whose uploads are final, rendering their bodies with the outcomes.
    private func releaseHeld(task: String, nowMs: Int64, on connection: PostgresConnection) async throws -> [DeliveryRecord] {
        let rows = try await rows("SELECT * FROM delivery WHERE task_uuid = \(task) ORDER BY seq FOR UPDATE", on: connection) {
            try Self.decodeDelivery($0)
        }
        let released = HeldWebhookRelease.released(from: rows, nowMs: nowMs) {
            DeliveryStateMachine(state: $0.state, schedule: .webhookDefault)
        }
        for r in released {
            let t = r.state
            try await execute(
                """
                UPDATE delivery SET status = \(t.status.rawValue), held = \(t.held), next_attempt_ms = \(t.nextAttemptMs),
                    updated_ms = \(nowMs), body = \(r.body)
                WHERE seq = \(r.seq)
                """, on: connection)
        }
        return released
    }

    /// See ``EngineStore/renewDeliveryLeases(owner:leaseSeconds:)``.
    public func renewDeliveryLeases(owner: String, leaseSeconds: Double) async throws -> [String] {
        try await rows(
            """
            UPDATE delivery SET lease_expires = clock_timestamp() + make_interval(secs => \(leaseSeconds))
            WHERE lease_owner = \(owner) AND status = 'sending'
            RETURNING id
            """
        ) { try $0.get("id", as: String.self) }
    }

    /// The outbox row with this id.
    public func delivery(_ id: String) async throws -> DeliveryRecord? {
        try await rows("SELECT * FROM delivery WHERE id = \(id)") { try Self.decodeDelivery($0) }.first
    }

    /// Every outbox row of a job, in insertion order.
    public func deliveries(forTask taskUUID: String) async throws -> [DeliveryRecord] {
        try await rows("SELECT * FROM delivery WHERE task_uuid = \(taskUUID) ORDER BY seq") { try Self.decodeDelivery($0) }
    }

    /// An outbox row from a `delivery` row. Unknown enum values are store errors, never silent defaults.
    static func decodeDelivery(_ row: PostgresRandomAccessRow) throws -> DeliveryRecord {
        let statusText = try row.get("status", as: String.self)
        let kindText = try row.get("kind", as: String.self)
        guard let status = DeliveryStatus(rawValue: statusText), let kind = DeliveryKind(rawValue: kindText) else {
            throw AtelierError(.storeFailure, "outbox row with an unknown status or kind in the store: \(statusText)/\(kindText)")
        }
        let errorText = try row.get("last_error_json", as: String?.self)
        var lastError: AtelierError? = nil
        if let errorText {
            do { lastError = try AtelierError(json: JSONParser.parse(errorText)) } catch {
                throw AtelierError(.storeFailure, "corrupt last_error_json in the outbox: \(error)")
            }
        }
        let state = DeliveryState(
            status: status, held: try row.get("held"), attempts: try row.get("attempts"), cycleAttempts: try row.get("cycle_attempts"),
            nextAttemptMs: try row.get("next_attempt_ms"), lastHTTPStatus: try row.get("last_status"), lastError: lastError,
            deliveredMs: try row.get("delivered_ms"))
        let image = try row.get("image_uuid", as: String.self)
        return DeliveryRecord(
            seq: try row.get("seq"), id: try row.get("id"), kind: kind, taskUUID: try row.get("task_uuid"), event: try row.get("event"),
            imageUUID: image.isEmpty ? nil : image, resultIndex: try row.get("result_index"), url: try row.get("url"),
            hostKey: try row.get("host_key"), state: state, createdMs: try row.get("created_ms"), updatedMs: try row.get("updated_ms"),
            eventMs: try row.get("event_ms"), payload: try row.get("payload"), body: try row.get("body"))
    }
}
