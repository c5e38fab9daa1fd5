/// Per-group job statistics since a point in time, and spend against budget caps (`stats.get`). The engine computes
/// it, the server renders it and the client reads it back, so the CLI prints its tables from these fields.
public struct StatsReport: Sendable, Equatable {
    /// One group's jobs (a model, a provider, an arm or a tag value).
    public struct Group: Sendable, Equatable {
        /// The group's name (`(none)` for jobs without one).
        public var group: String
        /// Jobs created in the window.
        public var jobs: Int
        /// Of those, succeeded.
        public var succeeded: Int
        /// Failed.
        public var failed: Int
        /// Cancelled.
        public var cancelled: Int
        /// Queued or running.
        public var unfinished: Int
        /// Succeeded among the finished (succeeded + failed), rounded to 0.001; nil when none finished.
        public var successRate: Double?
        /// Jobs with at least one attempt refused by the provider.
        public var refusals: Int
        /// Actual cost, rounded to a millionth of a dollar (jobs whose cost is unknown are not in it: ``unknownCostJobs``).
        public var costUSD: Double
        /// Succeeded jobs whose cost is unknown (`costSource: unknown`, `costUSD: null`): left out of ``costUSD``,
        /// never counted as $0.
        public var unknownCostJobs: Int = 0
        /// Jobs with a result that differs from its request or an attempt that failed `result_mismatch`.
        public var mismatches: Int
        /// Median seconds from start to finish of the succeeded jobs (rounded to 0.001); nil without any.
        public var latencyP50Seconds: Double?
        /// 95th percentile of the same.
        public var latencyP95Seconds: Double?
        /// Jobs with best-of-N (`consistency`) that succeeded (docs/consistency.md).
        public var consistencyJobs: Int = 0
        /// The mean kept SSIM score of those jobs (rounded to 0.0001); nil without any.
        public var meanBestScore: Double?
        /// The mean 1-based position of the first candidate reaching `minScore`, over the jobs that gave a `minScore`
        /// and reached it (rounded to 0.01); nil without any.
        public var meanSamplesToMinScore: Double?

        /// A group's statistics.
        public init(
            group: String, jobs: Int, succeeded: Int, failed: Int, cancelled: Int, unfinished: Int, successRate: Double?, refusals: Int,
            costUSD: Double, latencyP50Seconds: Double?, latencyP95Seconds: Double?, mismatches: Int = 0
        ) {
            self.mismatches = mismatches
            self.group = group
            self.jobs = jobs
            self.succeeded = succeeded
            self.failed = failed
            self.cancelled = cancelled
            self.unfinished = unfinished
            self.successRate = successRate
            self.refusals = refusals
            self.costUSD = costUSD
            self.latencyP50Seconds = latencyP50Seconds
            self.latencyP95Seconds = latencyP95Seconds
        }
    }

    /// Spend of one capped budget counter in its current period.
    public struct BudgetSpend: Sendable, Equatable {
        /// The tag and its value (`team` = `design`).
        public var tag: String
        /// The tag's value.
        public var value: String
        /// The budget's period.
        public var period: BudgetPeriod
        /// The cap for the period.
        public var capUSD: Double
        /// Rounded to a millionth of a dollar.
        public var spentUSD: Double
        /// `capUSD - spentUSD`, rounded likewise (negative when overspent).
        public var remainingUSD: Double

        /// A budget counter's spend.
        public init(tag: String, value: String, period: BudgetPeriod, capUSD: Double, spentUSD: Double, remainingUSD: Double) {
            self.tag = tag
            self.value = value
            self.period = period
            self.capUSD = capUSD
            self.spentUSD = spentUSD
            self.remainingUSD = remainingUSD
        }
    }

    /// Jobs created since this time are counted.
    public var since: Timestamp
    /// The groups, sorted by name.
    public var groups: [Group]
    /// Every capped budget counter.
    public var budgets: [BudgetSpend]

    /// A statistics report.
    public init(since: Timestamp, groups: [Group], budgets: [BudgetSpend]) {
        self.since = since
        self.groups = groups
        self.budgets = budgets
    }
}
