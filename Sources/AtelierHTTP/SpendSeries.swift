import AtelierCore

/// Spend over time for the console's Costs page (`GET /api/spend?hours=24|168&by=model|provider|arm`): the cost of
/// jobs finished in the window, per group, in equal buckets (an hour over a day, six hours over a week), with how
/// much of it is only estimated and how many jobs have no price at all (`costSource` `unknown`: no number, counted).
struct SpendSeries: Sendable {
    /// What to group by.
    enum Grouping: String, Sendable, CaseIterable {
        case model, provider, arm
    }

    /// The most jobs one request reads (newest first) to draw the series.
    static let scanLimit = 20_000

    let since: Timestamp
    let bucketSeconds: Int64
    let bucketCount: Int
    let by: Grouping
    /// USD per group per bucket.
    private(set) var values: [String: [Double]] = [:]
    /// Of the totals, USD whose source is `estimated`.
    private(set) var estimatedUSD = 0.0
    /// Jobs whose cost is unknown, per group.
    private(set) var unknownJobs: [String: Int] = [:]
    /// Jobs read.
    private(set) var jobs = 0

    /// An empty series of `hours` ending at `now`.
    init(hours: Int, by: Grouping, now: Timestamp) {
        self.by = by
        bucketSeconds = hours <= 48 ? 3600 : 6 * 3600
        bucketCount = Int((Int64(hours) * 3600 + bucketSeconds - 1) / bucketSeconds)
        since = Timestamp(milliseconds: now.milliseconds - Int64(bucketCount) * bucketSeconds * 1000)
    }

    /// The group name of `job` for this series (`none` when it has none, e.g. no split arm).
    func group(of job: Job) -> String {
        switch by {
        case .model: job.attempts.last?.model ?? job.route?.model ?? "none"
        case .provider: job.attempts.last?.provider ?? job.route?.provider ?? "none"
        case .arm: job.route?.arm ?? "none"
        }
    }

    /// Adds a job (one that did not finish in the window is ignored).
    mutating func add(_ job: Job) {
        guard let finished = job.finishedAt, finished.milliseconds >= since.milliseconds else { return }
        let index = Int((finished.milliseconds - since.milliseconds) / (bucketSeconds * 1000))
        guard index >= 0, index < bucketCount else { return }
        jobs += 1
        let g = group(of: job)
        let source = job.costSource
        if source == .unknown {
            unknownJobs[g, default: 0] += 1
            return
        }
        guard let cost = job.costUSD, cost > 0 else { return }
        values[g, default: Array(repeating: 0, count: bucketCount)][index] += cost
        if source == .estimated { estimatedUSD += cost }
    }

    /// `{by, since, bucketSeconds, buckets: [start…], series: [{group, values, totalUSD}], totalUSD, estimatedUSD,
    /// unknownJobs: {group: n}, jobs}`; series sorted by total, largest first.
    var json: JSONValue {
        let starts = (0..<bucketCount).map { i in
            JSONValue.string(Timestamp(milliseconds: since.milliseconds + Int64(i) * bucketSeconds * 1000).iso8601)
        }
        let series = values.map { (group: $0.key, values: $0.value, total: $0.value.reduce(0, +)) }.sorted { $0.total > $1.total }
        return [
            "by": .string(by.rawValue), "since": .string(since.iso8601), "bucketSeconds": .int(bucketSeconds), "buckets": .array(starts),
            "series": .array(
                series.map {
                    [
                        "group": .string($0.group), "values": .array($0.values.map { .number(Self.round($0)) }),
                        "totalUSD": .number(Self.round($0.total)),
                    ]
                }),
            "totalUSD": .number(Self.round(series.reduce(0) { $0 + $1.total })), "estimatedUSD": .number(Self.round(estimatedUSD)),
            "unknownJobs": .object(JSONObject(unknownJobs.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.int(Int64($0.value))) })),
            "jobs": .int(Int64(jobs)),
        ]
    }

    /// To a millionth of a dollar.
    static func round(_ usd: Double) -> Double { (usd * 1_000_000).rounded() / 1_000_000 }
}
