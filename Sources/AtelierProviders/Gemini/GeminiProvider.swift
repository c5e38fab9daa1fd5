import AtelierCore
import AtelierImaging
import Foundation

/// Google Gemini image models over `generateContent`. Synchronous: one call per image, n calls in parallel. With a
/// batch collector, tasks whose deadline allows it go through the Batch API instead (GeminiProvider+Batch.swift).
public struct GeminiProvider: NetworkProvider {
    /// Gemini's defaults: a Pro image at 4K can take minutes; a 4K PNG in base64 is several MB.
    public static let defaults = ProviderClientConfiguration(
        id: "gemini", baseURL: GeminiCodec.defaultBaseURL, requestTimeoutSeconds: 360, maxResponseBytes: 96 << 20)

    public let client: NetworkClient
    /// Collects batched tasks into `batchGenerateContent` calls; nil when the provider file has no `batch`.
    public let batch: GeminiBatchCollector?
    /// An interactive-only provider over `client`.
    public init(client: NetworkClient) {
        self.client = client
        self.batch = nil
    }

    /// A provider that sends tasks whose deadline allows it through the Batch API, collected with `batch`; at most
    /// `interactiveConcurrency` batched jobs (the provider file's `concurrency`) make interactive calls at once when
    /// their batch does not deliver.
    public init(client: NetworkClient, batch: BatchSettings?, interactiveConcurrency: Int = 4) {
        self.client = client
        self.batch = batch.map { GeminiBatchCollector(settings: $0, client: client, interactiveLimit: interactiveConcurrency) }
    }

    public func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        let now = configuration.polling.clock.timestamp
        if let batch, BatchLane.applies(request.task, model: request.model, settings: batch.settings, now: now, submittedAt: request.submittedAt) {
            return try await generateInBatch(request, collector: batch, context: context)
        }
        if request.task.requirements.batch == .only {
            // Routed as batchable at submission, but the job waited too long (or the provider has no batch settings
            // now): "only" allows no interactive call.
            let left = request.task.requirements.deadline.map { Int($0.secondsLeft(now: now, submittedAt: request.submittedAt) / 3600) }
            throw ProviderError(
                .batchFailed,
                batch == nil
                    ? "requirements.batch is \"only\" but this provider has no batch settings"
                    : "requirements.batch is \"only\" but the deadline now leaves \(left ?? 0) h, less than the batch turnaround")
        }
        return try await withKey { (key) async throws(ProviderError) -> [GeneratedImage] in
            try await interactive(request, key: key, indices: Array(0..<max(request.task.numberResults, 1)))
        }
    }

    /// Interactive calls for the images `indices` (n calls in parallel); all of them or an error (files discarded).
    func interactive(_ request: GenerationRequest, key: String, indices: [Int]) async throws(ProviderError) -> [GeneratedImage] {
        if indices.count == 1 { return [try await one(request, key: key, index: indices[0])] }
        let results = await withTaskGroup(of: (Int, Result<GeneratedImage, ProviderError>).self) { group in
            for i in indices {
                group.addTask {
                    do throws(ProviderError) { return (i, .success(try await one(request, key: key, index: i))) } catch {
                        return (i, .failure(error))
                    }
                }
            }
            var out: [(Int, Result<GeneratedImage, ProviderError>)] = []
            for await r in group {
                out.append(r)
                if case .failure = r.1 { group.cancelAll() }
            }
            return out.sorted { $0.0 < $1.0 }
        }
        var images: [GeneratedImage] = []
        var firstError: ProviderError?
        for (_, r) in results {
            switch r {
            case .success(let img): images.append(img)
            case .failure(let e):
                // Prefer a real upstream failure over the cancellations it caused.
                if firstError == nil || (firstError?.code == .cancelled && e.code != .cancelled) { firstError = e }
            }
        }
        if let e = firstError {
            await ImageFiles.discard(images)
            throw e
        }
        return images
    }

    /// One call, one image file.
    func one(_ request: GenerationRequest, key: String, index: Int) async throws(ProviderError) -> GeneratedImage {
        if Task.isCancelled { throw ProviderError(.cancelled, "cancelled before calling Gemini") }
        let http = GeminiCodec.encode(request, baseURL: configuration.baseURL, apiKey: key, timeoutSeconds: configuration.requestTimeoutSeconds)
        // The body streams through the lift: the image is decoded piece by piece as it arrives.
        let lift = Base64JSONLift(keys: ["data"], minimumLength: GeminiCodec.liftThreshold)
        var response = try await transport.send(http, maxBodyBytes: configuration.maxResponseBytes, streamingInto: lift)
        let (out, image) = try GeminiCodec.decode(&response, lifted: lift)
        let path = ImageFiles.path(
            scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: index,
            fileExtension: ImageFiles.fileExtension(forMIME: out.mimeType))
        let digest: ImageDigest
        if let image {
            let (decoded, sha256) = (image.image, image.sha256)
            digest = try await request.resultWrites.perform { () throws(ProviderError) in
                try await ImageFiles.write(decoded: decoded, sha256: sha256, to: path)
            }
        } else if let range = out.base64Range {
            // The body is handed over (not copied) and decoded where it lies, off the cooperative pool. Decoded in
            // place, it cannot be written again: a storage fault here fails the call (the fallback path only).
            let body = OwnedBytes(taking: &response.body)
            digest = try await ImageFiles.writeBase64(body, range: range, to: path)
        } else {
            let text = out.base64
            digest = try await request.resultWrites.perform { () throws(ProviderError) in try await ImageFiles.writeBase64(text: text, to: path) }
        }
        // Usage × the card's dated token prices when both are there, else the catalog's figure (unknown for an
        // unpublished price: never $0).
        let cost =
            GeminiCodec.cost(out.usage, model: request.model).map { CostFigure(usd: $0, source: .computed) }
            ?? request.model.catalogCost(size: request.size, referenceImages: request.references.count)
        return GeneratedImage(
            path: path, mimeType: out.mimeType, seed: nil, costUSD: cost.usd, note: out.note, sentParameters: GeminiCodec.sentParameters(request),
            digest: digest, servedModel: out.modelVersion, costSource: cost.source)
    }

    public func verifyModels(_ upstreamIDs: [String]) async throws(ProviderError) -> [String: ModelVerification]? {
        try await checkModels(upstreamIDs)?.configured
    }

    /// One walk through every page of `GET /v1beta/models`: the configured ids, and the image models (by name:
    /// ``GeminiCodec/isImageModel(_:)``) the catalog lacks.
    public func checkModels(_ upstreamIDs: [String]) async throws(ProviderError) -> ModelListingCheck? {
        try await ifKeyed { (key) async throws(ProviderError) -> ModelListingCheck? in
            var listed = Set<String>()
            var token: String?
            var pages = 0
            repeat {
                let r = try await transport.send(
                    GeminiCodec.encodeListModels(baseURL: configuration.baseURL, apiKey: key, pageToken: token, timeoutSeconds: 60),
                    maxBodyBytes: 8 << 20)
                let page = try GeminiCodec.decodeListModels(r)
                listed.formUnion(page.ids)
                token = page.nextPageToken
                pages += 1
            } while token != nil && pages < 50
            var check = ModelListingCheck.against(listing: Array(listed), upstreamIDs: upstreamIDs, isImageModel: GeminiCodec.isImageModel)
            // A listing cut short after 50 pages is not complete: nothing can be called uncatalogued then.
            if token != nil { check.uncatalogued = nil }
            return check
        }
    }
}
