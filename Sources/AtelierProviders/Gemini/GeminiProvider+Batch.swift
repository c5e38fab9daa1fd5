import AtelierCore
import Foundation

/// The Batch API path of ``GeminiProvider``: a task whose deadline leaves the batch turnaround
/// (``BatchLane/applies(_:model:settings:now:submittedAt:)``, the router's rule) is handed to the provider's
/// ``GeminiBatchCollector``; once its batch exists, the batch name is recorded as the attempt's resume handle —
/// committed — before waiting, so a restarted daemon resumes polling instead of sending it again. Each image comes back
/// against its key and is priced at the batch rate. When the batch fails, expires, or would make the task miss its
/// deadline, the missing images are made through the interactive endpoint — or, for `requirements.batch: "only"`,
/// the attempt fails with the reason.
extension GeminiProvider {
    /// Sends the task's requests in a batch and waits for it.
    func generateInBatch(
        _ request: GenerationRequest, collector: GeminiBatchCollector, context: GenerationContext
    ) async throws(ProviderError)
        -> [GeneratedImage]
    {
        try await redactingKey { () async throws(ProviderError) -> [GeneratedImage] in
            _ = try configuration.requireKey()
            let n = max(request.task.numberResults, 1)
            let now = configuration.polling.clock.timestamp
            let handleKey = request.attemptKey
            let body = GeminiCodec.body(request)
            let entries = (0..<n).map { GeminiBatchCodec.Entry(key: "\(handleKey)-\($0)", request: body) }
            let name: String
            do throws(ProviderError) {
                name = try await collector.enqueue(model: request.model.upstreamID, entries: entries)
            } catch {
                if error.code == .cancelled || Task.isCancelled { throw error }
                return try await leaveBatch(request, missing: Array(0..<n), kept: [], why: "the batch could not be created: \(error.message)")
            }
            let handle = GeminiBatchCodec.Handle(
                batch: name, key: handleKey, count: n, deadline: request.task.requirements.deadline?.time(submittedAt: request.submittedAt ?? now))
            try await context.recordResumeHandle(handle.encoded)
            return try await waitForBatch(handle, request: request, collector: collector, context: context)
        }
    }

    /// Resumes a batched attempt from its handle: polls the recorded batch, never sends it again.
    public func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        guard let h = GeminiBatchCodec.Handle(handle), let collector = batch else { throw ProviderError.notResumable }
        return try await redactingKey { () async throws(ProviderError) -> [GeneratedImage] in
            try await waitForBatch(h, request: request, collector: collector, context: context)
        }
    }

    /// Polls the batch until it is final (or the deadline comes too close), then stores each image against its key.
    func waitForBatch(
        _ handle: GeminiBatchCodec.Handle, request: GenerationRequest, collector: GeminiBatchCollector, context: GenerationContext
    )
        async throws(ProviderError) -> [GeneratedImage]
    {
        let clock = configuration.polling.clock
        let reserve = collector.settings.interactiveReserveSeconds
        var transientFailures = 0
        while true {
            if Task.isCancelled || context.isCancelled { throw ProviderError(.cancelled, "cancelled while waiting for batch \(handle.batch)") }
            let status: GeminiBatchCodec.Status
            do throws(ProviderError) {
                status = try await collector.status(handle.batch)
                transientFailures = 0
            } catch {
                if error.code == .cancelled { throw error }
                transientFailures += 1
                if !error.retryable || transientFailures > configuration.polling.maxTransientFailures {
                    return try await leaveBatch(
                        request, missing: Array(0..<handle.count), kept: [], why: "batch \(handle.batch) could not be read: \(error.message)")
                }
                status = GeminiBatchCodec.Status(state: "UNREADABLE")
            }
            if status.state == "SUCCEEDED" {
                return try await collect(handle, status: status, request: request, collector: collector)
            }
            if status.isTerminal {
                let why = "batch \(handle.batch) ended \(status.state)" + (status.error.map { ": \($0)" } ?? "")
                return try await leaveBatch(request, missing: Array(0..<handle.count), kept: [], why: why)
            }
            if let deadline = handle.deadline, clock.timestamp.seconds + collector.settings.pollSeconds + reserve >= deadline.seconds {
                return try await leaveBatch(
                    request, missing: Array(0..<handle.count), kept: [],
                    why: "batch \(handle.batch) is still \(status.state) and would miss the deadline \(deadline.iso8601)")
            }
            do { try await clock.sleep(for: .seconds(collector.settings.pollSeconds)) } catch {
                throw ProviderError(.cancelled, "cancelled while waiting for batch \(handle.batch)")
            }
        }
    }

    /// Stores the images of a finished batch; images the batch failed to make go to ``leaveBatch``.
    func collect(
        _ handle: GeminiBatchCodec.Handle, status: GeminiBatchCodec.Status, request: GenerationRequest, collector: GeminiBatchCollector
    )
        async throws(ProviderError) -> [GeneratedImage]
    {
        let keys = (0..<handle.count).map(handle.key)
        let results = await collector.take(handle.batch, keys: keys)
        var images: [(Int, GeneratedImage)] = []
        var missing: [Int] = []
        var reasons: [String] = []
        for i in 0..<handle.count {
            guard let doc = results[handle.key(i)], doc.objectValue != nil else {
                missing.append(i)
                reasons.append("no answer for \(handle.key(i))")
                continue
            }
            if let err = doc["error"]?.objectValue {
                missing.append(i)
                reasons.append(err["message"]?.stringValue ?? "error")
                continue
            }
            do throws(ProviderError) {
                images.append((i, try await store(doc, request: request, index: i)))
            } catch {
                // A refusal is the prompt's, not the batch's: it ends the attempt like an interactive refusal.
                if error.code == .refused {
                    await ImageFiles.discard(images.map(\.1))
                    throw error
                }
                missing.append(i)
                reasons.append(error.message)
            }
        }
        if missing.isEmpty { return images.map(\.1) }
        return try await leaveBatch(
            request, missing: missing, kept: images, why: "batch \(handle.batch) made \(images.count) of \(handle.count) images (\(reasons[0]))")
    }

    /// One image of a batch answer, written to its file and priced at the batch rate: the answer's token counts ×
    /// the card's token prices scaled to the batch price (`computed`), else the batch price (`estimated`).
    func store(_ doc: JSONValue, request: GenerationRequest, index: Int) async throws(ProviderError) -> GeneratedImage {
        guard let out = try GeminiCodec.decode(doc, response: HTTPResponse(status: 200)) else {
            throw ProviderError(.badUpstream, "a batch answer is not an object")
        }
        let path = ImageFiles.path(
            scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: index,
            fileExtension: ImageFiles.fileExtension(forMIME: out.mimeType))
        let text = out.base64
        let digest = try await request.resultWrites.perform { () throws(ProviderError) in try await ImageFiles.writeBase64(text: text, to: path) }
        let cost = Self.batchCost(out.usage, request: request)
        return GeneratedImage(
            path: path, mimeType: out.mimeType, seed: nil, costUSD: cost.usd, note: out.note,
            sentParameters: GeminiCodec.sentParameters(request), digest: digest, servedModel: out.modelVersion,
            costSource: cost.source)
    }

    /// The cost of one batched image.
    static func batchCost(_ usage: GeminiCodec.Usage?, request: GenerationRequest) -> CostFigure {
        let model = request.model
        guard let batchPrice = model.batchPrice else { return model.catalogCost(size: request.size, referenceImages: request.references.count) }
        let refs = request.references.count
        let batchUSD = batchPrice.cost(size: request.size, referenceImages: refs)
        let standard = model.price.cost(size: request.size, referenceImages: refs)
        if let computed = GeminiCodec.cost(usage, model: model), standard > 0, model.price.isKnown, batchPrice.isKnown {
            return CostFigure(usd: ((computed * batchUSD / standard) * 1e6).rounded() / 1e6, source: .computed)
        }
        return batchPrice.isKnown ? CostFigure(usd: batchUSD, source: .estimated) : CostFigure(usd: nil, source: .unknown)
    }

    /// Gives up on the batch for the images `missing`: made through the interactive endpoint (the deadline still
    /// wants them), or — `requirements.batch: "only"` — the attempt fails with `why` (files already kept are removed).
    func leaveBatch(
        _ request: GenerationRequest, missing: [Int], kept: [(Int, GeneratedImage)], why: String
    ) async throws(ProviderError)
        -> [GeneratedImage]
    {
        if request.task.requirements.batch == .only {
            await ImageFiles.discard(kept.map(\.1))
            throw ProviderError(.batchFailed, "\(why); requirements.batch is \"only\", so no interactive call was made")
        }
        let made: [GeneratedImage]
        // These calls run from the batch lane: they take one of the collector's interactive slots instead.
        await batch?.acquireInteractive()
        do throws(ProviderError) {
            let key = try configuration.requireKey()
            made = try await interactive(request, key: key, indices: missing)
            await batch?.releaseInteractive()
        } catch {
            await batch?.releaseInteractive()
            await ImageFiles.discard(kept.map(\.1))
            var e = error
            e.message = "\(why); the interactive call failed too: \(error.message)"
            throw e
        }
        var all = kept
        for (i, img) in zip(missing, made) { all.append((i, img)) }
        return all.sorted { $0.0 < $1.0 }.map(\.1)
    }
}

extension ErrorCode {
    /// A batched attempt that could not be completed through the batch interface, for a task that allows nothing else
    /// (`requirements.batch: "only"`): not retried on the same model.
    public static let batchFailed: ErrorCode = "batch_failed"
}
