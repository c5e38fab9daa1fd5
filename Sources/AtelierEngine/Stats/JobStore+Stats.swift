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
}

extension JobStore {
    /// Per-group counts, success rate, refusals, actual cost and latency percentiles of jobs created since `since`.
    public func stats(by grouping: StatsGrouping, since: Timestamp) async throws -> [StatsReport.Group] {
        let expr = grouping.sqlExpression
        struct Acc: Sendable {
            var jobs = 0, succeeded = 0, failed = 0, cancelled = 0, unfinished = 0, refusals = 0, mismatches = 0
            var cost = 0.0
            var latencies: [Double] = []
        }
        // Aggregated inside the read: the closure returns Sendable values, so this is GRDB's async read (a
        // non-Sendable result such as `[Row]` would select the blocking overload).
        let groups: [String: Acc] = try await database.read { db in
            var groups: [String: Acc] = [:]
            let cursor = try Row.fetchCursor(
                db,
                sql: """
                    SELECT \(expr) AS grp, status, cost_usd, started_ms, finished_ms,
                           (attempts_json LIKE '%"code":"refused"%') AS refused,
                           (results_json LIKE '%"verification":{"ok":false%'
                            OR attempts_json LIKE '%"code":"result_mismatch"%') AS mismatched
                    FROM job WHERE created_ms >= ?
                    """, arguments: [since.milliseconds])
            while let row = try cursor.next() {
                let key: String = (row["grp"] as String?) ?? "(none)"
                var a = groups[key] ?? Acc()
                a.jobs += 1
                let status = JobStatus(rawValue: row["status"])
                switch status {
                case .succeeded?: a.succeeded += 1
                case .failed?: a.failed += 1
                case .cancelled?: a.cancelled += 1
                default: a.unfinished += 1
                }
                if (row["refused"] as Bool?) == true { a.refusals += 1 }
                if (row["mismatched"] as Bool?) == true { a.mismatches += 1 }
                a.cost += (row["cost_usd"] as Double?) ?? 0
                if status == .succeeded, let s: Int64 = row["started_ms"], let f: Int64 = row["finished_ms"] {
                    a.latencies.append(Double(f - s) / 1000)
                }
                groups[key] = a
            }
            return groups
        }
        func pct(_ xs: [Double], _ p: Double) -> Double? {
            guard !xs.isEmpty else { return nil }
            let s = xs.sorted()
            return (s[min(s.count - 1, Int(Double(s.count) * p))] * 1000).rounded() / 1000
        }
        return groups.keys.sorted().map { k in
            let a = groups[k]!
            let finished = a.succeeded + a.failed
            return StatsReport.Group(
                group: k, jobs: a.jobs, succeeded: a.succeeded, failed: a.failed, cancelled: a.cancelled, unfinished: a.unfinished,
                successRate: finished == 0 ? nil : (Double(a.succeeded) / Double(finished) * 1000).rounded() / 1000, refusals: a.refusals,
                costUSD: (a.cost * 1e6).rounded() / 1e6, latencyP50Seconds: pct(a.latencies, 0.5), latencyP95Seconds: pct(a.latencies, 0.95),
                mismatches: a.mismatches)
        }
    }
}
