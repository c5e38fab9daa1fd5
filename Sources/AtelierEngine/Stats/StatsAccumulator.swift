import AtelierCore

/// The `stats.get` aggregation, shared by the SQLite and the PostgreSQL store: each store selects the same columns
/// of its `job` table and feeds them here, so both answer with the same numbers.
struct StatsAccumulator: Sendable {
    /// The columns of one job that the report uses.
    struct Row: Sendable {
        /// The group's value (nil: `(none)`).
        var group: String?
        /// The stored status.
        var status: String
        /// The job's actual cost.
        var costUSD: Double?
        /// When its first attempt started.
        var startedMs: Int64?
        /// When it finished.
        var finishedMs: Int64?
        /// Whether an attempt was refused by the provider.
        var refused: Bool
        /// Whether a result did not match what was asked.
        var mismatched: Bool
        /// Best-of-N: the kept result's score (`results[0].consistency.score`), nil for other jobs.
        var bestScore: Double? = nil
        /// Best-of-N: the position of the first candidate that reached `minScore`, nil when none did or none was given.
        var samplesToMinScore: Int? = nil
    }

    private struct Acc: Sendable {
        var jobs = 0, succeeded = 0, failed = 0, cancelled = 0, unfinished = 0, refusals = 0, mismatches = 0, unknownCost = 0
        var cost = 0.0
        var latencies: [Double] = []
        var bestScores: [Double] = []
        var samplesToMinScore: [Int] = []
    }

    private var accs: [String: Acc] = [:]

    /// Counts one job.
    mutating func add(_ row: Row) {
        let key = row.group ?? "(none)"
        var a = accs[key] ?? Acc()
        a.jobs += 1
        let status = JobStatus(rawValue: row.status)
        switch status {
        case .succeeded?: a.succeeded += 1
        case .failed?: a.failed += 1
        case .cancelled?: a.cancelled += 1
        default: a.unfinished += 1
        }
        if row.refused { a.refusals += 1 }
        if row.mismatched { a.mismatches += 1 }
        if status == .succeeded, let s = row.bestScore { a.bestScores.append(s) }
        if let n = row.samplesToMinScore { a.samplesToMinScore.append(n) }
        a.cost += row.costUSD ?? 0
        // A succeeded job always cost something; no number means the cost is unknown (not $0).
        if status == .succeeded && row.costUSD == nil { a.unknownCost += 1 }
        if status == .succeeded, let s = row.startedMs, let f = row.finishedMs { a.latencies.append(Double(f - s) / 1000) }
        accs[key] = a
    }

    /// The report's groups, by group name.
    func groups() -> [StatsReport.Group] {
        func pct(_ xs: [Double], _ p: Double) -> Double? {
            guard !xs.isEmpty else { return nil }
            let s = xs.sorted()
            return (s[min(s.count - 1, Int(Double(s.count) * p))] * 1000).rounded() / 1000
        }
        return accs.keys.sorted().map { k in
            let a = accs[k]!
            let finished = a.succeeded + a.failed
            var group = StatsReport.Group(
                group: k, jobs: a.jobs, succeeded: a.succeeded, failed: a.failed, cancelled: a.cancelled, unfinished: a.unfinished,
                successRate: finished == 0 ? nil : (Double(a.succeeded) / Double(finished) * 1000).rounded() / 1000, refusals: a.refusals,
                costUSD: (a.cost * 1e6).rounded() / 1e6, latencyP50Seconds: pct(a.latencies, 0.5), latencyP95Seconds: pct(a.latencies, 0.95),
                mismatches: a.mismatches)
            group.unknownCostJobs = a.unknownCost
            // Best-of-N (docs/consistency.md).
            group.consistencyJobs = a.bestScores.count
            if !a.bestScores.isEmpty { group.meanBestScore = (a.bestScores.reduce(0, +) / Double(a.bestScores.count) * 1e4).rounded() / 1e4 }
            if !a.samplesToMinScore.isEmpty {
                group.meanSamplesToMinScore = (Double(a.samplesToMinScore.reduce(0, +)) / Double(a.samplesToMinScore.count) * 100).rounded() / 100
            }
            return group
        }
    }
}
