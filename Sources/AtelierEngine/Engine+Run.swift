import AtelierCore
import AtelierProviders
import Foundation
import Logging

/// Scheduling and execution: provider queues and slots, the attempt loop with retries and fallbacks, result files,
/// and the terminal states. Every state change goes through ``persist(_:event:newResults:)``.
extension Engine {
    // MARK: - Scheduling

    func enqueue(_ job: Job) {
        guard let provider = job.route?.provider else { return }
        queues[provider, default: JobQueue()].push(job.taskUUID)
    }

    func pump() {
        guard !draining, !configuration.hold else { return }
        for (provider, _) in queues {
            let limit = registry.entry(provider)?.config.concurrency ?? 1
            while runningCount[provider, default: 0] < limit, let id = queues[provider]?.pop() {
                runningCount[provider, default: 0] += 1
                running[id] = Task { await self.execute(id, provider: provider) }
            }
        }
    }

    private func finishedSlot(_ id: String, provider: String) {
        running[id] = nil
        cancelRequested.remove(id)
        runningCount[provider, default: 1] -= 1
        pump()
    }

    func persist(_ job: Job, event: JobEventKind? = nil, newResults: [JobResult] = []) async throws(AtelierError) {
        var j = job
        j.updatedAt = .now()
        let change = event.map { StateChange($0, job: j, newResults: newResults) }
        if event?.finalStatus != nil {
            // Replace the reserved estimate by what the job actually cost.
            ledger.add(BudgetLedger.charge(of: j) - (j.route?.estimatedCostUSD ?? 0), task: j.task, createdAt: j.createdAt, budgets: policy.budgets)
        }
        let store = self.store
        let snapshot = j
        try await untilStored("job state change", taskUUID: job.taskUUID) { try await store.update(snapshot, change: change) }
        cache.put(j)
    }

    /// Runs a store operation until it succeeds (``StoreRetry``): a store fault is retried with capped exponential
    /// backoff, so the job waits in place — keeping its results — and continues by itself once the store accepts
    /// writes again. Other errors, and faults while the daemon is shutting down (the job is then recovered from its
    /// last committed state at the next start), throw `store_failure`.
    func untilStored<T: Sendable>(
        _ what: String, taskUUID: String, _ operation: @escaping @Sendable () async throws -> T
    ) async throws(AtelierError) -> T {
        try await StoreRetry(configuration: configuration, logger: logger).untilStored(
            what, metadata: ["taskUUID": "\(taskUUID)"], stopping: { draining }, operation)
    }

    // MARK: - Running a job

    private func execute(_ id: String, provider: String) async {
        defer { finishedSlot(id, provider: provider) }
        guard var job = cache.job(id), !job.status.isTerminal else { return }
        do {
            job = try await run(job)
        } catch {
            logger.error("job execution failed unexpectedly", metadata: ["taskUUID": "\(id)", "error": "\(error)"])
        }
    }

    /// Runs the job through its route's candidates with retries; returns the final state.
    ///
    /// Retryable failures are retried on the same model with backoff (or the provider's hint); when a model is
    /// exhausted, the next candidate comes from the router under the same hard constraints and with fresh
    /// availability (a refused job falls back only where the routing rules allow it).
    private func run(_ start: Job) async throws(AtelierError) -> Job {
        var job = start
        guard let route = job.route else { return job }
        var next: String? = route.model
        var lastError: AtelierError?
        var tried: Set<String> = []

        while let modelID = next {
            next = nil
            tried.insert(modelID)
            var refused = false
            if let model = catalog.model(modelID), let entry = registry.entry(model.provider), let impl = entry.provider, entry.unavailable == nil,
                case .success(let size) = model.check(job.task)
            {
                let retry = entry.config.retry
                var attemptOnModel = 0
                retryLoop: while attemptOnModel < retry.maxAttempts {
                    attemptOnModel += 1
                    if Task.isCancelled { return try await stopped(job) }
                    // Seed: generated and recorded when the model honours seeds and the task had none.
                    if model.seedHonored && job.task.seed == nil {
                        job.task.seed = Int64(configuration.random() * 2_147_483_646) + 1
                    }
                    let resumeHandle = job.attempts.last.flatMap { $0.outcome == .interrupted && $0.model == model.id ? $0.resumeHandle : nil }
                    job.status = .running
                    if job.startedAt == nil { job.startedAt = .now() }
                    if job.route?.model != model.id {
                        job.route?.provider = model.provider
                        job.route?.model = model.id
                        job.route?.reasons.append("fell back to \(model.id) after \(lastError?.code.rawValue ?? "a failure")")
                    }
                    job.attempts.append(Attempt(number: job.attempts.count + 1, provider: model.provider, model: model.id, startedAt: .now()))
                    try await persist(job, event: .running)
                    events.publish(JobEvent(.running, job: job))

                    attempting[job.taskUUID] = job
                    let outcome = await attempt(
                        job: job, model: model, size: size, entry: entry, provider: impl, attemptKey: UUIDv4.generate(), resumeHandle: resumeHandle)
                    // Back from the provider, with the resume handle it may have recorded meanwhile.
                    job = attempting.removeValue(forKey: job.taskUUID) ?? job
                    let idx = job.attempts.count - 1
                    job.attempts[idx].endedAt = .now()
                    switch outcome {
                    case .success(let results):
                        job.attempts[idx].outcome = .succeeded
                        job.results = results
                        job.status = .succeeded
                        job.error = nil
                        job.finishedAt = .now()
                        let costs = results.compactMap(\.costUSD)
                        if model.price == .free {
                            job.costUSD = costs.reduce(0, +)
                        } else {
                            job.costUSD = costs.count == results.count ? costs.reduce(0, +) : model.estimatedCost(job.task, size: size)
                        }
                        try await persist(job, event: .succeeded, newResults: results)
                        recordBreaker(model.id, success: true)
                        for r in results { events.publish(JobEvent(.result, job: job, result: r)) }
                        events.publish(JobEvent(.succeeded, job: job))
                        return job
                    case .failure(let perr):
                        if perr.code == .cancelled || Task.isCancelled { return try await stopped(job) }
                        let err = perr.atelierError
                        lastError = err
                        job.attempts[idx].outcome = .failed
                        job.attempts[idx].error = err
                        job.error = err
                        try await persist(job)
                        if perr.code != .invalidRequest && perr.code != .refused { recordBreaker(model.id, success: false) }
                        logger.notice(
                            "attempt failed",
                            metadata: [
                                "taskUUID": "\(job.taskUUID)", "model": "\(model.id)", "code": "\(err.code)", "attempt": "\(job.attempts.count)",
                            ])
                        if !perr.allowsFallback { return try await failed(job, err) }
                        refused = perr.code == .refused
                        guard perr.retryable, attemptOnModel < retry.maxAttempts else { break retryLoop }
                        let wait = perr.retryAfterSeconds ?? retry.delay(beforeRetry: attemptOnModel, unitRandom: configuration.random())
                        do { try await configuration.sleep(min(wait, 3600)) } catch { return try await stopped(job) }
                    }
                }
            }
            // Next candidate under the same hard constraints, with fresh availability.
            let decision = router.decide(job.task, context: routingContext())
            next = decision.fallbacks(after: modelID, refused: refused).map(\.model.id).first { !tried.contains($0) }
        }
        return try await failed(job, lastError ?? AtelierError(.noRoute, "no model could serve this task"))
    }

    /// Stopped by cancellation: the caller's cancel, or the daemon's shutdown.
    private func stopped(_ job: Job) async throws(AtelierError) -> Job {
        if cancelRequested.contains(job.taskUUID) { return try await cancelled(job) }
        return try await interrupted(job)
    }

    private enum AttemptOutcome {
        case success([JobResult])
        case failure(ProviderError)
    }

    /// One provider call (or resumption), with results stored.
    private func attempt(
        job: Job, model: ModelCard, size: ResolvedSize, entry: ProviderEntry, provider: any Provider, attemptKey: String, resumeHandle: String?
    ) async -> AttemptOutcome {
        // Providers write into the shared scratch directory (files named after the attempt key): no directory per
        // attempt. Leftovers are removed after a failure, and reference downloads' own directory when there was one.
        let outcome = await attemptInScratch(
            job: job, model: model, size: size, entry: entry, provider: provider, attemptKey: attemptKey, resumeHandle: resumeHandle,
            scratch: files.scratchRoot)
        let failed: Bool
        if case .failure = outcome { failed = true } else { failed = false }
        let downloaded = job.task.referenceImages.contains { if case .url = $0 { return true } else { return false } }
        if failed || downloaded { await files.removeScratch(attemptKey: attemptKey, failed: failed) }
        return outcome
    }

    private func attemptInScratch(
        job: Job, model: ModelCard, size: ResolvedSize, entry: ProviderEntry, provider: any Provider, attemptKey: String, resumeHandle: String?,
        scratch: String
    ) async -> AttemptOutcome {
        let refs: [LoadedReference]
        do {
            refs = try await references.load(job.task, model: model, attemptKey: attemptKey, timeoutSeconds: entry.config.requestTimeoutSeconds)
        } catch {
            return .failure(ProviderError(error.code, error.message, field: error.field))
        }
        let request = GenerationRequest(
            task: job.task, model: model, size: size, seed: model.seedAccepted ? job.task.seed : nil, references: refs, scratchDirectory: scratch,
            attemptKey: attemptKey, credentials: entry.credentials, baseURL: entry.baseURL)
        let taskUUID = job.taskUUID
        let signals = cancelSignals
        let context = GenerationContext(
            recordResumeHandle: { [weak self] handle in
                guard let self else { return }
                try await self.recordHandle(taskUUID, handle)
            },
            isCancelled: { signals.isRaised(taskUUID) })
        let images: [GeneratedImage]
        do {
            if let resumeHandle {
                images = try await provider.resume(handle: resumeHandle, request: request, context: context)
            } else {
                images = try await provider.generate(request, context: context)
            }
        } catch {
            return .failure(error)
        }
        if images.isEmpty { return .failure(ProviderError(.noImage, "the provider returned no image")) }
        var results: [JobResult] = []
        for (i, img) in images.enumerated() {
            let seed: Int64? = model.seedHonored ? (img.seed ?? request.seed.map { $0 + Int64(i) }) : nil
            do {
                var stored = try await untilFilesWritten(taskUUID) {
                    try await files.store(img, taskUUID: taskUUID, imageUUID: UUIDv4.generate(), seed: seed, seedHonored: model.seedHonored)
                }
                // Seed-honouring models only: how to make this image again (model version, parameters sent, references).
                stored.recipe = Recipe.make(
                    model: model, seed: seed, parameters: img.sentParameters, referenceSHA256: refs.map(\.sha256), result: stored)
                results.append(stored)
            } catch {
                return .failure(ProviderError(error.code, error.message))
            }
        }
        // The files reach the disk before the row that names them commits: one syncfs shared by the jobs finishing
        // together (under synchronous = FULL; with NORMAL the store itself does not survive a power loss either).
        if configuration.durability == .full { await files.syncStored() }
        return .success(results)
    }

    /// Writes result files (or creates the scratch directory) until the disk takes them: a write that fails for
    /// the daemon's own storage (disk full, I/O error) marks the store's `files` part failing (health) and is
    /// retried with capped backoff while the images stay in memory, so a full disk never fails the job nor pays the
    /// provider again. Other errors (e.g. data that is not an image) are thrown at once; cancellation stops waiting.
    private func untilFilesWritten<T>(_ taskUUID: String, _ body: () async throws -> T) async throws(AtelierError) -> T {
        var delay = configuration.storeRetryInitialDelaySeconds
        var failures = 0
        while true {
            do {
                let value = try await body()
                store.condition.clear(.files)
                if failures > 0 {
                    logger.notice("result files can be written again", metadata: ["taskUUID": "\(taskUUID)", "retries": "\(failures)"])
                }
                return value
            } catch let e as AtelierError where e.code != .storeFailure {
                throw e
            } catch {
                let why = (error as? AtelierError)?.message ?? "\(error)"
                store.condition.record(.files, "cannot write result files under \(configuration.dataDirectory): \(why)")
                if failures == 0 {
                    logger.error("result files cannot be written; retrying", metadata: ["taskUUID": "\(taskUUID)", "error": "\(why)"])
                }
                failures += 1
                if Task.isCancelled { throw AtelierError(.cancelled, "stopped while waiting to write result files") }
                do { try await configuration.sleep(delay) } catch { throw AtelierError(.cancelled, "stopped while waiting to write result files") }
                delay = min(delay * 2, configuration.storeRetryMaxDelaySeconds)
            }
        }
    }

    /// Durably records an upstream handle on the current attempt of a job whose provider call is under way
    /// (``attempting``).
    func recordHandle(_ taskUUID: String, _ handle: String) async throws {
        guard var job = attempting[taskUUID], !job.attempts.isEmpty else { return }
        job.attempts[job.attempts.count - 1].resumeHandle = handle
        attempting[taskUUID] = job
        try await persist(job)
    }

    private func failed(_ job: Job, _ error: AtelierError) async throws(AtelierError) -> Job {
        try await finish(job, .failed, error: error)
    }

    /// Cancelled by the caller: queued, or stopped during an attempt (which ends `cancelled`).
    func cancelled(_ start: Job) async throws(AtelierError) -> Job {
        var job = start
        job.endRunningAttempt(.cancelled)
        return try await finish(job, .cancelled, error: AtelierError(.cancelled, "cancelled by the caller"))
    }

    /// Ends the job `failed` or `cancelled` (`event`) with `error`: persisted, then published.
    private func finish(_ start: Job, _ event: JobEventKind, error: AtelierError) async throws(AtelierError) -> Job {
        precondition(event == .failed || event == .cancelled, "finish(_:_:error:) ends a job failed or cancelled")
        var job = start
        job.status = event == .failed ? .failed : .cancelled
        job.error = error
        job.finishedAt = .now()
        job.updatedAt = .now()
        try await persist(job, event: event)
        events.publish(JobEvent(event, job: job))
        return job
    }

    /// The daemon is stopping: leave the job queued (with its resume handle) for the next start.
    private func interrupted(_ start: Job) async throws(AtelierError) -> Job {
        var job = start
        job.endRunningAttempt(.interrupted)
        job.status = .queued
        try await persist(job, event: .interrupted)
        return job
    }

    private func recordBreaker(_ model: String, success: Bool) {
        breakers.record(model: model, success: success, at: Self.seconds(.now))
    }
}

extension Job {
    /// Ends the attempt still marked running (the last one), if there is one: cancelled, or interrupted by a stop.
    mutating func endRunningAttempt(_ outcome: Attempt.Outcome, error: AtelierError? = nil) {
        guard let i = attempts.indices.last, attempts[i].outcome == .running else { return }
        attempts[i].outcome = outcome
        attempts[i].endedAt = .now()
        if let error { attempts[i].error = error }
    }
}
