import AtelierCore

extension Engine {
    /// `job.recipe`: the recipe document of a job (every image) or of one image — what `atelier submit --recipe`
    /// accepts. Fails with `not_reproducible` (and why) for results of models that ignore seeds.
    public func recipe(_ taskUUID: String, imageUUID: String? = nil) async throws(AtelierError) -> RecipeDocument {
        try Reproduction.document(job: try await job(taskUUID), imageUUID: imageUUID)
    }

    /// `job.reproduce`: submits the job's recipe again as a new job (same model pinned, seed, size, prompts,
    /// references; `requirements.reproducible`), waits for it, and compares the images by SHA-256.
    ///
    /// - Parameters:
    ///   - reproductionTaskUUID: the new job's id (idempotency key); generated when nil.
    ///   - timeoutSeconds: how long to wait; when it passes first, `identical` is nil and the job is still running.
    public nonisolated func reproduce(
        _ taskUUID: String, reproductionTaskUUID: String? = nil, timeoutSeconds: Double = 600
    ) async throws(AtelierError) -> ReproductionReport {
        let original = try await job(taskUUID)
        if let e = Reproduction.refusal(original) { throw e }
        let task = Reproduction.task(for: original, taskUUID: reproductionTaskUUID ?? UUIDv4.generate())
        let submitted = try await submit(task)
        let done = try await wait(submitted.taskUUID, timeoutSeconds: timeoutSeconds)
        return Reproduction.compare(original: original, reproduction: done)
    }
}
