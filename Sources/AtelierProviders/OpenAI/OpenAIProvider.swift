import AtelierCore
import AtelierImaging
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// OpenAI's Images API, or any endpoint compatible with it (another provider file with `"kind": "openai"`, its own
/// id, base URL and key variable). Synchronous: one call makes all `numberResults` images; `/v1/images/edits` when the
/// task has reference images.
public struct OpenAIProvider: NetworkProvider {
    /// The Images API's defaults: a high-quality image can take a few minutes; several base64 PNGs in one answer.
    public static let defaults = ProviderClientConfiguration(
        id: "openai", baseURL: OpenAICodec.defaultBaseURL, requestTimeoutSeconds: 300, maxResponseBytes: 160 << 20)

    public let client: NetworkClient
    public init(client: NetworkClient) { self.client = client }

    public func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        try await withKey { (key) async throws(ProviderError) -> [GeneratedImage] in
            try OpenAICodec.validate(request)
            if Task.isCancelled { throw ProviderError(.cancelled, "cancelled before calling \(id)") }
            let http = OpenAICodec.encode(
                request, baseURL: configuration.baseURL, apiKey: key, timeoutSeconds: configuration.requestTimeoutSeconds)
            // The body streams through the lift: each b64_json image is decoded and hashed piece by piece as it arrives.
            let lift = OpenAICodec.lift()
            var response = try await transport.send(http, maxBodyBytes: configuration.maxResponseBytes, streamingInto: lift)
            let out = try OpenAICodec.decode(&response, lifted: lift)
            let sent = OpenAICodec.sentParameters(request)
            // The call's usage prices all its images together: each carries its share.
            let cost =
                OpenAICodec.cost(out.usage, model: request.model).map { CostFigure(usd: $0 / Double(out.images.count), source: .computed) }
                ?? request.model.catalogCost(size: request.size, referenceImages: request.references.count)
            var images: [GeneratedImage] = []
            do throws(ProviderError) {
                for (i, image) in out.images.enumerated() {
                    let (path, mime, digest) = try await store(image, lifted: lift, index: i, declared: out.mimeType, request: request)
                    images.append(
                        GeneratedImage(
                            path: path, mimeType: mime, seed: nil, costUSD: cost.usd, sentParameters: sent, digest: digest, costSource: cost.source))
                }
            } catch {
                // The files already written go, off the cooperative pool.
                let written = images
                try? await FileWork.run { () throws(ProviderError) -> Void in ImageFiles.removeAll(written) }
                throw error
            }
            return images
        }
    }

    /// Writes one image into the scratch directory, named after what its bytes are: already decoded when `lift` took
    /// it as it arrived, else decoded from its text.
    func store(
        _ image: OpenAICodec.Image, lifted lift: Base64JSONLift?, index: Int, declared: String?, request: GenerationRequest
    ) async throws(ProviderError) -> (path: String, mimeType: String, digest: ImageDigest?) {
        let expected = declared ?? request.task.outputFormat.mimeType
        let path = ImageFiles.path(
            scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: index,
            fileExtension: ImageFiles.fileExtension(forMIME: expected))
        switch image {
        case .base64(let text):
            let digest: ImageDigest
            if let span = lift?.span(marking: text) {
                let (decoded, sha256) = (span.image, span.sha256)
                digest = try await request.resultWrites.perform { () throws(ProviderError) in
                    try await ImageFiles.write(decoded: decoded, sha256: sha256, to: path)
                }
            } else {
                digest = try await request.resultWrites.perform { () throws(ProviderError) in try await ImageFiles.writeBase64(text: text, to: path) }
            }
            let mime = digest.info?.mimeType ?? digest.magicMIME ?? expected
            return (try await named(path, mime, index: index, request: request), mime, digest)
        case .url(let url):
            // Some compatible vendors answer with a short-lived URL: fetched at once, without the key.
            let got = try await Downloads.fetch(
                transport, url: url, to: path, timeoutSeconds: configuration.requestTimeoutSeconds, maxBytes: configuration.maxImageBytes,
                clock: configuration.polling.clock, maxRetries: configuration.polling.maxTransientFailures, writes: request.resultWrites)
            guard (200..<300).contains(got.status) else {
                throw ProviderError(.unavailable, "\(id): the image URL answered HTTP \(got.status)", httpStatus: got.status)
            }
            let sniffed = try await FileWork.run { () throws(ProviderError) -> String? in ImageProbe.magicFormat(fileAt: path)?.mimeType }
            let mime = sniffed ?? got.contentType.flatMap { OutputFormat(mimeType: $0)?.mimeType } ?? expected
            return (try await named(path, mime, index: index, request: request), mime, nil)
        }
    }

    /// Moves `path` to the name its MIME type calls for, when that differs.
    func named(_ path: String, _ mime: String, index: Int, request: GenerationRequest) async throws(ProviderError) -> String {
        let target = ImageFiles.path(
            scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: index,
            fileExtension: ImageFiles.fileExtension(forMIME: mime))
        guard target != path else { return path }
        try await FileWork.run { () throws(ProviderError) -> Void in
            guard Glibc.rename(path, target) == 0 else {
                unlink(path)
                throw ProviderError(.unavailable, "cannot rename the image file in the scratch directory")
            }
        }
        return target
    }

    public func verifyModels(_ upstreamIDs: [String]) async throws(ProviderError) -> [String: ModelVerification]? {
        try await checkModels(upstreamIDs)?.configured
    }

    /// `GET /v1/models` once: the configured ids, and the image models (``OpenAICodec/isImageModel(_:)``) the
    /// catalog lacks.
    public func checkModels(_ upstreamIDs: [String]) async throws(ProviderError) -> ModelListingCheck? {
        try await ifKeyed { (key) async throws(ProviderError) -> ModelListingCheck? in
            let listed = try OpenAICodec.decodeListModels(
                try await transport.send(
                    OpenAICodec.encodeListModels(baseURL: configuration.baseURL, apiKey: key, timeoutSeconds: 60), maxBodyBytes: 8 << 20))
            return ModelListingCheck.against(listing: listed, upstreamIDs: upstreamIDs, isImageModel: OpenAICodec.isImageModel)
        }
    }
}
