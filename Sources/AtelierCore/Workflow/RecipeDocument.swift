/// The recipe document of a job (every image) or of one of its images (`job.recipe`): the recorded facts, plus the
/// task that makes them again. Its ``json`` is the file `atelier recipe` writes and `atelier submit --recipe` reads
/// back (``Reproduction/taskParams(fromDocument:)``), so the format lives here, beside its reader.
public struct RecipeDocument: Sendable, Equatable {
    /// One image of the document and its recipe.
    public struct Image: Sendable, Equatable {
        /// The image's id in the source job.
        public var imageUUID: String
        /// What it takes to make it again.
        public var recipe: Recipe

        /// An image and its recipe.
        public init(imageUUID: String, recipe: Recipe) {
            self.imageUUID = imageUUID
            self.recipe = recipe
        }
    }

    /// The job the images come from.
    public var sourceTaskUUID: String
    /// The task to submit (no tags; its taskUUID is left out of the document).
    public var task: ImageTask
    /// The images, in order (at least one).
    public var images: [Image]

    /// A document of `images` from job `sourceTaskUUID`, made again by `task`.
    public init(sourceTaskUUID: String, task: ImageTask, images: [Image]) {
        self.sourceTaskUUID = sourceTaskUUID
        self.task = task
        self.images = images
    }

    /// `{recipeVersion, sourceTaskUUID, provider, model, modelVersion, seed, referenceSHA256, task, results}`; the
    /// provider, model and references are the first image's.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("recipeVersion", .int(Recipe.formatVersion))
        o.append("sourceTaskUUID", .string(sourceTaskUUID))
        if let first = images.first?.recipe {
            o.append("provider", .string(first.provider))
            o.append("model", .string(first.model))
            o.append("modelVersion", .string(first.modelVersion))
            o.append("seed", task.seed.map(JSONValue.int) ?? .null)
            o.append("referenceSHA256", .array(first.referenceSHA256.map(JSONValue.string)))
        }
        var taskJSON = task.json.objectValue ?? [:]
        taskJSON["taskUUID"] = nil
        o.append("task", .object(taskJSON))
        o.append(
            "results",
            .array(
                images.map { image in
                    var x = image.recipe.json.objectValue ?? [:]
                    x["recipeVersion"] = nil
                    var out = JSONObject()
                    out.append("imageUUID", .string(image.imageUUID))
                    for (k, v) in x { out.append(k, v) }
                    return .object(out)
                }))
        return .object(o)
    }
}
