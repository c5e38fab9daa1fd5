import AtelierCore
import PostgresNIO

extension PostgresStore {
    /// See ``EngineStore/heartbeat(daemon:startedAt:info:)``.
    public func heartbeat(daemon id: String, startedAt: Timestamp, info: String) async throws {
        try await execute(
            """
            INSERT INTO daemon (id, started_ms, last_seen, info) VALUES (\(id), \(startedAt.milliseconds), clock_timestamp(), \(info))
            ON CONFLICT (id) DO UPDATE SET last_seen = clock_timestamp(), started_ms = EXCLUDED.started_ms, info = EXCLUDED.info
            """)
    }

    /// See ``EngineStore/liveDaemons(within:)``.
    public func liveDaemons(within seconds: Double) async throws -> [DaemonPresence] {
        try await rows(
            """
            SELECT id, started_ms, (extract(epoch FROM last_seen) * 1000)::BIGINT AS seen_ms, info FROM daemon
            WHERE last_seen > clock_timestamp() - make_interval(secs => \(seconds))
            ORDER BY last_seen DESC, id
            """
        ) { row in
            DaemonPresence(
                id: try row.get("id"), startedAt: Timestamp(milliseconds: try row.get("started_ms")),
                lastSeen: Timestamp(milliseconds: try row.get("seen_ms")), info: try row.get("info"))
        }
    }

    /// See ``EngineStore/removeDaemon(_:)``.
    public func removeDaemon(_ id: String) async throws {
        try await execute("DELETE FROM daemon WHERE id = \(id)")
    }
}
