/// A `workflow.submit` request as accepted: explore ideas on one model, pick one, finish it reproducibly on another.
///
/// Parsed strictly (unknown members are errors). ``json`` is canonical, so a resubmission with the same
/// `workflowUUID` is recognised byte for byte, as for tasks. Stage tasks are derived deterministically from the spec
/// (taskUUIDs from the workflowUUID), so submitting them again after a crash is idempotent.
public struct WorkflowSpec: Sendable, Equatable {
    /// How the variant to finish is chosen.
    public enum SelectionMode: String, Sendable, CaseIterable {
        /// The caller picks with `workflow.select`; the workflow waits in `awaiting_selection`.
        case client
        /// The first variant to succeed is finished at once.
        case first
    }

    /// Tag names the workflow sets on its jobs (reserved: callers cannot set them).
    public enum Tag {
        public static let workflow = "workflow"
        public static let stage = "stage"
        public static let variant = "variant"
        static let reserved: Set<String> = [workflow, stage, variant]
    }

    /// Limits of the request.
    public enum Limits {
        public static let variants: ClosedRange<Int64> = 1...16
        public static let defaultVariants = 4
    }

    public var workflowUUID: String
    public var positivePrompt: String
    public var negativePrompt: String?
    /// The size of every stage (the final may change the tier with ``finalResolution``).
    public var size: SizeRequest
    /// How many ideation variants (1–16), each one job.
    public var ideationCount: Int
    /// `"auto"` (routed with phase ideation) or a model id.
    public var ideationModel: String
    /// Extra tags on the ideation jobs.
    public var ideationTags: [String: String]
    public var selectionMode: SelectionMode
    /// The final seed as the caller gave it (nil: generated at submission and recorded on the workflow).
    public var finalSeed: Int64?
    /// `"auto"` (routed with phase final and reproducible) or a model id.
    public var finalModel: String
    /// A different tier for the final (same aspect ratio).
    public var finalResolution: ResolutionTier?
    /// Anchor the final on the selected variant (as its reference image).
    public var useSelectedAsReference: Bool
    /// A different prompt for the final.
    public var promptOverride: String?
    /// Where job and workflow events are POSTed.
    public var webhookURL: String?
    /// Where the final image is PUT.
    public var uploadEndpoint: [String]?
    /// The workflow's reference images: given to every ideation draft as its references, and what
    /// ``ideationConsistency`` scores against by default (docs/consistency.md, "In workflows").
    public var referenceImages: [ReferenceImage] = []
    /// `ideation.consistency`: every draft is best-of-N against the references; the workflow ranks drafts by score.
    public var ideationConsistency: ConsistencyRequest?
    /// `final.preserve`: a region of the selected draft (the final's reference) the final must keep.
    public var finalPreserve: PreserveRequest?
    var uploadEndpointIsArray: Bool

    public init(
        workflowUUID: String = UUIDv4.generate(), positivePrompt: String, negativePrompt: String? = nil, size: SizeRequest = .automatic,
        ideationCount: Int = Limits.defaultVariants, ideationModel: String = "auto", ideationTags: [String: String] = [:],
        selectionMode: SelectionMode = .client, finalSeed: Int64? = nil, finalModel: String = "auto", finalResolution: ResolutionTier? = nil,
        useSelectedAsReference: Bool = true, promptOverride: String? = nil, webhookURL: String? = nil, uploadEndpoint: [String]? = nil
    ) {
        self.workflowUUID = workflowUUID
        self.positivePrompt = positivePrompt
        self.negativePrompt = negativePrompt
        self.size = size
        self.ideationCount = ideationCount
        self.ideationModel = ideationModel
        self.ideationTags = ideationTags
        self.selectionMode = selectionMode
        self.finalSeed = finalSeed
        self.finalModel = finalModel
        self.finalResolution = finalResolution
        self.useSelectedAsReference = useSelectedAsReference
        self.promptOverride = promptOverride
        self.webhookURL = webhookURL
        self.uploadEndpoint = uploadEndpoint
        self.uploadEndpointIsArray = false
    }

    /// Parses and checks a `workflow.submit` request. Model-specific checks happen when the stages are routed.
    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        if let id = try r.string("workflowUUID") {
            guard let c = UUIDv4.canonical(id) else {
                throw AtelierError(.invalidUUID, "workflowUUID must be a UUID v4, not '\(id.prefix(64))'", field: "/workflowUUID")
            }
            workflowUUID = c
        } else {
            workflowUUID = UUIDv4.generate()
        }
        // Prompts and size follow exactly the task rules: let the task parser check them (same member names).
        var probe = JSONObject()
        for k in ["positivePrompt", "negativePrompt", "width", "height", "aspectRatio", "resolution", "referenceImages"] {
            if let v = r.raw(k) { probe.append(k, v) }
        }
        if probe["positivePrompt"] == nil { throw AtelierError(.missingField, "positivePrompt is required", field: "/positivePrompt") }
        let t = try ImageTask(json: .object(probe))
        positivePrompt = t.positivePrompt
        negativePrompt = t.negativePrompt
        size = t.size
        referenceImages = t.referenceImages

        ideationCount = Limits.defaultVariants
        ideationModel = "auto"
        ideationTags = [:]
        if var q = try r.nested("ideation") {
            ideationCount = Int(try q.int("count", in: Limits.variants) ?? Int64(Limits.defaultVariants))
            ideationModel = try Self.model(&q)
            let tags = try q.stringMap("tags") ?? [:]
            if let k = tags.keys.sorted().first(where: { Tag.reserved.contains($0) }) {
                throw AtelierError(
                    .invalidValue, "tag '\(k)' is set by the workflow itself", field: JSONPointer.appending(k, to: q.pointer("tags")),
                    details: ["reserved": .array(Tag.reserved.sorted().map(JSONValue.string))])
            }
            if tags.count > ImageTask.Limits.tags - Tag.reserved.count {
                throw AtelierError(
                    .invalidValue, "at most \(ImageTask.Limits.tags - Tag.reserved.count) ideation tags (the workflow adds \(Tag.reserved.count))",
                    field: q.pointer("tags"))
            }
            for (k, v) in tags where k.isEmpty || k.count > 64 || v.count > 256 {
                throw AtelierError(
                    .invalidValue, "tag names are 1–64 characters and values at most 256", field: JSONPointer.appending(k, to: q.pointer("tags")))
            }
            ideationTags = tags
            if var c = try q.nested("consistency") {
                ideationConsistency = try ConsistencyRequest.parse(&c, referenceCount: referenceImages.count)
            }
            try q.finish()
        }

        selectionMode = .client
        if var q = try r.nested("selection") {
            if let m = try q.string("mode") {
                guard let mode = SelectionMode(rawValue: m) else {
                    throw AtelierError(
                        .invalidValue, "selection.mode must be \"client\" or \"first\", not '\(m.prefix(32))'", field: q.pointer("mode"),
                        details: ["allowed": ["client", "first"]])
                }
                selectionMode = mode
            }
            try q.finish()
        }

        finalSeed = nil
        finalModel = "auto"
        finalResolution = nil
        useSelectedAsReference = true
        promptOverride = nil
        if var q = try r.nested("final") {
            finalSeed = try q.int("seed", in: 0...Int64.max)
            finalModel = try Self.model(&q)
            if let t = try q.string("resolution") {
                guard let tier = ResolutionTier(parsing: t) else {
                    throw AtelierError(
                        .invalidDimensions, "resolution must be one of 512, 1K, 2K, 4K, not '\(t.prefix(32))'", field: q.pointer("resolution"),
                        details: ["allowed": ["512", "1K", "2K", "4K"]])
                }
                if case .pixels(let p) = size, Self.reducedRatio(p) == nil {
                    throw AtelierError(
                        .invalidDimensions, "final.resolution needs an aspect ratio; \(p) has none with parts up to 100 (give aspectRatio instead)",
                        field: q.pointer("resolution"))
                }
                finalResolution = tier
            }
            useSelectedAsReference = try q.bool("useSelectedAsReference") ?? true
            if var p = try q.nested("preserve") {
                guard useSelectedAsReference else {
                    throw AtelierError(
                        .invalidValue, "final.preserve protects a region of the selected draft: it needs useSelectedAsReference true",
                        field: p.path)
                }
                finalPreserve = try PreserveRequest.parse(&p, referenceCount: 1)
            }
            if let p = try q.string("promptOverride") {
                if p.allSatisfy(\.isWhitespace) {
                    throw AtelierError(.promptEmpty, "promptOverride must not be empty", field: q.pointer("promptOverride"))
                }
                if p.count > ImageTask.Limits.promptLength {
                    throw AtelierError(
                        .promptTooLong, "promptOverride has \(p.count) characters; at most \(ImageTask.Limits.promptLength)",
                        field: q.pointer("promptOverride"), details: ["maxLength": .int(Int64(ImageTask.Limits.promptLength))])
                }
                promptOverride = p
            }
            try q.finish()
        }

        if let w = try r.string("webhookURL") {
            try URLCheck.validateHTTP(w, field: "/webhookURL")
            webhookURL = w
        } else {
            webhookURL = nil
        }
        uploadEndpointIsArray = false
        uploadEndpoint = nil
        if let u = r.raw("uploadEndpoint") {
            let urls: [String]
            switch u {
            case .string(let s): urls = [s]
            case .array:
                var tmp = r
                urls = try tmp.stringArray("uploadEndpoint") ?? []
                uploadEndpointIsArray = true
            default:
                throw AtelierError(.invalidType, "uploadEndpoint must be a URL or an array of URLs, not \(u.typeName)", field: "/uploadEndpoint")
            }
            for (i, url) in urls.enumerated() {
                try URLCheck.validateHTTP(url, field: uploadEndpointIsArray ? "/uploadEndpoint/\(i)" : "/uploadEndpoint")
            }
            guard urls.count == 1 else {
                throw AtelierError(
                    .uploadCountMismatch, "the final stage makes one image; give one upload URL, not \(urls.count)", field: "/uploadEndpoint",
                    details: ["expected": 1, "got": .int(Int64(urls.count))])
            }
            uploadEndpoint = urls
        }
        try r.finish()
    }

    private static func model(_ q: inout FieldReader) throws(AtelierError) -> String {
        let m = try q.string("model") ?? "auto"
        if m.isEmpty { throw AtelierError(.invalidValue, "model must not be empty (use \"auto\")", field: q.pointer("model")) }
        return m
    }

    /// `p` as a ratio with parts of at most 100, when it has one.
    static func reducedRatio(_ p: PixelSize) -> AspectRatio? {
        var a = p.width
        var b = p.height
        while b != 0 { (a, b) = (b, a % b) }
        let w = p.width / a
        let h = p.height / a
        guard w <= 100, h <= 100 else { return nil }
        return AspectRatio(width: w, height: h)
    }

    /// The canonical form: fixed member order, defaults written, absent optionals omitted.
    public var json: JSONValue { json(finalSeed: finalSeed) }

    /// The canonical form with the final seed that will run (as the workflow reports its request).
    public func json(finalSeed seed: Int64?) -> JSONValue {
        var o = JSONObject()
        o.append("workflowUUID", .string(workflowUUID))
        o.append("positivePrompt", .string(positivePrompt))
        o.append("negativePrompt", ifPresent: negativePrompt.map(JSONValue.string))
        size.appendMembers(to: &o)
        var ideation = JSONObject()
        ideation.append("count", .int(Int64(ideationCount)))
        ideation.append("model", .string(ideationModel))
        if !ideationTags.isEmpty {
            ideation.append("tags", .object(JSONObject(ideationTags.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
        }
        ideation.append("consistency", ifPresent: ideationConsistency?.json)
        if !referenceImages.isEmpty { o.append("referenceImages", .array(referenceImages.map { .string($0.description) })) }
        o.append("ideation", .object(ideation))
        o.append("selection", ["mode": .string(selectionMode.rawValue)])
        var final = JSONObject()
        final.append("seed", ifPresent: seed.map(JSONValue.int))
        final.append("model", .string(finalModel))
        final.append("resolution", ifPresent: finalResolution.map { .string($0.rawValue) })
        final.append("useSelectedAsReference", .bool(useSelectedAsReference))
        final.append("promptOverride", ifPresent: promptOverride.map(JSONValue.string))
        final.append("preserve", ifPresent: finalPreserve?.json)
        o.append("final", .object(final))
        o.append("webhookURL", ifPresent: webhookURL.map(JSONValue.string))
        if let u = uploadEndpoint {
            o.append("uploadEndpoint", uploadEndpointIsArray || u.count != 1 ? .array(u.map(JSONValue.string)) : .string(u[0]))
        }
        return .object(o)
    }

    // MARK: Stage tasks

    /// The taskUUID of ideation variant `index` (derived, so a resubmission after a crash is idempotent).
    public static func variantTaskUUID(_ workflowUUID: String, _ index: Int) -> String {
        UUIDv4.derived(from: "atelier-workflow:\(workflowUUID):ideation:\(index)")
    }

    /// The taskUUID of the final job.
    public static func finalTaskUUID(_ workflowUUID: String) -> String {
        UUIDv4.derived(from: "atelier-workflow:\(workflowUUID):final")
    }

    /// The seed of ideation variant `index`: distinct per variant and workflow, stable across restarts. A model that
    /// ignores seeds ignores it (its result records no seed); on a seed-honouring model the variant gets a recipe.
    public func variantSeed(_ index: Int) -> Int64 {
        Int64(StableHash.fnv1a64("atelier-workflow:\(workflowUUID):seed:\(index)") % 2_147_483_646) + 1
    }

    /// The size of the final stage.
    public var finalSize: SizeRequest {
        guard let tier = finalResolution else { return size }
        switch size {
        case .tier(let r, _): return .tier(aspectRatio: r, resolution: tier)
        case .pixels(let p): return .tier(aspectRatio: Self.reducedRatio(p), resolution: tier)
        }
    }

    /// The job of ideation variant `index`: an ordinary task, routed with phase ideation.
    public func variantTask(_ index: Int) -> ImageTask {
        var tags = ideationTags
        tags[Tag.workflow] = workflowUUID
        tags[Tag.stage] = Phase.ideation.rawValue
        tags[Tag.variant] = String(index)
        // Best-of-N drafts carry no seed: one seed would make a draft's candidates alike on seed-honouring models.
        var task = ImageTask(
            taskUUID: Self.variantTaskUUID(workflowUUID, index), positivePrompt: positivePrompt, negativePrompt: negativePrompt,
            model: ideationModel, size: size, seed: ideationConsistency == nil ? variantSeed(index) : nil, numberResults: 1,
            referenceImages: referenceImages, phase: .ideation, tags: tags, webhookURL: webhookURL)
        task.consistency = ideationConsistency
        return task
    }

    /// The final job: the chosen image as its reference, the seed, and `requirements.reproducible`, so the router can
    /// only pick a seed-honouring model that accepts reference images.
    /// - Parameter reference: the selected variant's stored file (nil when ``useSelectedAsReference`` is false).
    public func finalTask(seed: Int64, reference: String?) -> ImageTask {
        var t = ImageTask(
            taskUUID: Self.finalTaskUUID(workflowUUID), positivePrompt: promptOverride ?? positivePrompt, negativePrompt: negativePrompt,
            model: finalModel, size: finalSize, seed: seed, numberResults: 1,
            referenceImages: useSelectedAsReference ? reference.map { [.file(path: $0)] } ?? [] : [],
            requirements: .init(reproducible: true), phase: .final,
            tags: [Tag.workflow: workflowUUID, Tag.stage: Phase.final.rawValue], webhookURL: webhookURL, uploadEndpoint: uploadEndpoint)
        t.uploadEndpointIsArray = uploadEndpointIsArray
        if t.referenceImages.isEmpty == false { t.preserve = finalPreserve }
        return t
    }

    /// A stand-in for the final task before a variant is chosen (for routing it up front: the router only counts
    /// references, it does not read them).
    public func finalProbeTask(seed: Int64) -> ImageTask {
        finalTask(seed: seed, reference: "/atelier-workflow/selected-variant.png")
    }
}
