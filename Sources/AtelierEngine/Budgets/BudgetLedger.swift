import AtelierCore
import Foundation
import GRDB

/// What the budgets of the routing policy have consumed in the current UTC day and month.
///
/// A task counts its estimated cost from the moment it is accepted (so a burst of submissions cannot overshoot a
/// cap while jobs are still queued); when it finishes, the estimate is replaced by the actual cost (zero for a
/// job that failed or was cancelled without being charged). The ledger is rebuilt from the store at start and
/// whenever the UTC day changes, so it survives restarts.
struct BudgetLedger: Sendable {
    private(set) var spend = BudgetSpend()
    /// Days since the epoch (UTC) the daily counters belong to.
    private(set) var day: Int64 = -1
    /// Months since year 0 (UTC) the monthly counters belong to.
    private(set) var month: Int64 = -1

    /// UTC day number of a time.
    static func dayNumber(_ t: Timestamp) -> Int64 { t.milliseconds >= 0 ? t.milliseconds / 86_400_000 : (t.milliseconds - 86_399_999) / 86_400_000 }

    /// UTC (year × 12 + month − 1) of a time.
    static func monthNumber(_ t: Timestamp) -> Int64 {
        let iso = t.iso8601
        let y = Int64(iso.prefix(4)) ?? 1970
        let m = Int64(iso.dropFirst(5).prefix(2)) ?? 1
        return y * 12 + m - 1
    }

    /// The first millisecond of the UTC month containing `t`.
    static func monthStart(_ t: Timestamp) -> Timestamp {
        let iso = t.iso8601
        return Timestamp(iso8601: String(iso.prefix(8)) + "01T00:00:00.000Z") ?? t
    }

    /// Whether the counters belong to a past day or month.
    func isStale(at now: Timestamp) -> Bool { Self.dayNumber(now) != day || Self.monthNumber(now) != month }

    /// Adds `amount` for a task accepted at `createdAt` (daily only when it is today).
    mutating func add(_ amount: Double, task: ImageTask, createdAt: Timestamp, budgets: [BudgetRule]) {
        guard amount != 0, !budgets.isEmpty else { return }
        let today = Self.dayNumber(createdAt) == day
        let thisMonth = Self.monthNumber(createdAt) == month
        for b in budgets where task.tags[b.tag] != nil && (b.value == nil || b.value == task.tags[b.tag]) {
            // Value-specific rules replace the catch-all rule of their tag for that value.
            if b.value == nil, budgets.contains(where: { $0.tag == b.tag && $0.value == task.tags[b.tag] }) { continue }
            let v = task.tags[b.tag]!
            if today, b.dailyUSD != nil { spend.add(amount, tag: b.tag, value: v, period: .daily) }
            if thisMonth, b.monthlyUSD != nil { spend.add(amount, tag: b.tag, value: v, period: .monthly) }
        }
    }

    /// What a job counts for: its actual cost once finished, else its estimate. A cost that is unknown (the model has
    /// no price and the provider said nothing) counts at the route's estimate, which is the model's catalog ceiling.
    static func charge(of job: Job) -> Double {
        switch job.status {
        case .succeeded: return job.costUSD ?? job.route?.estimatedCostUSD ?? 0
        case .failed, .cancelled: return job.costUSD ?? (job.costSource == .unknown ? job.route?.estimatedCostUSD ?? 0 : 0)
        case .queued, .running: return job.route?.estimatedCostUSD ?? 0
        }
    }

    /// Recomputes the counters from the store for the UTC day and month of `now`.
    static func rebuild(store: JobStore, budgets: [BudgetRule], now: Timestamp) async throws -> BudgetLedger {
        var ledger = BudgetLedger()
        ledger.day = dayNumber(now)
        ledger.month = monthNumber(now)
        guard !budgets.isEmpty else { return ledger }
        let tagNames = Set(budgets.map(\.tag))
        /// One job's contribution, read as plain values inside the read (so the async overload is used).
        struct Entry: Sendable {
            var createdMs: Int64
            var tags: [String: String]
            var amount: Double
        }
        let entries: [Entry] = try await store.database.read { db in
            var out: [Entry] = []
            let cursor = try Row.fetchCursor(
                db,
                sql: """
                    SELECT created_ms, status, cost_usd, json_extract(route_json, '$.estimatedCostUSD') AS estimate,
                           json_extract(task_json, '$.tags') AS tags
                    FROM job WHERE created_ms >= ? AND json_extract(task_json, '$.tags') IS NOT NULL
                    """, arguments: [monthStart(now).milliseconds])
            while let row = try cursor.next() {
                guard let tagsText: String = row["tags"], case .object(let o)? = try? JSONParser.parse(tagsText) else { continue }
                var tags: [String: String] = [:]
                for (k, v) in o where tagNames.contains(k) { tags[k] = v.stringValue }
                if tags.isEmpty { continue }
                let status = try StoredEnum.decode(JobStatus.self, row["status"], table: "job", column: "status")
                let cost: Double? = row["cost_usd"]
                let estimate: Double = row["estimate"] ?? 0
                let amount: Double
                switch status {
                case .succeeded: amount = cost ?? estimate
                case .failed, .cancelled: amount = cost ?? 0
                case .queued, .running: amount = estimate
                }
                out.append(Entry(createdMs: row["created_ms"], tags: tags, amount: amount))
            }
            return out
        }
        for e in entries {
            var task = ImageTask(positivePrompt: "-")
            task.tags = e.tags
            ledger.add(e.amount, task: task, createdAt: Timestamp(milliseconds: e.createdMs), budgets: budgets)
        }
        return ledger
    }

    /// The spend of every counter with a cap.
    func report(budgets: [BudgetRule]) -> [StatsReport.BudgetSpend] {
        var out: [StatsReport.BudgetSpend] = []
        var seen = Set<String>()
        for b in budgets {
            for p in BudgetPeriod.allCases {
                guard let cap = b.limit(p) else { continue }
                let values: [String] = b.value.map { [$0] } ?? spend.usd.keys.filter { $0.tag == b.tag && $0.period == p }.map(\.value).sorted()
                for v in values {
                    if b.value == nil, budgets.contains(where: { $0.tag == b.tag && $0.value == v }) { continue }
                    let key = "\(b.tag)=\(v)/\(p.rawValue)"
                    if !seen.insert(key).inserted { continue }
                    let spent = spend.spent(tag: b.tag, value: v, period: p)
                    out.append(
                        StatsReport.BudgetSpend(
                            tag: b.tag, value: v, period: p, capUSD: cap, spentUSD: (spent * 1e6).rounded() / 1e6,
                            remainingUSD: ((cap - spent) * 1e6).rounded() / 1e6))
                }
            }
        }
        return out
    }
}
