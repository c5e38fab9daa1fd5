import AtelierCore

extension StatsReport {
    /// Reads a `stats.get` answer (`{since, groups, budgets, by}`).
    init(reading v: JSONValue) throws(AtelierClientError) {
        let r = try AnswerReader(v, "stats report")
        guard let since = Timestamp(iso8601: try r.string("since")) else { throw AtelierClientError.badResponse("stats report: since is not a time") }
        var groups: [Group] = []
        for x in try r.array("groups") {
            let g = try AnswerReader(x, "stats group")
            var group =
                Group(
                    group: try g.string("group"), jobs: try g.int("jobs"), succeeded: try g.int("succeeded"), failed: try g.int("failed"),
                    cancelled: try g.int("cancelled"), unfinished: try g.int("unfinished"), successRate: g.optionalDouble("successRate"),
                    refusals: try g.int("refusals"), costUSD: try g.double("costUSD"), latencyP50Seconds: g.optionalDouble("latencyP50Seconds"),
                    latencyP95Seconds: g.optionalDouble("latencyP95Seconds"), mismatches: x["mismatches"]?.intValue.map { Int($0) } ?? 0)
            group.unknownCostJobs = x["unknownCostJobs"]?.intValue.map { Int($0) } ?? 0
            // Best-of-N members (docs/consistency.md); absent from daemons that predate them.
            group.consistencyJobs = x["consistencyJobs"]?.intValue.map { Int($0) } ?? 0
            group.meanBestScore = g.optionalDouble("meanBestScore")
            group.meanSamplesToMinScore = g.optionalDouble("meanSamplesToMinScore")
            groups.append(group)
        }
        var budgets: [BudgetSpend] = []
        for x in try r.array("budgets") {
            let b = try AnswerReader(x, "budget")
            guard let period = BudgetPeriod(rawValue: try b.string("period")) else {
                throw AtelierClientError.badResponse("budget: unknown period \(x["period"]?.description ?? "")")
            }
            budgets.append(
                BudgetSpend(
                    tag: try b.string("tag"), value: try b.string("value"), period: period, capUSD: try b.double("capUSD"),
                    spentUSD: try b.double("spentUSD"), remainingUSD: try b.double("remainingUSD")))
        }
        self.init(since: since, groups: groups, budgets: budgets)
    }
}
