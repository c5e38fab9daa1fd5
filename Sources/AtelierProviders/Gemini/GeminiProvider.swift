import AtelierCore
import Foundation

/// Google Gemini image models over `generateContent`. Synchronous: one call per image, n calls in parallel.
public struct GeminiProvider: NetworkProvider {
    /// Gemini's defaults: a Pro image at 4K can take minutes; a 4K PNG in base64 is several MB.
    public static let defaults = ProviderClientConfiguration(
        id: "gemini", baseURL: GeminiCodec.defaultBaseURL, requestTimeoutSeconds: 360, maxResponseBytes: 96 << 20)

    public let client: NetworkClient
    public init(client: NetworkClient) { self.client = client }

    public func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        try await withKey { (key) async throws(ProviderError) -> [GeneratedImage] in
            let n = max(request.task.numberResults, 1)
            if n == 1 { return [try await one(request, key: key, index: 0)] }
            let results = await withTaskGroup(of: (Int, Result<GeneratedImage, ProviderError>).self) { group in
                for i in 0..<n {
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
    }

    /// One call, one image file.
    func one(_ request: GenerationRequest, key: String, index: Int) async throws(ProviderError) -> GeneratedImage {
        if Task.isCancelled { throw ProviderError(.cancelled, "cancelled before calling Gemini") }
        let http = GeminiCodec.encode(request, baseURL: configuration.baseURL, apiKey: key, timeoutSeconds: configuration.requestTimeoutSeconds)
        var response = try await transport.send(http, maxBodyBytes: configuration.maxResponseBytes)
        let out = try GeminiCodec.decode(response)
        let path = ImageFiles.path(
            scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: index,
            fileExtension: ImageFiles.fileExtension(forMIME: out.mimeType))
        let digest: ImageDigest
        if let range = out.base64Range {
            // The body is handed over (not copied) and decoded where it lies, off the cooperative pool.
            let body = OwnedBytes(taking: &response.body)
            digest = try await ImageFiles.writeBase64(body, range: range, to: path)
        } else {
            digest = try await ImageFiles.writeBase64(text: out.base64, to: path)
        }
        let cost =
            GeminiCodec.cost(out.usage, model: request.model)
            ?? request.model.price.cost(size: request.size, referenceImages: request.references.count)
        return GeneratedImage(
            path: path, mimeType: out.mimeType, seed: nil, costUSD: cost, note: out.note, sentParameters: GeminiCodec.sentParameters(request),
            digest: digest, servedModel: out.modelVersion)
    }

    public func verifyModels(_ upstreamIDs: [String]) async throws(ProviderError) -> [String: ModelVerification]? {
        try await ifKeyed { (key) async throws(ProviderError) -> [String: ModelVerification]? in
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
            var out: [String: ModelVerification] = [:]
            for id in upstreamIDs { out[id] = listed.contains(id) ? .present : .missing }
            return out
        }
    }
}
