import AtelierCore
import AtelierProviders
import Foundation
import Logging
import Synchronization

/// One provider call of a job's attempt: references loaded, the provider called (or resumed from its handle) with a
/// context that records resume handles and reads the cancel signal, result files stored (waiting out a full disk)
/// and synced before the row that names them commits. The run loop (``Engine/execute``) feeds the outcome to the
/// job's ``JobLifecycle``.
extension Engine {
    /// How a provider call ended: its stored results, or the failure.
    enum AttemptOutcome {
        case success([JobResult])
        case failure(ProviderError)
        /// Images were made and paid for (`cost`), but none met the task's own bar (best-of-N or preserve
        /// `minScore`, Engine+Consistency.swift): the job fails with this error.
        case missed(AtelierError, cost: CostFigure?)
    }

    /// One provider call (or resumption), with results stored. A task with `consistency` or `preserve` runs as
    /// best-of-N candidates and region checks (``consistencyAttempt(job:model:size:entry:provider:resumeHandle:)``).
    func attempt(
        job: Job, model: ModelCard, size: ResolvedSize, entry: ProviderEntry, provider: any Provider, attemptKey: String, resumeHandle: String?
    ) async -> AttemptOutcome {
        if job.task.consistency != nil || job.task.preserve != nil {
            return await consistencyAttempt(job: job, model: model, size: size, entry: entry, provider: provider, resumeHandle: resumeHandle)
        }
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
        let taskUUID = job.taskUUID
        let context = GenerationContext(
            recordResumeHandle: { [weak self] handle in
                guard let self else { return }
                try await self.recordHandle(taskUUID, handle)
            },
            isCancelled: cancelCheck(taskUUID))
        let outcome = await generateAndStore(
            job: job, model: model, size: size, provider: provider, references: refs, attemptKey: attemptKey, resumeHandle: resumeHandle,
            context: context, scratch: scratch)
        // The files reach the disk before the row that names them commits: one syncfs shared by the jobs finishing
        // together (under synchronous = FULL; with NORMAL the store itself does not survive a power loss either).
        if case .success = outcome, configuration.durability == .full { await files.syncStored() }
        return outcome
    }

    /// Whether `taskUUID`'s caller cancelled it (read by providers at their safe points).
    func cancelCheck(_ taskUUID: String) -> @Sendable () -> Bool {
        let signals = cancelSignals
        return { signals.isRaised(taskUUID) }
    }

    /// One provider call (or resumption) with the references loaded: the images stored under the job and checked
    /// against the request. The files are not synced here (the caller syncs once for everything it keeps).
    func generateAndStore(
        job: Job, model: ModelCard, size: ResolvedSize, provider: any Provider, references refs: [LoadedReference], attemptKey: String,
        resumeHandle: String?, context: GenerationContext, scratch: String
    ) async -> AttemptOutcome {
        let taskUUID = job.taskUUID
        var request = GenerationRequest(
            task: job.task, model: model, size: size, seed: model.seedAccepted ? job.task.seed : nil, references: refs, scratchDirectory: scratch,
            attemptKey: attemptKey)
        request.submittedAt = job.createdAt
        request.resultWrites = resultWrites(taskUUID)
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
        // Each image checked against the request (size and format from its bytes, what the provider echoed).
        results = ResultCheck.apply(results, images: images, task: job.task, model: model, size: size, sentSeed: request.seed, catalog: catalog)
        return .success(results)
    }

    /// A provider's writes of images it holds in memory, for job `taskUUID`: run through ``untilFilesWritten(_:_:)``,
    /// so a full disk holds the image and the job (health says why) instead of failing a paid call.
    func resultWrites(_ taskUUID: String) -> ResultWrites {
        ResultWrites { [weak self] write throws(ProviderError) in
            guard let self else { return try await write() }
            // Any error but store_failure ends the wait at once and reaches the provider as it was thrown (its HTTP
            // status and retry hint kept for the engine's retry policy).
            let other = Mutex<ProviderError?>(nil)
            do throws(AtelierError) {
                try await self.untilFilesWritten(taskUUID) {
                    do throws(ProviderError) { try await write() } catch {
                        if error.code != .storeFailure { other.withLock { $0 = error } }
                        throw AtelierError(error.code, error.message, retryable: error.code == .storeFailure)
                    }
                }
            } catch {
                throw other.withLock { $0 } ?? ProviderError(error.code, error.message)
            }
        }
    }

    /// Writes result files (or creates the scratch directory) until the disk takes them: a write that fails for
    /// the daemon's own storage (disk full, I/O error) marks the store's `files` part failing (health) and is
    /// retried with capped backoff while the images stay in memory, so a full disk never fails the job nor pays the
    /// provider again. Other errors (e.g. data that is not an image) are thrown at once; cancellation stops waiting.
    func untilFilesWritten<T>(_ taskUUID: String, _ body: () async throws -> T) async throws(AtelierError) -> T {
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
                do { try await configuration.clock.sleep(for: .seconds(delay)) } catch {
                    throw AtelierError(.cancelled, "stopped while waiting to write result files")
                }
                delay = min(delay * 2, configuration.storeRetryMaxDelaySeconds)
            }
        }
    }
}
