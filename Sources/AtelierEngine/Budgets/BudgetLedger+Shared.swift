import AtelierCore

/// What a shared store (PostgreSQL) needs from the budget rules: the counters a task charges, with their caps.
extension BudgetLedger {
    /// The counters (with caps) a task accepted at `createdAt` charges: for each budget rule that applies to the
    /// task's tags (a value-specific rule replacing its tag's catch-all, as in ``add(_:task:createdAt:budgets:)``),
    /// the UTC day's and the UTC month's counter when the rule caps that period. Two rules on one counter keep the
    /// lower cap.
    static func caps(task: ImageTask, createdAt: Timestamp, budgets: [BudgetRule]) -> [BudgetCounter: Double] {
        var caps: [BudgetCounter: Double] = [:]
        for b in budgets {
            guard let v = task.tags[b.tag], b.value == nil || b.value == v else { continue }
            if b.value == nil, budgets.contains(where: { $0.tag == b.tag && $0.value == v }) { continue }
            for p in BudgetPeriod.allCases {
                guard let cap = b.limit(p) else { continue }
                let number = p == .daily ? dayNumber(createdAt) : monthNumber(createdAt)
                let counter = BudgetCounter(tag: b.tag, value: v, period: p, periodNumber: number)
                caps[counter] = min(caps[counter] ?? cap, cap)
            }
        }
        return caps
    }

    /// The hold a shared store charges on insert (``JobSubmission/hold``): the task's estimate against every counter
    /// it counts in, all or nothing, never past a cap whatever the other daemons spend at the same moment; nil when
    /// no budget applies.
    static func hold(for task: ImageTask, amountUSD: Double, createdAt: Timestamp, budgets: [BudgetRule]) -> BudgetHold? {
        let caps = caps(task: task, createdAt: createdAt, budgets: budgets)
        return caps.isEmpty ? nil : BudgetHold(amountUSD: amountUSD, caps: caps)
    }

    /// The counters a job charged when it was accepted: the ones to ``EngineStore/adjust(_:deltaUSD:)`` by
    /// (final charge − estimate) when it finishes (``charge(of:)``).
    static func counters(for job: Job, budgets: [BudgetRule]) -> [BudgetCounter] {
        caps(task: job.task, createdAt: job.createdAt, budgets: budgets).keys.sorted()
    }
}
