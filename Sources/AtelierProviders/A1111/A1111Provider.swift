import AtelierCore
import Foundation

/// A self-hosted AUTOMATIC1111 / Forge server: one synchronous call makes the whole batch.
public struct A1111Provider: NetworkProvider {
    /// A1111's defaults: the call blocks until the whole batch is rendered, so its deadline is long.
    public static let defaults = ProviderClientConfiguration(
        id: "a1111", baseURL: A1111Codec.defaultBaseURL, requestTimeoutSeconds: 900, maxResponseBytes: 256 << 20)

    public let client: NetworkClient
    public init(client: NetworkClient) { self.client = client }

    public func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        try await redactingKey { () async throws(ProviderError) -> [GeneratedImage] in
            let n = max(request.task.numberResults, 1)
            // The body streams through the lift: each image is decoded and hashed piece by piece as it arrives.
            let lift = A1111Codec.lift()
            var response = try await transport.send(
                A1111Codec.encode(
                    request, baseURL: configuration.baseURL, credentials: configuration.credentials,
                    timeoutSeconds: configuration.requestTimeoutSeconds), maxBodyBytes: configuration.maxResponseBytes, streamingInto: lift)
            let out = try A1111Codec.decode(&response, lifted: lift, expected: n)
            let sent = A1111Codec.sentParameters(request)
            var images: [GeneratedImage] = []
            do throws(ProviderError) {
                for (i, b64) in out.images.enumerated() {
                    // The server encodes in its configured samples format (PNG unless changed): name the file after the bytes.
                    let tmp = ImageFiles.path(
                        scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: i, fileExtension: "png")
                    let digest: ImageDigest
                    if let span = lift.span(marking: b64) {
                        let (decoded, sha256) = (span.image, span.sha256)
                        digest = try await request.resultWrites.perform { () throws(ProviderError) in
                            try await ImageFiles.write(decoded: decoded, sha256: sha256, to: tmp)
                        }
                    } else {
                        digest = try await request.resultWrites.perform { () throws(ProviderError) in
                            try await ImageFiles.writeBase64(text: b64, to: tmp)
                        }
                    }
                    let mime = digest.info?.mimeType ?? digest.magicMIME ?? "image/png"
                    var path = tmp
                    if mime != "image/png" {
                        path = ImageFiles.path(
                            scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: i,
                            fileExtension: ImageFiles.fileExtension(forMIME: mime))
                        let target = path
                        try await FileWork.run { () throws(ProviderError) -> Void in
                            guard rename(tmp, target) == 0 else {
                                unlink(tmp)
                                throw ProviderError(.unavailable, "cannot rename the image file in the scratch directory")
                            }
                        }
                    }
                    // Self-hosted: the catalog's figure (free unless the card prices it).
                    let cost = request.model.catalogCost(size: request.size, referenceImages: request.references.count)
                    images.append(
                        GeneratedImage(
                            path: path, mimeType: mime, seed: out.seeds[i], costUSD: cost.usd, sentParameters: sent, digest: digest,
                            costSource: cost.source))
                }
            } catch {
                await ImageFiles.discard(images)
                throw error
            }
            return images
        }
    }

    public func verifyModels(_ upstreamIDs: [String]) async throws(ProviderError) -> [String: ModelVerification]? {
        try await checkModels(upstreamIDs)?.configured
    }

    /// `GET /sdapi/v1/sd-models` once: the configured checkpoints (`current` is whatever is loaded, always present),
    /// and the installed checkpoints no card names — unless a card serves `current`, which covers any of them.
    public func checkModels(_ upstreamIDs: [String]) async throws(ProviderError) -> ModelListingCheck? {
        try await redactingKey { () async throws(ProviderError) -> ModelListingCheck? in
            let names = try A1111Codec.decodeListModels(
                try await transport.send(
                    A1111Codec.encodeListModels(baseURL: configuration.baseURL, credentials: configuration.credentials), maxBodyBytes: 4 << 20))
            var check = ModelListingCheck.against(listing: Array(names), upstreamIDs: upstreamIDs, isImageModel: { _ in true })
            if upstreamIDs.contains(A1111Codec.currentCheckpoint) {
                check.configured[A1111Codec.currentCheckpoint] = .present
                check.uncatalogued = []
            }
            return check
        }
    }
}
