import Foundation

/// One image-generation task, in Runware's vocabulary.
///
/// A task is parsed from the `job.submit` params by ``init(json:)``, which checks structure and types and fills
/// defaults; whether a particular model can serve it is decided later, against the catalog. The ``json``
/// rendering is canonical (fixed member order, defaults written out), so two submissions of the same task
/// compare equal byte for byte — that is how idempotent resubmission is recognised.
public struct ImageTask: Sendable, Equatable {
    /// The caller's id for the task (UUID v4, lowercase). Generated when absent.
    public var taskUUID: String
    /// What to draw. Required, non-empty.
    public var positivePrompt: String
    /// What to avoid.
    public var negativePrompt: String?
    /// `"auto"` (routed) or a catalog model id / alias.
    public var model: String
    /// The requested size.
    public var size: SizeRequest
    /// The seed to use; generated and recorded when absent and the model honours seeds.
    public var seed: Int64?
    /// How many images (all of them together are one task for cost purposes).
    public var numberResults: Int
    /// Reference images, as given.
    public var referenceImages: [ReferenceImage]
    /// The output format.
    public var outputFormat: OutputFormat
    /// Hard and soft requirements.
    public var requirements: Requirements
    /// Workflow phase, used by routing preferences.
    public var phase: Phase?
    /// Free-form string tags (routing predicates, budgets, stats).
    public var tags: [String: String]
    /// Where to POST signed events for this job.
    public var webhookURL: String?
    /// Where to PUT the images: one URL, or one per result.
    public var uploadEndpoint: [String]?
    /// Whether ``uploadEndpoint`` was given as an array (kept so the task reads back as it was written).
    public var uploadEndpointIsArray: Bool
    /// Best-of-N sampling against a reference (``ConsistencyRequest``); nil for one plain generation.
    public var consistency: ConsistencyRequest?
    /// A region of the first reference image the edit must not change (``PreserveRequest``).
    public var preserve: PreserveRequest?

    /// Hard and soft requirements of a task.
    public struct Requirements: Sendable, Equatable {
        /// The result must be exactly reproducible from its seed (routes to seed-honouring models only).
        public var reproducible: Bool
        /// The image contains text that must be rendered accurately (prefers the best text renderer).
        public var textRendering: Bool
        /// The most this task (all results together) may cost, in USD.
        public var maxCostUSD: Double?
        /// When the images are needed (``TaskDeadline``); nil: as soon as possible.
        public var deadline: TaskDeadline?
        /// Whether the task may wait in a provider's batch (``BatchPreference``).
        public var batch: BatchPreference = .auto

        public init(reproducible: Bool = false, textRendering: Bool = false, maxCostUSD: Double? = nil) {
            self.reproducible = reproducible
            self.textRendering = textRendering
            self.maxCostUSD = maxCostUSD
        }
    }

    /// Limits that apply to every task whatever the model.
    public enum Limits {
        /// The widest range of `numberResults` any provider accepts.
        public static let numberResults: ClosedRange<Int64> = 1...20
        /// The longest prompt accepted before any model-specific check.
        public static let promptLength = 32_000
        /// Pixel bounds for width and height.
        public static let dimension: ClosedRange<Int64> = 64...16_384
        /// The most reference images any model accepts.
        public static let referenceImages = 16
        /// The most tags.
        public static let tags = 32
        /// The longest URL accepted.
        public static let urlLength = 4_096
    }

    /// Creates a task with defaults for everything but the prompt.
    public init(
        taskUUID: String = UUIDv4.generate(),
        positivePrompt: String,
        negativePrompt: String? = nil,
        model: String = "auto",
        size: SizeRequest = .automatic,
        seed: Int64? = nil,
        numberResults: Int = 1,
        referenceImages: [ReferenceImage] = [],
        outputFormat: OutputFormat = .png,
        requirements: Requirements = .init(),
        phase: Phase? = nil,
        tags: [String: String] = [:],
        webhookURL: String? = nil,
        uploadEndpoint: [String]? = nil
    ) {
        self.taskUUID = taskUUID
        self.positivePrompt = positivePrompt
        self.negativePrompt = negativePrompt
        self.model = model
        self.size = size
        self.seed = seed
        self.numberResults = numberResults
        self.referenceImages = referenceImages
        self.outputFormat = outputFormat
        self.requirements = requirements
        self.phase = phase
        self.tags = tags
        self.webhookURL = webhookURL
        self.uploadEndpoint = uploadEndpoint
        self.uploadEndpointIsArray = (uploadEndpoint?.count ?? 0) > 1
    }
}

extension ImageTask {
    /// Parses and structurally validates a task. Model-specific checks (sizes, reference counts, prompt length
    /// per model) happen against the catalog. Members are checked in document order, so the first error reported
    /// is the same whatever else is wrong.
    /// - Parameter path: the JSON pointer of the task within the request, for error fields.
    public init(json: JSONValue, path: String = "") throws(AtelierError) {
        var r = try FieldReader(json, path: path)
        taskUUID = try Self.parseTaskUUID(&r)
        let prompts = try Self.parsePrompts(&r)
        positivePrompt = prompts.positive
        negativePrompt = prompts.negative
        let modelName = try r.string("model") ?? "auto"
        if modelName.isEmpty { throw AtelierError(.invalidValue, "model must not be empty (use \"auto\")", field: r.pointer("model")) }
        model = modelName
        size = try Self.parseSize(&r)
        seed = try r.int("seed", in: 0...Int64.max)
        numberResults = Int(try r.int("numberResults", in: Limits.numberResults, code: .invalidNumberResults) ?? 1)
        referenceImages = try Self.parseReferences(&r)
        outputFormat = try Self.parseOutputFormat(&r)
        requirements = try Self.parseRequirements(&r)
        phase = try Self.parsePhase(&r)
        tags = try Self.parseTags(&r)
        if let w = try r.string("webhookURL") {
            try URLCheck.validateHTTP(w, field: r.pointer("webhookURL"))
            webhookURL = w
        } else {
            webhookURL = nil
        }
        let uploads = try Self.parseUploads(&r, numberResults: numberResults)
        uploadEndpoint = uploads.urls
        uploadEndpointIsArray = uploads.isArray
        if var c = try r.nested("consistency") {
            consistency = try ConsistencyRequest.parse(&c, referenceCount: referenceImages.count)
        }
        if var p = try r.nested("preserve") { preserve = try PreserveRequest.parse(&p, referenceCount: referenceImages.count) }
        try r.finish()
    }

    private static func parseTaskUUID(_ r: inout FieldReader) throws(AtelierError) -> String {
        guard let id = try r.string("taskUUID") else { return UUIDv4.generate() }
        guard let canonical = UUIDv4.canonical(id) else {
            throw AtelierError(.invalidUUID, "taskUUID must be a UUID v4, not '\(id.prefix(64))'", field: r.pointer("taskUUID"))
        }
        return canonical
    }

    private static func parsePrompts(_ r: inout FieldReader) throws(AtelierError) -> (positive: String, negative: String?) {
        let positive = try r.requiredString("positivePrompt")
        if positive.allSatisfy(\.isWhitespace) {
            throw AtelierError(.promptEmpty, "positivePrompt must not be empty", field: r.pointer("positivePrompt"))
        }
        if positive.count > Limits.promptLength {
            throw AtelierError(
                .promptTooLong, "positivePrompt has \(positive.count) characters; at most \(Limits.promptLength)",
                field: r.pointer("positivePrompt"), details: ["maxLength": .int(Int64(Limits.promptLength))])
        }
        let negative = try r.string("negativePrompt")
        if let n = negative, n.count > Limits.promptLength {
            throw AtelierError(
                .promptTooLong, "negativePrompt has \(n.count) characters; at most \(Limits.promptLength)",
                field: r.pointer("negativePrompt"), details: ["maxLength": .int(Int64(Limits.promptLength))])
        }
        return (positive, negative)
    }

    /// `width` + `height`, or `aspectRatio` and/or `resolution`; never both kinds.
    private static func parseSize(_ r: inout FieldReader) throws(AtelierError) -> SizeRequest {
        let width = try r.int("width", in: Limits.dimension, code: .invalidDimensions)
        let height = try r.int("height", in: Limits.dimension, code: .invalidDimensions)
        let ratioText = try r.string("aspectRatio")
        let tierText = try r.string("resolution")
        switch (width, height) {
        case (let w?, let h?):
            if ratioText != nil {
                throw AtelierError(
                    .invalidDimensions, "give width+height or aspectRatio+resolution, not both", field: r.pointer("aspectRatio"))
            }
            if tierText != nil {
                throw AtelierError(
                    .invalidDimensions, "resolution cannot be combined with width/height", field: r.pointer("resolution"))
            }
            return .pixels(PixelSize(width: Int(w), height: Int(h)))
        case (nil, nil):
            var ratio: AspectRatio?
            if let t = ratioText {
                guard let a = AspectRatio(t) else {
                    throw AtelierError(
                        .invalidDimensions, "aspectRatio must look like \"16:9\", not '\(t.prefix(32))'", field: r.pointer("aspectRatio"))
                }
                ratio = a
            }
            var tier: ResolutionTier?
            if let t = tierText {
                guard let x = ResolutionTier(parsing: t) else {
                    throw AtelierError(
                        .invalidDimensions, "resolution must be one of 512, 1K, 2K, 4K, not '\(t.prefix(32))'",
                        field: r.pointer("resolution"), details: ["allowed": ["512", "1K", "2K", "4K"]])
                }
                tier = x
            }
            return .tier(aspectRatio: ratio, resolution: tier)
        case (nil, _?):
            throw AtelierError(.invalidDimensions, "height was given without width; give both", field: r.pointer("width"))
        case (_?, nil):
            throw AtelierError(.invalidDimensions, "width was given without height; give both", field: r.pointer("height"))
        }
    }

    private static func parseReferences(_ r: inout FieldReader) throws(AtelierError) -> [ReferenceImage] {
        let refs = try r.stringArray("referenceImages") ?? []
        if refs.count > Limits.referenceImages {
            throw AtelierError(
                .tooManyReferences, "\(refs.count) reference images; at most \(Limits.referenceImages)",
                field: r.pointer("referenceImages"))
        }
        var parsed: [ReferenceImage] = []
        for (i, t) in refs.enumerated() {
            parsed.append(try ReferenceImage.parse(t, field: JSONPointer.appending(i, to: r.pointer("referenceImages"))))
        }
        return parsed
    }

    private static func parseOutputFormat(_ r: inout FieldReader) throws(AtelierError) -> OutputFormat {
        guard let f = try r.string("outputFormat") else { return .png }
        guard let of = OutputFormat(parsing: f) else {
            throw AtelierError(
                .unsupportedOutputFormat, "outputFormat must be PNG, JPG or WEBP, not '\(f.prefix(16))'",
                field: r.pointer("outputFormat"), details: ["allowed": ["PNG", "JPG", "WEBP"]])
        }
        return of
    }

    private static func parseRequirements(_ r: inout FieldReader) throws(AtelierError) -> Requirements {
        var req = Requirements()
        guard var q = try r.nested("requirements") else { return req }
        req.reproducible = try q.bool("reproducible") ?? false
        req.textRendering = try q.bool("textRendering") ?? false
        if let m = try q.double("maxCostUSD") {
            guard m >= 0, m.isFinite else {
                throw AtelierError(.invalidValue, "maxCostUSD must be zero or more", field: q.pointer("maxCostUSD"))
            }
            req.maxCostUSD = m
        }
        if let d = try q.string("deadline") {
            guard let parsed = TaskDeadline(parsing: d) else {
                throw AtelierError(
                    .invalidValue,
                    "deadline must be a duration such as \"24h\", \"90m\" or \"1h30m\" (more than zero, at most 366d) or an RFC 3339 time such as \"2026-12-05T18:00:00Z\", not '\(d.prefix(48))'",
                    field: q.pointer("deadline"))
            }
            req.deadline = parsed
        }
        req.batch = try q.enumValue("batch", allowed: BatchPreference.allCases) ?? .auto
        try q.finish()
        return req
    }

    private static func parsePhase(_ r: inout FieldReader) throws(AtelierError) -> Phase? {
        guard let p = try r.string("phase") else { return nil }
        guard let ph = Phase(rawValue: p) else {
            throw AtelierError(
                .invalidValue, "phase must be \"ideation\" or \"final\", not '\(p.prefix(32))'", field: r.pointer("phase"),
                details: ["allowed": ["ideation", "final"]])
        }
        return ph
    }

    private static func parseTags(_ r: inout FieldReader) throws(AtelierError) -> [String: String] {
        let tags = try r.stringMap("tags") ?? [:]
        if tags.count > Limits.tags {
            throw AtelierError(.invalidValue, "at most \(Limits.tags) tags", field: r.pointer("tags"))
        }
        for (k, v) in tags where k.isEmpty || k.count > 64 || v.count > 256 {
            throw AtelierError(
                .invalidValue, "tag names are 1–64 characters and values at most 256", field: JSONPointer.appending(k, to: r.pointer("tags")))
        }
        return tags
    }

    /// `uploadEndpoint`: one URL or an array of them, one per result. Returns the URLs (nil when absent) and whether
    /// they were given as an array.
    private static func parseUploads(_ r: inout FieldReader, numberResults: Int) throws(AtelierError) -> (urls: [String]?, isArray: Bool) {
        guard let u = r.raw("uploadEndpoint") else { return (nil, false) }
        let urls: [String]
        let isArray: Bool
        switch u {
        case .string(let s):
            urls = [s]
            isArray = false
        case .array:
            var tmp = r
            urls = try tmp.stringArray("uploadEndpoint") ?? []
            isArray = true
        default:
            throw AtelierError(
                .invalidType, "uploadEndpoint must be a URL or an array of URLs, not \(u.typeName)", field: r.pointer("uploadEndpoint"))
        }
        for (i, url) in urls.enumerated() {
            try URLCheck.validateHTTP(
                url, field: isArray ? JSONPointer.appending(i, to: r.pointer("uploadEndpoint")) : r.pointer("uploadEndpoint"))
        }
        if urls.count != numberResults {
            throw AtelierError(
                .uploadCountMismatch,
                "uploadEndpoint has \(urls.count) URL\(urls.count == 1 ? "" : "s") but numberResults is \(numberResults); give one URL per result",
                field: r.pointer("uploadEndpoint"), details: ["expected": .int(Int64(numberResults)), "got": .int(Int64(urls.count))])
        }
        return (urls, isArray)
    }

    /// The canonical JSON form: fixed member order, defaults written, absent optionals omitted.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("taskUUID", .string(taskUUID))
        o.append("positivePrompt", .string(positivePrompt))
        o.append("negativePrompt", ifPresent: negativePrompt.map(JSONValue.string))
        o.append("model", .string(model))
        size.appendMembers(to: &o)
        o.append("seed", ifPresent: seed.map(JSONValue.int))
        o.append("numberResults", .int(Int64(numberResults)))
        if !referenceImages.isEmpty { o.append("referenceImages", .array(referenceImages.map { .string($0.description) })) }
        o.append("outputFormat", .string(outputFormat.rawValue))
        var req = JSONObject()
        req.append("reproducible", .bool(requirements.reproducible))
        req.append("textRendering", .bool(requirements.textRendering))
        req.append("maxCostUSD", ifPresent: requirements.maxCostUSD.map(JSONValue.number))
        req.append("deadline", ifPresent: requirements.deadline.map { .string($0.text) })
        if requirements.batch != .auto { req.append("batch", .string(requirements.batch.rawValue)) }
        o.append("requirements", .object(req))
        o.append("phase", ifPresent: phase.map { .string($0.rawValue) })
        if !tags.isEmpty {
            o.append("tags", .object(JSONObject(tags.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
        }
        o.append("webhookURL", ifPresent: webhookURL.map(JSONValue.string))
        if let u = uploadEndpoint {
            // Only a single URL can be written as a bare string; anything else (including an empty list) stays an array.
            o.append("uploadEndpoint", uploadEndpointIsArray || u.count != 1 ? .array(u.map(JSONValue.string)) : .string(u[0]))
        }
        o.append("consistency", ifPresent: consistency?.json)
        o.append("preserve", ifPresent: preserve?.json)
        return .object(o)
    }

    /// Total characters of prompt, for predicates.
    public var promptLength: Int { positivePrompt.count }
}
