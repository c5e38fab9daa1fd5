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

    /// Hard and soft requirements of a task.
    public struct Requirements: Sendable, Equatable {
        /// The result must be exactly reproducible from its seed (routes to seed-honouring models only).
        public var reproducible: Bool
        /// The image contains text that must be rendered accurately (prefers the best text renderer).
        public var textRendering: Bool
        /// The most this task (all results together) may cost, in USD.
        public var maxCostUSD: Double?

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

/// The size a task asks for.
public enum SizeRequest: Sendable, Equatable {
    /// Exact pixels (`width` + `height`).
    case pixels(PixelSize)
    /// A ratio and/or a tier (`aspectRatio` + `resolution`); nil parts mean the model's default
    /// (1:1 — or the reference image's ratio on models that follow it — and 1K).
    case tier(aspectRatio: AspectRatio?, resolution: ResolutionTier?)

    /// Nothing specified: the model's default size.
    public static let automatic = SizeRequest.tier(aspectRatio: nil, resolution: nil)

    /// The ratio asked for, or implied by exact pixels.
    public var aspectRatio: AspectRatio? {
        switch self {
        case .pixels: return nil
        case .tier(let r, _): return r
        }
    }
}

/// A reference image as the caller gave it.
public enum ReferenceImage: Sendable, Equatable, CustomStringConvertible {
    /// An absolute path on this machine (also from `file://` URLs).
    case file(path: String)
    /// A `data:` URI.
    case dataURI(mimeType: String, base64: String)
    /// Bare base64 bytes.
    case base64(String)
    /// An http(s) URL to fetch.
    case url(String)

    /// Classifies one `referenceImages` entry. Relative paths are refused: the daemon's working directory is not
    /// the caller's (the CLI makes paths absolute before sending).
    public static func parse(_ text: String, field: String) throws(AtelierError) -> ReferenceImage {
        if text.hasPrefix("/") { return .file(path: text) }
        let lower = text.prefix(16).lowercased()
        if lower.hasPrefix("file://") {
            // A host other than localhost would silently be dropped (file://images/a.png is not /a.png).
            guard let url = URL(string: text), url.isFileURL, (url.host ?? "").isEmpty || url.host == "localhost",
                url.path.hasPrefix("/")
            else {
                throw AtelierError(.invalidReferenceImage, "malformed file URL (use file:///absolute/path)", field: field)
            }
            return .file(path: url.path)
        }
        if lower.hasPrefix("data:") {
            // data:[<mediatype>][;base64],<data>
            guard let comma = text.firstIndex(of: ",") else {
                throw AtelierError(.invalidReferenceImage, "malformed data URI: no ','", field: field)
            }
            let header = text[text.index(text.startIndex, offsetBy: 5)..<comma]
            let parts = header.split(separator: ";")
            guard parts.last == "base64" else {
                throw AtelierError(.invalidReferenceImage, "data URI must be base64-encoded", field: field)
            }
            let mime = parts.count > 1 ? String(parts[0]) : "application/octet-stream"
            guard mime.hasPrefix("image/") else {
                throw AtelierError(.invalidReferenceImage, "data URI media type must be image/*, not \(mime)", field: field)
            }
            return .dataURI(mimeType: mime, base64: String(text[text.index(after: comma)...]))
        }
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            guard let url = URL(string: text), url.host?.isEmpty == false else {
                throw AtelierError(.invalidReferenceImage, "malformed URL", field: field)
            }
            return .url(text)
        }
        if text.count >= 16, text.utf8.allSatisfy({ Base64.isAlphabet($0) }) {
            return .base64(text)
        }
        throw AtelierError(
            .invalidReferenceImage,
            "reference image must be an absolute path, a file:// URL, a data URI, base64, or an http(s) URL", field: field)
    }

    /// The form written back in the task.
    public var description: String {
        switch self {
        case .file(let p): return p
        case .dataURI(let m, let b): return "data:\(m);base64,\(b)"
        case .base64(let b): return b
        case .url(let u): return u
        }
    }
}

extension ImageTask {
    /// The member names `job.submit` accepts.
    public static let fieldNames: [String] = [
        "taskUUID", "positivePrompt", "negativePrompt", "model", "width", "height", "aspectRatio", "resolution", "seed",
        "numberResults", "referenceImages", "outputFormat", "requirements", "phase", "tags", "webhookURL", "uploadEndpoint",
    ]

    /// Parses and structurally validates a task. Model-specific checks (sizes, reference counts, prompt length
    /// per model) happen against the catalog.
    /// - Parameter path: the JSON pointer of the task within the request, for error fields.
    public init(json: JSONValue, path: String = "") throws(AtelierError) {
        var r = try FieldReader(json, path: path)

        if let id = try r.string("taskUUID") {
            guard let canonical = UUIDv4.canonical(id) else {
                throw AtelierError(.invalidUUID, "taskUUID must be a UUID v4, not '\(id.prefix(64))'", field: r.pointer("taskUUID"))
            }
            taskUUID = canonical
        } else {
            taskUUID = UUIDv4.generate()
        }

        positivePrompt = try r.requiredString("positivePrompt")
        if positivePrompt.allSatisfy(\.isWhitespace) {
            throw AtelierError(.promptEmpty, "positivePrompt must not be empty", field: r.pointer("positivePrompt"))
        }
        if positivePrompt.count > Limits.promptLength {
            throw AtelierError(
                .promptTooLong, "positivePrompt has \(positivePrompt.count) characters; at most \(Limits.promptLength)",
                field: r.pointer("positivePrompt"), details: ["maxLength": .int(Int64(Limits.promptLength))])
        }
        negativePrompt = try r.string("negativePrompt")
        if let n = negativePrompt, n.count > Limits.promptLength {
            throw AtelierError(
                .promptTooLong, "negativePrompt has \(n.count) characters; at most \(Limits.promptLength)",
                field: r.pointer("negativePrompt"), details: ["maxLength": .int(Int64(Limits.promptLength))])
        }

        let modelName = try r.string("model") ?? "auto"
        if modelName.isEmpty { throw AtelierError(.invalidValue, "model must not be empty (use \"auto\")", field: r.pointer("model")) }
        model = modelName

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
            size = .pixels(PixelSize(width: Int(w), height: Int(h)))
        case (nil, nil):
            var ratio: AspectRatio?
            if let t = ratioText {
                guard let a = AspectRatio(t) else {
                    throw AtelierError(.invalidDimensions, "aspectRatio must look like \"16:9\", not '\(t.prefix(32))'", field: r.pointer("aspectRatio"))
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
            size = .tier(aspectRatio: ratio, resolution: tier)
        case (nil, _?):
            throw AtelierError(.invalidDimensions, "height was given without width; give both", field: r.pointer("width"))
        case (_?, nil):
            throw AtelierError(.invalidDimensions, "width was given without height; give both", field: r.pointer("height"))
        }

        seed = try r.int("seed", in: 0...Int64.max)
        numberResults = Int(try r.int("numberResults", in: Limits.numberResults, code: .invalidNumberResults) ?? 1)

        let refs = try r.stringArray("referenceImages") ?? []
        if refs.count > Limits.referenceImages {
            throw AtelierError(
                .tooManyReferences, "\(refs.count) reference images; at most \(Limits.referenceImages)",
                field: r.pointer("referenceImages"))
        }
        var parsedRefs: [ReferenceImage] = []
        for (i, t) in refs.enumerated() {
            parsedRefs.append(try ReferenceImage.parse(t, field: JSONPointer.appending(i, to: r.pointer("referenceImages"))))
        }
        referenceImages = parsedRefs

        if let f = try r.string("outputFormat") {
            guard let of = OutputFormat(parsing: f) else {
                throw AtelierError(
                    .unsupportedOutputFormat, "outputFormat must be PNG, JPG or WEBP, not '\(f.prefix(16))'",
                    field: r.pointer("outputFormat"), details: ["allowed": ["PNG", "JPG", "WEBP"]])
            }
            outputFormat = of
        } else {
            outputFormat = .png
        }

        var req = Requirements()
        if var q = try r.nested("requirements") {
            req.reproducible = try q.bool("reproducible") ?? false
            req.textRendering = try q.bool("textRendering") ?? false
            if let m = try q.double("maxCostUSD") {
                guard m >= 0, m.isFinite else {
                    throw AtelierError(.invalidValue, "maxCostUSD must be zero or more", field: q.pointer("maxCostUSD"))
                }
                req.maxCostUSD = m
            }
            try q.finish()
        }
        requirements = req

        if let p = try r.string("phase") {
            guard let ph = Phase(rawValue: p) else {
                throw AtelierError(
                    .invalidValue, "phase must be \"ideation\" or \"final\", not '\(p.prefix(32))'", field: r.pointer("phase"),
                    details: ["allowed": ["ideation", "final"]])
            }
            phase = ph
        } else {
            phase = nil
        }

        tags = try r.stringMap("tags") ?? [:]
        if tags.count > Limits.tags {
            throw AtelierError(.invalidValue, "at most \(Limits.tags) tags", field: r.pointer("tags"))
        }
        for (k, v) in tags where k.isEmpty || k.count > 64 || v.count > 256 {
            throw AtelierError(
                .invalidValue, "tag names are 1–64 characters and values at most 256", field: JSONPointer.appending(k, to: r.pointer("tags")))
        }

        if let w = try r.string("webhookURL") {
            try URLCheck.validateHTTP(w, field: r.pointer("webhookURL"))
            webhookURL = w
        } else {
            webhookURL = nil
        }

        if let u = r.raw("uploadEndpoint") {
            let urls: [String]
            switch u {
            case .string(let s):
                urls = [s]
                uploadEndpointIsArray = false
            case .array:
                var tmp = r
                urls = try tmp.stringArray("uploadEndpoint") ?? []
                uploadEndpointIsArray = true
            default:
                throw AtelierError(
                    .invalidType, "uploadEndpoint must be a URL or an array of URLs, not \(u.typeName)", field: r.pointer("uploadEndpoint"))
            }
            for (i, url) in urls.enumerated() {
                try URLCheck.validateHTTP(
                    url, field: uploadEndpointIsArray ? JSONPointer.appending(i, to: r.pointer("uploadEndpoint")) : r.pointer("uploadEndpoint"))
            }
            if urls.count != numberResults {
                throw AtelierError(
                    .uploadCountMismatch,
                    "uploadEndpoint has \(urls.count) URL\(urls.count == 1 ? "" : "s") but numberResults is \(numberResults); give one URL per result",
                    field: r.pointer("uploadEndpoint"), details: ["expected": .int(Int64(numberResults)), "got": .int(Int64(urls.count))])
            }
            uploadEndpoint = urls
        } else {
            uploadEndpoint = nil
            uploadEndpointIsArray = false
        }

        try r.finish()
    }

    /// The canonical JSON form: fixed member order, defaults written, absent optionals omitted.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("taskUUID", .string(taskUUID))
        o.append("positivePrompt", .string(positivePrompt))
        o.append("negativePrompt", ifPresent: negativePrompt.map(JSONValue.string))
        o.append("model", .string(model))
        switch size {
        case .pixels(let p):
            o.append("width", .int(Int64(p.width)))
            o.append("height", .int(Int64(p.height)))
        case .tier(let r, let t):
            o.append("aspectRatio", ifPresent: r.map { .string($0.description) })
            o.append("resolution", ifPresent: t.map { .string($0.rawValue) })
        }
        o.append("seed", ifPresent: seed.map(JSONValue.int))
        o.append("numberResults", .int(Int64(numberResults)))
        if !referenceImages.isEmpty { o.append("referenceImages", .array(referenceImages.map { .string($0.description) })) }
        o.append("outputFormat", .string(outputFormat.rawValue))
        var req = JSONObject()
        req.append("reproducible", .bool(requirements.reproducible))
        req.append("textRendering", .bool(requirements.textRendering))
        req.append("maxCostUSD", ifPresent: requirements.maxCostUSD.map(JSONValue.number))
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
        return .object(o)
    }

    /// Total characters of prompt, for predicates.
    public var promptLength: Int { positivePrompt.count }
}
