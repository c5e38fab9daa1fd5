import AtelierCore

/// What the console's job list and event stream show of a job: a subset of its wire form (docs/protocol.md,
/// `job.get`), under the same names, without encoding the whole job.
///
/// `{taskUUID, status, model, provider, arm, costUSD, costSource, createdAt, finishedAt, prompt, tags, error,
/// thumbnail: {taskUUID, imageUUID, width, height, mimeType} | null, images}`.
enum JobSummary {
    /// The most characters of the prompt a summary carries.
    static let promptLimit = 160

    /// The summary of `job`.
    static func json(_ job: Job) -> JSONValue {
        var o = JSONObject()
        o.append("taskUUID", .string(job.taskUUID))
        o.append("status", .string(job.status.rawValue))
        o.append("model", .string(job.attempts.last?.model ?? job.route?.model ?? job.task.model))
        o.append("provider", job.attempts.last.map { .string($0.provider) } ?? job.route.map { .string($0.provider) } ?? .null)
        o.append("arm", job.route?.arm.map(JSONValue.string) ?? .null)
        o.append("costUSD", job.costUSD.map(JSONValue.number) ?? .null)
        o.append("costSource", job.costSource.map { .string($0.rawValue) } ?? .null)
        o.append("estimatedCostUSD", job.route.map { .number($0.estimatedCostUSD) } ?? .null)
        o.append("createdAt", .string(job.createdAt.iso8601))
        o.append("finishedAt", job.finishedAt.map { .string($0.iso8601) } ?? .null)
        let prompt = job.task.positivePrompt
        o.append("prompt", .string(prompt.count > promptLimit ? String(prompt.prefix(promptLimit)) + "…" : prompt))
        o.append("tags", .object(JSONObject(job.task.tags.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
        o.append("error", job.error.map { ["code": .string($0.code.rawValue), "message": .string($0.message)] } ?? .null)
        o.append("thumbnail", job.results.first.map { image(job.taskUUID, $0) } ?? .null)
        o.append("images", .int(Int64(job.results.count)))
        return .object(o)
    }

    /// An image reference the console turns into `/api/images/{taskUUID}/{imageUUID}`.
    static func image(_ taskUUID: String, _ r: JobResult) -> JSONValue {
        [
            "taskUUID": .string(taskUUID), "imageUUID": .string(r.imageUUID), "width": .int(Int64(r.width)), "height": .int(Int64(r.height)),
            "mimeType": .string(r.mimeType),
        ]
    }
}
