/// Where a workflow is: `ideating → awaiting_selection → finalizing → succeeded | failed | cancelled`.
///
/// With selection mode `first` (or a selection made while variants still run) `awaiting_selection` is skipped.
public enum WorkflowState: String, Sendable, Hashable, CaseIterable {
    /// Variant jobs are running.
    case ideating
    /// Every variant is finished, at least one succeeded; waiting for `workflow.select`.
    case awaitingSelection = "awaiting_selection"
    /// The final job is submitted (or about to be).
    case finalizing
    case succeeded
    case failed
    case cancelled

    /// True for the three end states.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
    /// True when the workflow needs the caller or is done (what `workflow.wait` waits for).
    public var isResting: Bool { isTerminal || self == .awaitingSelection }
}

/// The image a stage job produced (its first result).
public struct StageImage: Sendable, Equatable {
    public var imageUUID: String
    public var path: String
    public var sha256: String
    public var width: Int
    public var height: Int
    public var mimeType: String
    /// The seed actually used, when the model honours seeds.
    public var seed: Int64?
    public var seedHonored: Bool

    public init(_ r: JobResult) {
        imageUUID = r.imageUUID
        path = r.path
        sha256 = r.sha256
        width = r.width
        height = r.height
        mimeType = r.mimeType
        seed = r.seed
        seedHonored = r.seedHonored
    }

    public var json: JSONValue {
        var o = JSONObject()
        o.append("imageUUID", .string(imageUUID))
        o.append("path", .string(path))
        o.append("sha256", .string(sha256))
        o.append("width", .int(Int64(width)))
        o.append("height", .int(Int64(height)))
        o.append("mimeType", .string(mimeType))
        o.append("seed", seed.map(JSONValue.int) ?? .null)
        o.append("seedHonored", .bool(seedHonored))
        return .object(o)
    }

    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        imageUUID = try r.requiredString("imageUUID")
        path = try r.requiredString("path")
        sha256 = try r.requiredString("sha256")
        width = Int(try r.int("width") ?? 0)
        height = Int(try r.int("height") ?? 0)
        mimeType = try r.string("mimeType") ?? "application/octet-stream"
        seed = try r.int("seed")
        seedHonored = try r.bool("seedHonored") ?? false
    }
}

/// One job of a workflow stage, as the workflow recorded it.
public struct StageJob: Sendable, Equatable {
    /// The job's id (derived from the workflowUUID).
    public var taskUUID: String
    /// The job's status once the workflow saw it; nil before the job was submitted.
    public var status: JobStatus?
    public var model: String?
    public var provider: String?
    /// Actual cost, once finished (nil when unknown: see ``costSource``).
    public var costUSD: Double?
    /// Where ``costUSD`` comes from, once finished and charged.
    public var costSource: CostSource?
    /// The router's estimate (the model's ceiling when its price is unknown).
    public var estimatedCostUSD: Double?
    /// The first result, once succeeded.
    public var image: StageImage?
    /// The recipe of ``image`` (seed-honouring models only).
    public var recipe: Recipe?
    public var error: AtelierError?
    public var finishedAt: Timestamp?
    /// The draft's best-of-N score against the workflow's references (`ideation.consistency`), once succeeded.
    public var score: Double?

    public init(taskUUID: String) { self.taskUUID = taskUUID }

    /// True once the workflow recorded the job's end.
    public var isFinished: Bool { status?.isTerminal == true }
    /// True once the job exists.
    public var isSubmitted: Bool { status != nil }

    /// Records what the job is now. Terminal records are final; later reports of the same job change nothing.
    /// - Returns: true when this recorded the job's end.
    @discardableResult
    mutating func record(_ job: Job) -> Bool {
        if isFinished { return false }
        status = job.status
        model = job.route?.model ?? model
        provider = job.route?.provider ?? provider
        estimatedCostUSD = job.route?.estimatedCostUSD ?? estimatedCostUSD
        guard job.status.isTerminal else { return false }
        costUSD = job.costUSD
        costSource = job.costSource
        image = job.results.first.map(StageImage.init)
        recipe = job.results.first?.recipe
        score = job.results.first?.consistency?.score
        error = job.error
        finishedAt = job.finishedAt ?? .now()
        return true
    }

    /// Records a job that could not be submitted at all (e.g. `budget_exceeded`).
    mutating func recordRejected(_ e: AtelierError, at now: Timestamp) {
        status = .failed
        error = e
        finishedAt = now
        costUSD = 0
    }

    /// Storage and wire form (without live data).
    public var json: JSONValue {
        var o = JSONObject()
        o.append("taskUUID", .string(taskUUID))
        o.append("status", .string(status?.rawValue ?? "pending"))
        o.append("model", model.map(JSONValue.string) ?? .null)
        o.append("provider", provider.map(JSONValue.string) ?? .null)
        o.append("costUSD", costUSD.map(JSONValue.number) ?? .null)
        o.append("costSource", ifPresent: costSource.map { .string($0.rawValue) })
        o.append("estimatedCostUSD", estimatedCostUSD.map(JSONValue.number) ?? .null)
        o.append("image", image?.json ?? .null)
        o.append("recipe", recipe?.json ?? .null)
        o.append("error", error?.json ?? .null)
        o.append("finishedAt", finishedAt.map { .string($0.iso8601) } ?? .null)
        o.append("score", ifPresent: score.map(JSONValue.number))
        return .object(o)
    }

    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        taskUUID = try r.requiredString("taskUUID")
        score = try r.double("score")
        switch try r.string("status") ?? "pending" {
        case "pending": status = nil
        case let s:
            // A stored value this version does not know is a corrupt row, not a failed job.
            guard let known = JobStatus(rawValue: s) else {
                throw AtelierError(.invalidValue, "unknown job status '\(s.prefix(32))'", field: r.pointer("status"))
            }
            status = known
        }
        model = try r.string("model")
        provider = try r.string("provider")
        costUSD = try r.double("costUSD")
        costSource = CostSource(parsing: try r.string("costSource"))
        estimatedCostUSD = try r.double("estimatedCostUSD")
        image = try r.raw("image").map { v throws(AtelierError) in try StageImage(json: v) }
        recipe = try r.raw("recipe").map { v throws(AtelierError) in try Recipe(json: v) }
        error = r.raw("error").map(AtelierError.init(json:))
        finishedAt = (try r.string("finishedAt")).flatMap { Timestamp(iso8601: $0) }
    }
}

/// The chosen variant.
public struct WorkflowSelection: Sendable, Equatable {
    public var imageUUID: String
    public var variantIndex: Int
    /// `client` (workflow.select) or `first` (automatic).
    public var by: WorkflowSpec.SelectionMode
    public var at: Timestamp

    public init(imageUUID: String, variantIndex: Int, by: WorkflowSpec.SelectionMode, at: Timestamp) {
        self.imageUUID = imageUUID
        self.variantIndex = variantIndex
        self.by = by
        self.at = at
    }

    public var json: JSONValue {
        [
            "imageUUID": .string(imageUUID), "variantIndex": .int(Int64(variantIndex)), "selectedBy": .string(by.rawValue),
            "selectedAt": .string(at.iso8601),
        ]
    }

    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        imageUUID = try r.requiredString("imageUUID")
        variantIndex = Int(try r.int("variantIndex") ?? 0)
        by = WorkflowSpec.SelectionMode(rawValue: try r.string("selectedBy") ?? "client") ?? .client
        at = Timestamp(iso8601: try r.string("selectedAt") ?? "") ?? Timestamp(milliseconds: 0)
    }
}

/// A hybrid workflow: ideation variants, a selection, and a reproducible final.
///
/// A pure value; ``WorkflowMachine`` changes it in response to events and says what to do next.
public struct Workflow: Sendable, Equatable {
    public var spec: WorkflowSpec
    /// The final seed that will run (the caller's, or generated at submission).
    public var finalSeed: Int64
    public var state: WorkflowState
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var finishedAt: Timestamp?
    public var variants: [StageJob]
    public var selection: WorkflowSelection?
    public var final: StageJob
    /// Why the workflow failed (or `cancelled`).
    public var error: AtelierError?
    /// The same work priced entirely on the most expensive candidate model (set at submission).
    public var baseline: CostBaseline?

    public var workflowUUID: String { spec.workflowUUID }

    /// A new workflow in `ideating`, nothing submitted yet.
    public init(spec: WorkflowSpec, finalSeed: Int64, createdAt: Timestamp, baseline: CostBaseline? = nil) {
        self.spec = spec
        self.finalSeed = finalSeed
        self.state = .ideating
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.variants = (0..<spec.ideationCount).map { StageJob(taskUUID: WorkflowSpec.variantTaskUUID(spec.workflowUUID, $0)) }
        self.final = StageJob(taskUUID: WorkflowSpec.finalTaskUUID(spec.workflowUUID))
        self.baseline = baseline
    }

    /// Every taskUUID of the workflow's jobs (variants, then the final).
    public var taskUUIDs: [String] { variants.map(\.taskUUID) + [final.taskUUID] }

    /// The final task, once a variant is selected.
    public var finalTask: ImageTask? {
        guard let s = selection, s.variantIndex < variants.count else { return nil }
        return spec.finalTask(seed: finalSeed, reference: variants[s.variantIndex].image?.path)
    }

    // MARK: Storage form

    public var storageJSON: JSONValue {
        var o = JSONObject()
        o.append("storageVersion", 1)
        o.append("request", spec.json)
        o.append("finalSeed", .int(finalSeed))
        o.append("state", .string(state.rawValue))
        o.append("createdAtMs", .int(createdAt.milliseconds))
        o.append("updatedAtMs", .int(updatedAt.milliseconds))
        o.append("finishedAtMs", finishedAt.map { .int($0.milliseconds) } ?? .null)
        o.append("variants", .array(variants.map(\.json)))
        o.append("selection", selection?.json ?? .null)
        o.append("final", final.json)
        o.append("error", error?.json ?? .null)
        o.append("baseline", baseline?.json ?? .null)
        return .object(o)
    }

    public init(storageJSON v: JSONValue) throws(AtelierError) {
        var r = try FieldReader(v)
        _ = try r.int("storageVersion")
        guard let req = r.raw("request") else { throw AtelierError(.storeFailure, "workflow without request") }
        spec = try WorkflowSpec(json: req)
        finalSeed = try r.int("finalSeed") ?? 0
        state = WorkflowState(rawValue: try r.string("state") ?? "") ?? .failed
        createdAt = Timestamp(milliseconds: try r.int("createdAtMs") ?? 0)
        updatedAt = Timestamp(milliseconds: try r.int("updatedAtMs") ?? 0)
        finishedAt = try r.int("finishedAtMs").map(Timestamp.init(milliseconds:))
        var vs: [StageJob] = []
        for x in r.raw("variants")?.arrayValue ?? [] { vs.append(try StageJob(json: x)) }
        variants = vs
        selection = try r.raw("selection").map { v throws(AtelierError) in try WorkflowSelection(json: v) }
        guard let f = r.raw("final") else { throw AtelierError(.storeFailure, "workflow without final stage") }
        final = try StageJob(json: f)
        error = r.raw("error").map(AtelierError.init(json:))
        baseline = try r.raw("baseline").map { v throws(AtelierError) in try CostBaseline(json: v) }
    }

    // MARK: Wire form

    /// The workflow as callers see it.
    /// - Parameter jobs: live jobs by taskUUID (their current status and, when `includeJobs`, the whole job).
    public func json(jobs: [String: Job] = [:], includeJobs: Bool = true) -> JSONValue {
        func stage(_ s: StageJob, index: Int?) -> JSONValue {
            guard case .object(var o) = s.json else { return s.json }
            var out = JSONObject()
            if let index { out.append("index", .int(Int64(index))) }
            let live = jobs[s.taskUUID]
            for (k, v) in o {
                if k == "status", !s.isFinished, let live {
                    out.append(k, .string(live.status.rawValue))
                } else if k == "model", s.model == nil, let m = live?.route?.model {
                    out.append(k, .string(m))
                } else {
                    out.append(k, v)
                }
            }
            o = out
            if includeJobs { o.append("job", live?.json ?? .null) }
            return .object(o)
        }
        var o = JSONObject()
        o.append("workflowUUID", .string(workflowUUID))
        o.append("state", .string(state.rawValue))
        o.append("createdAt", .string(createdAt.iso8601))
        o.append("updatedAt", .string(updatedAt.iso8601))
        o.append("finishedAt", finishedAt.map { .string($0.iso8601) } ?? .null)
        o.append("request", spec.json(finalSeed: finalSeed))
        var stages = JSONObject()
        var ideation: JSONObject = [
            "count": .int(Int64(variants.count)), "model": .string(spec.ideationModel),
            "variants": .array(variants.enumerated().map { stage($1, index: $0) }),
        ]
        if spec.ideationConsistency != nil {
            // The drafts by score against the references, best first (indices into `variants`; unscored last).
            ideation.append("ranking", .array(ranking.map { ["index": .int(Int64($0)), "score": .number(variants[$0].score ?? 0)] }))
        }
        stages.append("ideation", .object(ideation))
        var sel = JSONObject()
        sel.append("mode", .string(spec.selectionMode.rawValue))
        if let s = selection, case .object(let so) = s.json { for (k, v) in so { sel.append(k, v) } }
        stages.append("selection", .object(sel))
        guard case .object(var fin) = stage(final, index: nil) else { return .null }
        fin.append("seed", .int(finalSeed))
        fin.append("useSelectedAsReference", .bool(spec.useSelectedAsReference))
        stages.append("final", .object(fin))
        o.append("stages", .object(stages))
        o.append("cost", cost.json)
        o.append("error", error?.json ?? .null)
        return .object(o)
    }

    /// The indices of the scored drafts, best score first (of equal scores, the lower index).
    public var ranking: [Int] {
        variants.indices.filter { variants[$0].score != nil }.sorted { (variants[$0].score!, -$0) > (variants[$1].score!, -$1) }
    }

    /// The summary `workflow.list` shows.
    public var summaryJSON: JSONValue {
        var o = JSONObject()
        o.append("workflowUUID", .string(workflowUUID))
        o.append("state", .string(state.rawValue))
        o.append("createdAt", .string(createdAt.iso8601))
        o.append("updatedAt", .string(updatedAt.iso8601))
        o.append("positivePrompt", .string(spec.positivePrompt))
        o.append("variants", .int(Int64(variants.count)))
        o.append("succeededVariants", .int(Int64(variants.filter { $0.status == .succeeded }.count)))
        o.append("selectedImageUUID", selection.map { .string($0.imageUUID) } ?? .null)
        o.append("finalTaskUUID", .string(final.taskUUID))
        o.append("finalPath", final.image.map { .string($0.path) } ?? .null)
        o.append("totalUSD", .number(cost.totalUSD))
        o.append("error", error?.json ?? .null)
        return .object(o)
    }
}
