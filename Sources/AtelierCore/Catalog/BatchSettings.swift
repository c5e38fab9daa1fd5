import Foundation

/// A provider's batch interface (Gemini `batchGenerateContent`), from the provider file's `batch` member: how long a
/// batch takes at most (its target turnaround), how jobs are collected into batches and how batches are polled.
///
/// A model can be batched when its card has a batch price (``ModelCard/batchPrice``) and its provider has these
/// settings.
public struct BatchSettings: Sendable, Equatable {
    /// The provider's target turnaround: a task is priced at the batch rate only when its deadline leaves at least this.
    public var turnaroundSeconds: Double
    /// How long the first job of a batch waits for others before the batch goes out (the collection window).
    public var collectSeconds: Double
    /// A batch goes out as soon as it holds this many requests.
    public var maxRequests: Int
    /// Requests up to this many bytes in total go inline; beyond it, as a JSONL file through the Files API.
    public var maxInlineBytes: Int
    /// Seconds between two polls of one batch.
    public var pollSeconds: Double
    /// Jobs that may wait in batches at once (the batch lane's concurrency; they hold no interactive slot).
    public var maxWaitingJobs: Int
    /// Time kept for the interactive endpoint when a batch is late: the job leaves its batch when less than this is
    /// left before its deadline.
    public var interactiveReserveSeconds: Double

    /// Settings with Gemini's defaults (24 h turnaround, a 60 s window, 100 requests, 20 MB inline, polls every 30 s).
    public init(
        turnaroundSeconds: Double = 86_400, collectSeconds: Double = 60, maxRequests: Int = 100, maxInlineBytes: Int = 20_000_000,
        pollSeconds: Double = 30, maxWaitingJobs: Int = 1000, interactiveReserveSeconds: Double = 600
    ) {
        self.turnaroundSeconds = turnaroundSeconds
        self.collectSeconds = collectSeconds
        self.maxRequests = maxRequests
        self.maxInlineBytes = maxInlineBytes
        self.pollSeconds = pollSeconds
        self.maxWaitingJobs = maxWaitingJobs
        self.interactiveReserveSeconds = interactiveReserveSeconds
    }

    /// The id of a provider's batch lane: the engine queues batched jobs under it, apart from the provider's
    /// interactive calls (``ProviderConfig/concurrency``).
    public static func laneID(provider: String) -> String { provider + ".batch" }

    /// The provider id of a lane id, or nil when `id` is not a lane.
    public static func provider(ofLane id: String) -> String? {
        id.hasSuffix(".batch") ? String(id.dropLast(6)) : nil
    }

    /// The longest collection window accepted.
    public static let maxCollectSeconds: Double = 3600

    /// Parses a provider file's `batch` member.
    public static func parse(_ value: JSONValue, path: String) throws(AtelierError) -> BatchSettings {
        var r = try FieldReader(value, path: path)
        var s = BatchSettings()
        func positive(_ key: String) throws(AtelierError) -> Double? {
            guard let d = try r.double(key) else { return nil }
            guard d > 0, d.isFinite else { throw AtelierError(.invalidValue, "\(key) must be greater than zero", field: r.pointer(key)) }
            return d
        }
        s.turnaroundSeconds = try positive("turnaroundSeconds") ?? s.turnaroundSeconds
        s.collectSeconds = try positive("collectSeconds") ?? s.collectSeconds
        if s.collectSeconds > maxCollectSeconds {
            throw AtelierError(.invalidValue, "collectSeconds must be at most \(Int(maxCollectSeconds))", field: r.pointer("collectSeconds"))
        }
        s.maxRequests = Int(try r.int("maxRequests", in: 1...100_000) ?? Int64(s.maxRequests))
        s.maxInlineBytes = Int(try r.int("maxInlineBytes", in: 1...20_000_000) ?? Int64(s.maxInlineBytes))
        s.pollSeconds = try positive("pollSeconds") ?? s.pollSeconds
        s.maxWaitingJobs = Int(try r.int("maxWaitingJobs", in: 1...100_000) ?? Int64(s.maxWaitingJobs))
        if let d = try r.double("interactiveReserveSeconds") {
            guard d >= 0, d.isFinite else {
                throw AtelierError(.invalidValue, "interactiveReserveSeconds must be zero or more", field: r.pointer("interactiveReserveSeconds"))
            }
            s.interactiveReserveSeconds = d
        }
        try r.finish()
        return s
    }

    /// The `batch` member as written in a provider file.
    public var json: JSONValue {
        [
            "turnaroundSeconds": .number(turnaroundSeconds), "collectSeconds": .number(collectSeconds), "maxRequests": .int(Int64(maxRequests)),
            "maxInlineBytes": .int(Int64(maxInlineBytes)), "pollSeconds": .number(pollSeconds), "maxWaitingJobs": .int(Int64(maxWaitingJobs)),
            "interactiveReserveSeconds": .number(interactiveReserveSeconds),
        ]
    }
}

/// The pure rule deciding whether a task goes through a model's batch interface — the same answer for the router
/// (which prices it) and the provider (which sends it).
public enum BatchLane {
    /// Why a task cannot be batched on a model, when it asked for batch only.
    public enum Refusal: Sendable, Equatable {
        /// The model (or its provider) has no batch interface.
        case notSupported
        /// The deadline leaves less than the turnaround.
        case deadlineTooShort(secondsLeft: Double, turnaround: Double)
    }

    /// True when `task` goes through the batch interface of a model with `batchPrice` on a provider with `settings`,
    /// `secondsLeft` before its deadline (nil: no deadline).
    public static func applies(preference: BatchPreference, hasDeadline: Bool, secondsLeft: Double, supported: Bool, turnaround: Double) -> Bool {
        guard supported else { return false }
        switch preference {
        case .never: return false
        case .only: return !hasDeadline || secondsLeft >= turnaround
        case .auto: return hasDeadline && secondsLeft >= turnaround
        }
    }

    /// ``applies(preference:hasDeadline:secondsLeft:supported:turnaround:)`` for a task and a card at `now`; a
    /// duration deadline is counted from `submittedAt` (nil: from now).
    public static func applies(_ task: ImageTask, model: ModelCard, settings: BatchSettings?, now: Timestamp, submittedAt: Timestamp? = nil) -> Bool {
        let deadline = task.requirements.deadline
        return applies(
            preference: task.requirements.batch, hasDeadline: deadline != nil,
            secondsLeft: deadline?.secondsLeft(now: now, submittedAt: submittedAt) ?? .infinity,
            supported: model.batchPrice != nil && settings != nil, turnaround: settings?.turnaroundSeconds ?? .infinity)
    }
}

extension CatalogLoader {
    /// A model's `batch` member: `{"price": <a dated price rule, as for price>}`.
    static func parseModelBatch(_ value: JSONValue, path: String) throws(AtelierError) -> (PriceRule, String?) {
        var r = try FieldReader(value, path: path)
        guard let p = r.raw("price") else { throw AtelierError(.missingField, "batch.price is required", field: r.pointer("price")) }
        let dated = try parseDatedPrice(p, path: r.pointer("price"))
        try r.finish()
        return dated
    }
}

extension ModelCard {
    /// ``estimatedCost(_:size:)`` at the batch price (the interactive estimate when the model has none).
    public func estimatedBatchCost(_ task: ImageTask, size: ResolvedSize) -> Double {
        guard let batchPrice else { return estimatedCost(task, size: size) }
        return batchPrice.cost(size: size, referenceImages: task.referenceImages.count) * Double(task.pricedImages)
    }
}
