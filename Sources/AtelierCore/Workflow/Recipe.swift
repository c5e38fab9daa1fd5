/// What it takes to make one image again, exactly. Recorded on every result of a seed-honouring model (a model
/// that ignores seeds cannot reproduce anything, so its results have no recipe).
///
/// The recipe records facts about the call that produced the image — who, which model version, the seed, every
/// generation parameter actually sent upstream (minus prompts and image bytes, which the job's task holds), the
/// reference images' digests — and the digest of what came back, so a reproduction can be checked byte for byte.
public struct Recipe: Sendable, Equatable {
    /// The format version of ``json``.
    public static let formatVersion: Int64 = 1

    /// The provider id (`local`, `bfl`, `a1111`, …).
    public var provider: String
    /// The catalog model id.
    public var model: String
    /// The model's version as sent upstream (the card's `upstreamId`: BFL endpoint, A1111 checkpoint, Runware AIR).
    public var modelVersion: String
    /// The seed of this image (image `i` of a task uses the task's seed + i).
    public var seed: Int64
    /// Every generation parameter actually sent upstream, as the provider's wire JSON (prompts and images removed),
    /// including switches such as `prompt_upsampling: false`.
    public var parameters: JSONObject
    /// SHA-256 of each reference image as loaded, in order.
    public var referenceSHA256: [String]
    /// SHA-256 of the stored result.
    public var sha256: String
    /// The pixels produced.
    public var width: Int
    public var height: Int
    /// The MIME type produced.
    public var mimeType: String

    public init(
        provider: String, model: String, modelVersion: String, seed: Int64, parameters: JSONObject, referenceSHA256: [String], sha256: String,
        width: Int, height: Int, mimeType: String
    ) {
        self.provider = provider
        self.model = model
        self.modelVersion = modelVersion
        self.seed = seed
        self.parameters = parameters
        self.referenceSHA256 = referenceSHA256
        self.sha256 = sha256
        self.width = width
        self.height = height
        self.mimeType = mimeType
    }

    /// The recipe of a stored result made by `model`, or nil when the model does not honour seeds or no seed is known.
    public static func make(
        model: ModelCard, seed: Int64?, parameters: JSONObject, referenceSHA256: [String], result: JobResult
    ) -> Recipe? {
        guard model.seedHonored, let seed else { return nil }
        return Recipe(
            provider: model.provider, model: model.id, modelVersion: model.upstreamID, seed: seed, parameters: parameters,
            referenceSHA256: referenceSHA256, sha256: result.sha256, width: result.width, height: result.height, mimeType: result.mimeType)
    }

    public var json: JSONValue {
        var o = JSONObject()
        o.append("recipeVersion", .int(Self.formatVersion))
        o.append("provider", .string(provider))
        o.append("model", .string(model))
        o.append("modelVersion", .string(modelVersion))
        o.append("seed", .int(seed))
        o.append("parameters", .object(parameters))
        o.append("referenceSHA256", .array(referenceSHA256.map(JSONValue.string)))
        o.append("sha256", .string(sha256))
        o.append("width", .int(Int64(width)))
        o.append("height", .int(Int64(height)))
        o.append("mimeType", .string(mimeType))
        return .object(o)
    }

    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        _ = try r.int("recipeVersion")
        provider = try r.requiredString("provider")
        model = try r.requiredString("model")
        modelVersion = try r.requiredString("modelVersion")
        guard let s = try r.int("seed") else { throw AtelierError(.missingField, "seed is required", field: r.pointer("seed")) }
        seed = s
        parameters = r.raw("parameters")?.objectValue ?? [:]
        referenceSHA256 = try r.stringArray("referenceSHA256") ?? []
        sha256 = try r.requiredString("sha256")
        width = Int(try r.int("width") ?? 0)
        height = Int(try r.int("height") ?? 0)
        mimeType = try r.string("mimeType") ?? "application/octet-stream"
    }
}

extension ErrorCode {
    /// The job's results cannot be reproduced (a model that ignores seeds, no recipe, not finished).
    public static let notReproducible: ErrorCode = "not_reproducible"
}

/// Reproduction: the task that makes a job's images again, the recipe document callers keep, and the comparison.
public enum Reproduction {
    /// Tags the engine's workflow features set on jobs; a reproduction does not carry them over.
    static let internalTags: Set<String> = [WorkflowSpec.Tag.workflow, WorkflowSpec.Tag.stage, WorkflowSpec.Tag.variant, Tag.reproductionOf]

    /// Tag names used on reproduction jobs.
    public enum Tag {
        /// On a reproduction job: the taskUUID it reproduces.
        public static let reproductionOf = "reproductionOf"
    }

    /// Why `job` cannot be reproduced, or nil when it can.
    public static func refusal(_ job: Job) -> AtelierError? {
        let field = "/taskUUID"
        guard job.status == .succeeded else {
            return AtelierError(
                .notReproducible, "job \(job.taskUUID) is \(job.status.rawValue); only a succeeded job has results to reproduce", field: field,
                details: ["status": .string(job.status.rawValue)])
        }
        guard !job.results.isEmpty else {
            return AtelierError(.notReproducible, "job \(job.taskUUID) has no results", field: field)
        }
        let model = job.route?.model ?? job.task.model
        if let r = job.results.first(where: { !$0.seedHonored }) {
            return AtelierError(
                .notReproducible,
                "\(model) does not reproduce images from a seed (seedHonored: false), so image \(r.imageUUID) has no recipe; "
                    + "to regenerate it exactly, run a workflow whose final stage uses a seed-honouring model anchored on this image",
                field: field, details: ["model": .string(model), "seedHonored": false])
        }
        if let r = job.results.first(where: { $0.recipe == nil }) {
            return AtelierError(
                .notReproducible, "image \(r.imageUUID) has no recipe (it was made before recipes were recorded)", field: field,
                details: ["model": .string(model)])
        }
        return nil
    }

    /// The task that makes `job`'s images again: the same model pinned, seed, size request, prompts, reference
    /// images, number of results and format; `requirements.reproducible`; no webhook or upload (nothing is
    /// delivered twice); tagged `reproductionOf`.
    public static func task(for job: Job, taskUUID: String) -> ImageTask {
        var t = job.task
        t.taskUUID = taskUUID
        t.model = job.results.first?.recipe?.model ?? job.route?.model ?? job.task.model
        t.seed = job.task.seed ?? job.results.first?.recipe?.seed
        t.requirements.reproducible = true
        t.phase = nil
        var tags = job.task.tags.filter { !internalTags.contains($0.key) }
        if tags.count < ImageTask.Limits.tags { tags[Tag.reproductionOf] = job.taskUUID }
        t.tags = tags
        t.webhookURL = nil
        t.uploadEndpoint = nil
        t.uploadEndpointIsArray = false
        return t
    }

    /// The recipe document of a job (every image) or of one of its images: the recorded facts, plus the task to
    /// submit that makes them again. `atelier submit --recipe FILE` submits its `task`.
    public static func document(job: Job, imageUUID: String? = nil) throws(AtelierError) -> RecipeDocument {
        if let e = refusal(job) { throw e }
        var results = job.results
        var task = self.task(for: job, taskUUID: job.taskUUID)
        if let imageUUID {
            guard let i = job.results.firstIndex(where: { $0.imageUUID == imageUUID }) else {
                throw AtelierError(
                    .invalidValue, "job \(job.taskUUID) has no image \(imageUUID)", field: "/imageUUID",
                    details: ["allowed": .array(job.results.map { .string($0.imageUUID) })])
            }
            results = [job.results[i]]
            task.numberResults = 1
            task.seed = job.results[i].recipe?.seed ?? task.seed
        }
        task.tags = [:]
        return RecipeDocument(
            sourceTaskUUID: job.taskUUID, task: task,
            images: results.compactMap { r in r.recipe.map { RecipeDocument.Image(imageUUID: r.imageUUID, recipe: $0) } })
    }

    /// The task params inside a recipe document (for `job.submit`), checked to be a recipe.
    public static func taskParams(fromDocument doc: JSONValue) throws(AtelierError) -> JSONValue {
        guard case .object(let o) = doc else { throw AtelierError(.invalidType, "a recipe must be a JSON object, not \(doc.typeName)", field: "") }
        guard o["recipeVersion"]?.intValue == Recipe.formatVersion else {
            throw AtelierError(
                .invalidValue, "not an Atelier recipe (recipeVersion \(Recipe.formatVersion) expected)", field: "/recipeVersion")
        }
        guard case .object(var t)? = o["task"] else { throw AtelierError(.missingField, "the recipe has no task", field: "/task") }
        t["taskUUID"] = nil
        return .object(t)
    }

    /// Compares a finished reproduction with the original: per image, by SHA-256, and explains any difference it can
    /// see (model version, parameters sent, reference images).
    public static func compare(original: Job, reproduction: Job) -> ReproductionReport {
        var images: [ReproductionReport.Image] = []
        var identical = reproduction.status == .succeeded && reproduction.results.count == original.results.count
        for (i, a) in original.results.enumerated() {
            let b = i < reproduction.results.count ? reproduction.results[i] : nil
            let same = b?.sha256 == a.sha256
            if !same { identical = false }
            images.append(
                ReproductionReport.Image(
                    index: i, imageUUID: a.imageUUID, sha256: a.sha256, reproducedImageUUID: b?.imageUUID, reproducedSHA256: b?.sha256,
                    reproducedPath: b?.path, identical: same))
        }
        var differences: [String] = []
        if !reproduction.status.isTerminal {
            differences.append(
                "the reproduction is still \(reproduction.status.rawValue); wait for job \(reproduction.taskUUID) and compare its sha256")
        } else if reproduction.status != .succeeded {
            differences.append("the reproduction \(reproduction.status.rawValue)" + (reproduction.error.map { ": \($0.code): \($0.message)" } ?? ""))
        } else if reproduction.results.count != original.results.count {
            differences.append("the reproduction returned \(reproduction.results.count) images, the original \(original.results.count)")
        }
        for (i, a) in original.results.enumerated() where i < reproduction.results.count {
            guard let ra = a.recipe, let rb = reproduction.results[i].recipe else { continue }
            if ra.modelVersion != rb.modelVersion { differences.append("image \(i): model version \(ra.modelVersion) → \(rb.modelVersion)") }
            if ra.provider != rb.provider { differences.append("image \(i): provider \(ra.provider) → \(rb.provider)") }
            if ra.seed != rb.seed { differences.append("image \(i): seed \(ra.seed) → \(rb.seed)") }
            if ra.referenceSHA256 != rb.referenceSHA256 { differences.append("image \(i): the reference images changed since the original ran") }
            if ra.parameters != rb.parameters {
                let keys = Set(ra.parameters.keys).union(rb.parameters.keys).filter { ra.parameters[$0] != rb.parameters[$0] }.sorted()
                differences.append("image \(i): parameters sent differ (\(keys.joined(separator: ", ")))")
            }
        }
        if reproduction.status.isTerminal && !identical && differences.isEmpty {
            differences.append("same model version, seed, parameters and references, but different bytes: the provider is not deterministic")
        }
        return ReproductionReport(
            taskUUID: original.taskUUID, reproduction: reproduction, identical: reproduction.status.isTerminal ? identical : nil, images: images,
            differences: differences)
    }
}
