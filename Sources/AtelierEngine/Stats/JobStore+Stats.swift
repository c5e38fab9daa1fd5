import AtelierCore
import Foundation
import GRDB

/// How `stats.get` groups jobs.
public enum StatsGrouping: Sendable, Equatable {
    case model
    case provider
    case arm
    /// By the value of one tag (`tags.<name>`).
    case tag(String)

    /// Parses `model`, `provider`, `arm`, `tag:<name>`.
    public init?(_ text: String) {
        switch text {
        case "model": self = .model
        case "provider": self = .provider
        case "arm": self = .arm
        default:
            guard text.hasPrefix("tag:"), text.count > 4 else { return nil }
            let name = String(text.dropFirst(4))
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else { return nil }
            self = .tag(name)
        }
    }

    var sqlExpression: String {
        switch self {
        case .model: return "model"
        case .provider: return "provider"
        case .arm: return "arm"
        case .tag(let name): return "json_extract(task_json, '$.tags.\"\(name)\"')"
        }
    }

    /// The same group in PostgreSQL's dialect (the tag name is checked by ``init(_:)``: no quotes can occur).
    var postgresExpression: String {
        switch self {
        case .model: return "model"
        case .provider: return "provider"
        case .arm: return "arm"
        case .tag(let name): return "(task_json::jsonb -> 'tags' ->> '\(name)')"
        }
    }
}

extension JobStore {
    /// Per-group counts, success rate, refusals, actual cost and latency percentiles of jobs created since `since`.
    public func stats(by grouping: StatsGrouping, since: Timestamp) async throws -> [StatsReport.Group] {
        let expr = grouping.sqlExpression
        // Aggregated inside the read: the closure returns Sendable values, so this is GRDB's async read (a
        // non-Sendable result such as `[Row]` would select the blocking overload).
        let stats: StatsAccumulator = try await database.read { db in
            var stats = StatsAccumulator()
            let cursor = try Row.fetchCursor(
                db,
                sql: """
                    SELECT \(expr) AS grp, status, cost_usd, started_ms, finished_ms,
                           (attempts_json LIKE '%"code":"refused"%') AS refused,
                           (results_json LIKE '%"verification":{"ok":false%'
                            OR attempts_json LIKE '%"code":"result_mismatch"%') AS mismatched,
                           json_extract(results_json, '$[0].consistency.score') AS best_score,
                           json_extract(results_json, '$[0].consistency.samplesToReachMinScore') AS to_min_score
                    FROM job WHERE created_ms >= ?
                    """, arguments: [since.milliseconds])
            while let row = try cursor.next() {
                stats.add(
                    StatsAccumulator.Row(
                        group: row["grp"], status: row["status"], costUSD: row["cost_usd"], startedMs: row["started_ms"],
                        finishedMs: row["finished_ms"], refused: (row["refused"] as Bool?) == true, mismatched: (row["mismatched"] as Bool?) == true,
                        bestScore: row["best_score"], samplesToMinScore: row["to_min_score"]))
            }
            return stats
        }
        return stats.groups()
    }
}
