import AtelierCore
import PostgresNIO

/// What the faces read from the jobs of a cluster (`stats.get`, counts), with the same signatures and answers as the
/// SQLite ``JobStore``'s. (`job.list`, `counts(of:)` and the probe write are in PostgresStore+Jobs.)
extension PostgresStore {
    /// Job counts by status.
    public func counts() async throws -> [JobStatus: Int] {
        try await countRows("SELECT status, COUNT(*) AS n FROM job GROUP BY status")
    }

    private func countRows(_ query: PostgresQuery) async throws -> [JobStatus: Int] {
        var out: [JobStatus: Int] = [:]
        for (status, n) in try await rows(query, { (try $0.get("status", as: String.self), try $0.get("n", as: Int64.self)) }) {
            if let s = JobStatus(rawValue: status) { out[s] = Int(n) }
        }
        return out
    }

    /// `stats.get`: per-group counts, success rate, refusals, actual cost and latency percentiles of jobs created
    /// since `since` — the same aggregation as SQLite's (``StatsAccumulator``), over the same columns.
    public func stats(by grouping: StatsGrouping, since: Timestamp) async throws -> [StatsReport.Group] {
        var query = PostgresQuery(
            unsafeSQL: """
                SELECT \(grouping.postgresExpression) AS grp, status, cost_usd, started_ms, finished_ms,
                       (attempts_json LIKE '%"code":"refused"%') AS refused,
                       (results_json LIKE '%"verification":{"ok":false%' OR attempts_json LIKE '%"code":"result_mismatch"%') AS mismatched,
                       (results_json::jsonb -> 0 -> 'consistency' ->> 'score')::float8 AS best_score,
                       (results_json::jsonb -> 0 -> 'consistency' ->> 'samplesToReachMinScore')::int8 AS to_min_score
                FROM job WHERE created_ms >= $1
                """)
        query.binds.append(since.milliseconds)
        let rows = try await rows(query) { row in
            StatsAccumulator.Row(
                group: try row.get("grp"), status: try row.get("status"), costUSD: try row.get("cost_usd"), startedMs: try row.get("started_ms"),
                finishedMs: try row.get("finished_ms"), refused: try row.get("refused"), mismatched: try row.get("mismatched"),
                bestScore: try row.get("best_score"), samplesToMinScore: try row.get("to_min_score"))
        }
        var stats = StatsAccumulator()
        for row in rows { stats.add(row) }
        return stats.groups()
    }
}
