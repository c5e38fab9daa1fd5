import AtelierCore
import PostgresNIO

/// One schema change of the PostgreSQL store. Never edit or reorder a shipped migration; add a new one.
struct PostgresMigration: Sendable {
    /// 1, 2, … in order.
    var version: Int
    /// What it does.
    var name: String
    /// Its statements (one per query: the extended protocol runs one statement at a time).
    var statements: [String]
}

extension PostgresStore {
    /// The key of the advisory lock that serialises migrations across daemons starting at once.
    static let migrationLockKey: Int64 = 0x4174_656C_6965_72  // "Atelier"

    /// Every migration, in order. Version 1 is the first schema: the SQLite store's tables (`job`, `delivery`)
    /// plus what sharing needs (leases, budget counters, daemon heartbeats).
    static let migrations: [PostgresMigration] = [
        PostgresMigration(
            version: 1, name: "v1-jobs-outbox-budgets-daemons",
            statements: [
                """
                CREATE TABLE job (
                    seq BIGSERIAL PRIMARY KEY,
                    task_uuid TEXT NOT NULL UNIQUE,
                    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
                    request_json TEXT NOT NULL,
                    task_json TEXT NOT NULL,
                    created_ms BIGINT NOT NULL,
                    updated_ms BIGINT NOT NULL,
                    started_ms BIGINT,
                    finished_ms BIGINT,
                    route_json TEXT,
                    results_json TEXT NOT NULL DEFAULT '[]',
                    cost_usd DOUBLE PRECISION,
                    error_json TEXT,
                    attempts_json TEXT NOT NULL DEFAULT '[]',
                    provider TEXT,
                    model TEXT,
                    arm TEXT,
                    lease_owner TEXT,
                    lease_token BIGINT NOT NULL DEFAULT 0,
                    lease_expires TIMESTAMPTZ
                )
                """,
                "CREATE INDEX job_status_seq ON job (status, seq)",
                "CREATE INDEX job_open ON job (seq) WHERE status IN ('queued', 'running')",
                "CREATE INDEX job_lease_owner ON job (lease_owner) WHERE lease_owner IS NOT NULL",
                """
                CREATE TABLE delivery (
                    seq BIGSERIAL PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL,
                    task_uuid TEXT NOT NULL,
                    event TEXT NOT NULL,
                    image_uuid TEXT NOT NULL DEFAULT '',
                    result_index INTEGER,
                    url TEXT NOT NULL,
                    host_key TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
                    held BOOLEAN NOT NULL DEFAULT FALSE,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    cycle_attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_ms BIGINT,
                    created_ms BIGINT NOT NULL,
                    updated_ms BIGINT NOT NULL,
                    event_ms BIGINT NOT NULL,
                    delivered_ms BIGINT,
                    last_status INTEGER,
                    last_error_json TEXT,
                    payload TEXT,
                    body TEXT,
                    lease_owner TEXT,
                    lease_token BIGINT NOT NULL DEFAULT 0,
                    lease_expires TIMESTAMPTZ,
                    UNIQUE (task_uuid, kind, event, image_uuid)
                )
                """,
                "CREATE INDEX delivery_due ON delivery (next_attempt_ms, seq) WHERE status = 'pending' AND NOT held",
                "CREATE INDEX delivery_sending ON delivery (lease_expires) WHERE status = 'sending'",
                "CREATE INDEX delivery_task ON delivery (task_uuid)",
                """
                CREATE TABLE budget_spend (
                    tag TEXT NOT NULL,
                    value TEXT NOT NULL,
                    period TEXT NOT NULL CHECK (period IN ('daily', 'monthly')),
                    period_number BIGINT NOT NULL,
                    spent_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
                    PRIMARY KEY (tag, value, period, period_number)
                )
                """,
                """
                CREATE TABLE daemon (
                    id TEXT PRIMARY KEY,
                    started_ms BIGINT NOT NULL,
                    last_seen TIMESTAMPTZ NOT NULL,
                    info TEXT NOT NULL DEFAULT ''
                )
                """,
            ]),
        PostgresMigration(
            version: 2, name: "v2-workflows",
            statements: [
                """
                CREATE TABLE workflow (
                    seq BIGSERIAL PRIMARY KEY,
                    workflow_uuid TEXT NOT NULL UNIQUE,
                    state TEXT NOT NULL,
                    request_json TEXT NOT NULL,
                    workflow_json TEXT NOT NULL,
                    created_ms BIGINT NOT NULL,
                    updated_ms BIGINT NOT NULL
                )
                """,
                "CREATE INDEX workflow_state_seq ON workflow (state, seq)",
            ]),
        PostgresMigration(
            version: 3, name: "v3-cancel-requests-probe",
            statements: [
                // A cancel asked on one daemon for a job another daemon holds: the holder acts on it (notice), and a
                // daemon that claims the job later finds it.
                "ALTER TABLE job ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false",
                // The one-row table the health probe rewrites (as in the SQLite store).
                "CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked_ms BIGINT NOT NULL)",
            ]),
    ]

    /// Brings the schema to the newest version this build knows, in one transaction under an advisory lock (several
    /// daemons may start at once; the others wait, then find nothing to do). Refuses a database whose schema is
    /// newer than this build.
    /// - Returns: the versions applied now.
    @discardableResult
    public func migrate() async throws -> [Int] {
        let known = Self.migrations.map(\.version).max() ?? 0
        return try await transaction { [self] connection in
            try await execute("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", on: connection)
            try await execute(
                """
                CREATE TABLE IF NOT EXISTS atelier_schema (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())
                """, on: connection)
            let current =
                try await rows("SELECT COALESCE(MAX(version), 0) AS v FROM atelier_schema", on: connection) { try $0.get("v", as: Int.self) }
                .first ?? 0
            guard current <= known else {
                throw AtelierError(
                    .storeFailure, "the database's schema is version \(current), newer than this daemon knows (\(known)): upgrade the daemon")
            }
            var applied: [Int] = []
            for migration in Self.migrations where migration.version > current {
                for statement in migration.statements { try await execute(PostgresQuery(unsafeSQL: statement), on: connection) }
                try await execute("INSERT INTO atelier_schema (version, name) VALUES (\(migration.version), \(migration.name))", on: connection)
                applied.append(migration.version)
            }
            if !applied.isEmpty { logger.info("store schema migrated", metadata: ["store": "\(location)", "versions": "\(applied)"]) }
            return applied
        }
    }

    /// The schema version of the database (0 before the first migration).
    public func schemaVersion() async throws -> Int {
        let exists = try await rows("SELECT to_regclass('atelier_schema') IS NOT NULL AS e") { try $0.get("e", as: Bool.self) }.first ?? false
        guard exists else { return 0 }
        return try await rows("SELECT COALESCE(MAX(version), 0) AS v FROM atelier_schema") { try $0.get("v", as: Int.self) }.first ?? 0
    }
}
