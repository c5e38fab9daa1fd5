import AtelierCore
import GRDB

extension DeliveryStore {
    /// Adds one row (a second row for the same job, kind, event and image is ignored).
    static func insert(_ r: DeliveryRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO delivery (id, kind, task_uuid, event, image_uuid, result_index, url, host_key, status, held, attempts,
                    cycle_attempts, next_attempt_ms, created_ms, updated_ms, event_ms, payload, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                r.id, r.kind.rawValue, r.taskUUID, r.event, r.imageUUID ?? "", r.resultIndex, r.url, r.hostKey, r.state.status.rawValue,
                r.state.held, r.state.nextAttemptMs, r.createdMs, r.updatedMs, r.eventMs, r.payload, r.body,
            ])
    }

    /// Writes a row's state (and its body, set when a held webhook is released).
    static func update(_ r: DeliveryRecord, _ db: Database) throws {
        let s = r.state
        try db.cachedStatement(
            sql: """
                UPDATE delivery SET status = ?, held = ?, attempts = ?, cycle_attempts = ?, next_attempt_ms = ?, last_status = ?,
                    last_error_json = ?, delivered_ms = ?, updated_ms = ?, body = ? WHERE id = ?
                """
        ).execute(arguments: [
            s.status.rawValue, s.held, s.attempts, s.cycleAttempts, s.nextAttemptMs, s.lastHTTPStatus, s.lastError.map { JSONWriter.string($0.json) },
            s.deliveredMs, r.updatedMs, r.body, r.id,
        ])
    }

    /// A row as read from the table. An unknown `status` or `kind` is a `store_failure` (``StoredEnum``).
    static func decode(_ row: Row) throws -> DeliveryRecord {
        let image: String = row["image_uuid"] ?? ""
        let err: String? = row["last_error_json"]
        let state = DeliveryState(
            status: try StoredEnum.decode(DeliveryStatus.self, row["status"], table: "delivery", column: "status"), held: row["held"],
            attempts: row["attempts"],
            cycleAttempts: row["cycle_attempts"],
            nextAttemptMs: row["next_attempt_ms"], lastHTTPStatus: row["last_status"],
            lastError: err.flatMap { try? JSONParser.parse($0) }.map(AtelierError.init(json:)), deliveredMs: row["delivered_ms"])
        return DeliveryRecord(
            seq: row["seq"], id: row["id"], kind: try StoredEnum.decode(DeliveryKind.self, row["kind"], table: "delivery", column: "kind"),
            taskUUID: row["task_uuid"], event: row["event"],
            imageUUID: image.isEmpty ? nil : image, resultIndex: row["result_index"], url: row["url"], hostKey: row["host_key"], state: state,
            createdMs: row["created_ms"], updatedMs: row["updated_ms"], eventMs: row["event_ms"], payload: row["payload"], body: row["body"])
    }
}

extension JobStore {
    /// The outbox schema. Registered in ``JobStore/migrator`` after the job tables.
    static func registerDeliveryMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("v1-delivery") { db in
            try db.execute(
                sql: """
                    CREATE TABLE delivery (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        kind TEXT NOT NULL,
                        task_uuid TEXT NOT NULL,
                        event TEXT NOT NULL,
                        image_uuid TEXT NOT NULL DEFAULT '',
                        result_index INTEGER,
                        url TEXT NOT NULL,
                        host_key TEXT NOT NULL,
                        status TEXT NOT NULL,
                        held INTEGER NOT NULL DEFAULT 0,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        cycle_attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_ms INTEGER,
                        created_ms INTEGER NOT NULL,
                        updated_ms INTEGER NOT NULL,
                        event_ms INTEGER NOT NULL,
                        delivered_ms INTEGER,
                        last_status INTEGER,
                        last_error_json TEXT,
                        payload TEXT,
                        body TEXT,
                        UNIQUE (task_uuid, kind, event, image_uuid)
                    );
                    CREATE INDEX delivery_due ON delivery(status, held, next_attempt_ms);
                    CREATE INDEX delivery_task ON delivery(task_uuid);
                    """)
        }
    }
}
