/// Where a job is in its life. `queued → running → succeeded | failed | cancelled`.
public enum JobStatus: String, Sendable, Hashable, CaseIterable {
    case queued
    case running
    case succeeded
    case failed
    case cancelled

    /// True for the three end states.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// One stored image.
public struct JobResult: Sendable, Equatable {
    /// The image's id (UUID v4).
    public var imageUUID: String
    /// Absolute path of the stored file.
    public var path: String
    /// MIME type of the file.
    public var mimeType: String
    public var width: Int
    public var height: Int
    /// File size in bytes.
    public var bytes: Int
    /// Lowercase hex SHA-256 of the file.
    public var sha256: String
    /// The seed actually used, when known.
    public var seed: Int64?
    /// True only when this model really reproduces this image from ``seed``.
    public var seedHonored: Bool
    /// What this image cost, in USD; nil when unknown (``costSource`` `unknown`), never 0 for "unknown".
    public var costUSD: Double?
    /// Where ``costUSD`` comes from (nil only on results stored before costs had sources).
    public var costSource: CostSource?
    /// Text the model returned alongside the image (Gemini), if any.
    public var note: String?
    /// How to make this image again exactly; only on results of seed-honouring models (see ``Recipe``).
    public var recipe: Recipe?
    /// How the delivered image compares with the request (nil for results stored before verification existed).
    public var verification: ResultVerification?
    /// Best-of-N sampling that chose this image (`consistency` tasks), nil otherwise (docs/consistency.md).
    public var consistency: ConsistencyReport?
    /// The protected region's measurement or composite (`preserve` tasks), nil otherwise (docs/consistency.md).
    public var preserve: PreserveReport?

    public init(
        imageUUID: String, path: String, mimeType: String, width: Int, height: Int, bytes: Int, sha256: String, seed: Int64?,
        seedHonored: Bool, costUSD: Double?, note: String? = nil, recipe: Recipe? = nil
    ) {
        self.recipe = recipe
        self.imageUUID = imageUUID
        self.path = path
        self.mimeType = mimeType
        self.width = width
        self.height = height
        self.bytes = bytes
        self.sha256 = sha256
        self.seed = seed
        self.seedHonored = seedHonored
        self.costUSD = costUSD
        self.note = note
    }

    public var json: JSONValue {
        var o = JSONObject()
        o.append("imageUUID", .string(imageUUID))
        o.append("path", .string(path))
        o.append("mimeType", .string(mimeType))
        o.append("width", .int(Int64(width)))
        o.append("height", .int(Int64(height)))
        o.append("bytes", .int(Int64(bytes)))
        o.append("sha256", .string(sha256))
        o.append("seed", seed.map(JSONValue.int) ?? .null)
        o.append("seedHonored", .bool(seedHonored))
        o.append("costUSD", costUSD.map(JSONValue.number) ?? .null)
        o.append("costSource", ifPresent: costSource.map { .string($0.rawValue) })
        o.append("note", ifPresent: note.map(JSONValue.string))
        o.append("recipe", recipe?.json ?? .null)
        o.append("verification", ifPresent: verification?.json)
        o.append("consistency", ifPresent: consistency?.json)
        o.append("preserve", ifPresent: preserve?.json)
        return .object(o)
    }

    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        recipe = try r.raw("recipe").map { v throws(AtelierError) in try Recipe(json: v) }
        imageUUID = try r.requiredString("imageUUID")
        path = try r.requiredString("path")
        mimeType = try r.requiredString("mimeType")
        width = Int(try r.int("width") ?? 0)
        height = Int(try r.int("height") ?? 0)
        bytes = Int(try r.int("bytes") ?? 0)
        sha256 = try r.requiredString("sha256")
        seed = try r.int("seed")
        seedHonored = try r.bool("seedHonored") ?? false
        costUSD = try r.double("costUSD")
        costSource = CostSource(parsing: try r.string("costSource"))
        note = try r.string("note")
        verification = try r.raw("verification").map { v throws(AtelierError) in try ResultVerification(json: v) }
        consistency = try r.raw("consistency").map { v throws(AtelierError) in try ConsistencyReport(json: v) }
        preserve = try r.raw("preserve").map { v throws(AtelierError) in try PreserveReport(json: v) }
    }
}

extension JobResult {
    /// This image's cost with its source; nil when the result carries neither (a provider that said nothing and
    /// no catalog price was applied). A number without a source (stored before sources existed) counts as
    /// `estimated`.
    public var costFigure: CostFigure? {
        if let costSource { return CostFigure(usd: costUSD, source: costSource) }
        return costUSD.map { CostFigure(usd: $0, source: .estimated) }
    }
}

/// The routing decision as recorded on a job.
public struct RouteSummary: Sendable, Equatable {
    /// The provider that serves the job.
    public var provider: String
    /// The model chosen.
    public var model: String
    /// Why, in order (rules matched, preferences applied).
    public var reasons: [String]
    /// Estimated cost of the task at the chosen model, in USD.
    public var estimatedCostUSD: Double
    /// Models to try next if this one fails with a retryable or refused error (same hard constraints).
    public var fallbacks: [String]
    /// The split arm, when a `split` rule assigned one.
    public var arm: String?
    /// False when the chosen model's price is unknown: ``estimatedCostUSD`` is then its catalog ceiling (shown on
    /// the wire only when false).
    public var priceKnown: Bool = true

    public init(provider: String, model: String, reasons: [String], estimatedCostUSD: Double, fallbacks: [String] = [], arm: String? = nil) {
        self.provider = provider
        self.model = model
        self.reasons = reasons
        self.estimatedCostUSD = estimatedCostUSD
        self.fallbacks = fallbacks
        self.arm = arm
    }

    public var json: JSONValue {
        var o = JSONObject()
        o.append("provider", .string(provider))
        o.append("model", .string(model))
        o.append("reasons", .array(reasons.map(JSONValue.string)))
        o.append("estimatedCostUSD", .number(estimatedCostUSD))
        o.append("fallbacks", .array(fallbacks.map(JSONValue.string)))
        o.append("arm", ifPresent: arm.map(JSONValue.string))
        if !priceKnown { o.append("priceKnown", .bool(false)) }
        return .object(o)
    }

    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        provider = try r.requiredString("provider")
        model = try r.requiredString("model")
        reasons = try r.stringArray("reasons") ?? []
        estimatedCostUSD = try r.double("estimatedCostUSD") ?? 0
        fallbacks = try r.stringArray("fallbacks") ?? []
        arm = try r.string("arm")
        priceKnown = try r.bool("priceKnown") ?? true
    }
}

/// One try at one model.
public struct Attempt: Sendable, Equatable {
    /// How it ended.
    public enum Outcome: String, Sendable {
        /// Still running (or was running when the daemon stopped).
        case running
        case succeeded
        case failed
        /// The daemon stopped during the attempt; recovery resumed or re-ran it.
        case interrupted
        case cancelled
    }

    /// 1-based attempt number across all models.
    public var number: Int
    public var provider: String
    public var model: String
    public var startedAt: Timestamp
    public var endedAt: Timestamp?
    public var outcome: Outcome
    public var error: AtelierError?
    /// The provider's handle for resuming (Runware taskUUID, BFL polling URL), when the call is asynchronous.
    public var resumeHandle: String?
    /// What this attempt was charged, when it delivered images (kept, or discarded for a mismatch: they were paid
    /// for); nil for an attempt that produced nothing.
    public var cost: CostFigure?

    public init(
        number: Int, provider: String, model: String, startedAt: Timestamp, endedAt: Timestamp? = nil, outcome: Outcome = .running,
        error: AtelierError? = nil, resumeHandle: String? = nil
    ) {
        self.number = number
        self.provider = provider
        self.model = model
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.error = error
        self.resumeHandle = resumeHandle
    }

    public var json: JSONValue {
        var o = JSONObject()
        o.append("number", .int(Int64(number)))
        o.append("provider", .string(provider))
        o.append("model", .string(model))
        o.append("startedAt", .string(startedAt.iso8601))
        o.append("endedAt", endedAt.map { .string($0.iso8601) } ?? .null)
        o.append("outcome", .string(outcome.rawValue))
        o.append("error", error?.json ?? .null)
        if let cost {
            o.append("costUSD", cost.usd.map(JSONValue.number) ?? .null)
            o.append("costSource", .string(cost.source.rawValue))
        }
        return .object(o)
    }

    /// Storage form (includes the resume handle, which is not shown to callers).
    public var storageJSON: JSONValue {
        guard case .object(var o) = json else { return json }
        o.append("resumeHandle", ifPresent: resumeHandle.map(JSONValue.string))
        o["startedAtMs"] = .int(startedAt.milliseconds)
        o["endedAtMs"] = endedAt.map { .int($0.milliseconds) }
        return .object(o)
    }

    public init(storageJSON v: JSONValue) throws(AtelierError) {
        var r = try FieldReader(v)
        number = Int(try r.int("number") ?? 0)
        provider = try r.requiredString("provider")
        model = try r.requiredString("model")
        _ = try r.string("startedAt")
        _ = try r.string("endedAt")
        startedAt = Timestamp(milliseconds: try r.int("startedAtMs") ?? 0)
        endedAt = try r.int("endedAtMs").map(Timestamp.init(milliseconds:))
        outcome = Outcome(rawValue: try r.string("outcome") ?? "failed") ?? .failed
        error = r.raw("error").map(AtelierError.init(json:))
        resumeHandle = try r.string("resumeHandle")
        cost = try Self.readCost(&r)
    }

    /// `costUSD` + `costSource` of a stored or wire attempt (nil when the attempt was not charged).
    static func readCost(_ r: inout FieldReader) throws(AtelierError) -> CostFigure? {
        let usd = try r.double("costUSD")
        guard let source = CostSource(parsing: try r.string("costSource")) else { return nil }
        return CostFigure(usd: usd, source: source)
    }
}

/// A job: a task as accepted, its route, its attempts and its results.
public struct Job: Sendable, Equatable {
    public var taskUUID: String
    public var status: JobStatus
    /// The task as accepted (with the seed filled in once chosen).
    public var task: ImageTask
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    public var route: RouteSummary?
    public var results: [JobResult]
    /// Total cost in USD (kept results plus attempts whose images were paid for and discarded); nil while nothing
    /// was charged and when any part is unknown (``costSource``).
    public var costUSD: Double?
    public var error: AtelierError?
    public var attempts: [Attempt]
    /// Webhook messages and uploads owed for this job, one entry per outbox row (`{id, kind, event, url, status,
    /// attempts, nextAttemptAt, lastError, …}`); kept current by the delivery service, empty when there are none.
    public var deliveries: [JSONValue] = []

    public init(
        task: ImageTask, status: JobStatus = .queued, createdAt: Timestamp, route: RouteSummary?, results: [JobResult] = [],
        attempts: [Attempt] = []
    ) {
        self.taskUUID = task.taskUUID
        self.status = status
        self.task = task
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.route = route
        self.results = results
        self.attempts = attempts
    }

    /// The wire form, as returned by `job.get` and friends.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("taskUUID", .string(taskUUID))
        o.append("status", .string(status.rawValue))
        o.append("createdAt", .string(createdAt.iso8601))
        o.append("updatedAt", .string(updatedAt.iso8601))
        o.append("startedAt", startedAt.map { .string($0.iso8601) } ?? .null)
        o.append("finishedAt", finishedAt.map { .string($0.iso8601) } ?? .null)
        o.append("route", route?.json ?? .null)
        o.append("results", .array(results.map(\.json)))
        o.append("costUSD", costUSD.map(JSONValue.number) ?? .null)
        o.append("costSource", costSource.map { .string($0.rawValue) } ?? .null)
        o.append("error", error?.json ?? .null)
        o.append("attempts", .array(attempts.map(\.json)))
        o.append("task", task.json)
        if !deliveries.isEmpty { o.append("deliveries", .array(deliveries)) }
        return .object(o)
    }
}

extension Job {
    /// Where ``costUSD`` comes from: the most uncertain source among the paid attempts (or, for jobs stored before
    /// attempts carried costs, among the results); nil while nothing was charged.
    public var costSource: CostSource? {
        let paid = attempts.compactMap(\.cost?.source)
        if !paid.isEmpty { return CostSource.combined(paid) }
        if let s = CostSource.combined(results.compactMap(\.costFigure?.source)) { return s }
        return costUSD == nil ? nil : .estimated
    }

    /// Decodes the wire form written by ``json`` (used by the client library).
    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        taskUUID = try r.requiredString("taskUUID")
        guard let s = JobStatus(rawValue: try r.requiredString("status")) else {
            throw AtelierError(.invalidValue, "unknown job status", field: "/status")
        }
        status = s
        func time(_ k: String, _ r: inout FieldReader) throws(AtelierError) -> Timestamp? {
            guard let t = try r.string(k) else { return nil }
            guard let ts = Timestamp(iso8601: t) else { throw AtelierError(.invalidValue, "\(k) is not an ISO 8601 time", field: "/\(k)") }
            return ts
        }
        createdAt = try time("createdAt", &r) ?? Timestamp(milliseconds: 0)
        updatedAt = try time("updatedAt", &r) ?? createdAt
        startedAt = try time("startedAt", &r)
        finishedAt = try time("finishedAt", &r)
        route = try r.raw("route").map { v throws(AtelierError) in try RouteSummary(json: v) }
        var results: [JobResult] = []
        for v in r.raw("results")?.arrayValue ?? [] { results.append(try JobResult(json: v)) }
        self.results = results
        costUSD = try r.double("costUSD")
        error = r.raw("error").map(AtelierError.init(json:))
        var attempts: [Attempt] = []
        for v in r.raw("attempts")?.arrayValue ?? [] {
            var a = try FieldReader(v)
            let started = Timestamp(iso8601: try a.string("startedAt") ?? "") ?? Timestamp(milliseconds: 0)
            let ended = (try a.string("endedAt")).flatMap { Timestamp(iso8601: $0) }
            attempts.append(
                Attempt(
                    number: Int(try a.int("number") ?? 0), provider: try a.requiredString("provider"), model: try a.requiredString("model"),
                    startedAt: started, endedAt: ended, outcome: Attempt.Outcome(rawValue: try a.string("outcome") ?? "") ?? .failed,
                    error: a.raw("error").map(AtelierError.init(json:))))
            attempts[attempts.count - 1].cost = try Attempt.readCost(&a)
        }
        self.attempts = attempts
        guard let t = r.raw("task") else { throw AtelierError(.missingField, "task is missing", field: "/task") }
        task = try ImageTask(json: t)
        deliveries = r.raw("deliveries")?.arrayValue ?? []
    }
}
