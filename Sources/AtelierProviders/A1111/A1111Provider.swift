import AtelierCore
import Foundation

/// A self-hosted AUTOMATIC1111 / Forge server: one synchronous call makes the whole batch.
public struct A1111Provider: Provider {
    public let id: String
    let transport: any HTTPTransport
    let baseURL: String
    let credentials: Credentials?
    let requestTimeoutSeconds: Double
    let maxResponseBytes: Int

    /// - Parameter requestTimeoutSeconds: the call blocks until the batch is rendered: keep it long.
    public init(
        id: String = "a1111", transport: any HTTPTransport, baseURL: String = A1111Codec.defaultBaseURL, credentials: Credentials? = nil,
        requestTimeoutSeconds: Double = 900, maxResponseBytes: Int = 256 << 20
    ) {
        self.id = id
        self.transport = transport
        self.baseURL = baseURL
        self.credentials = credentials
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.maxResponseBytes = maxResponseBytes
    }

    /// A provider for a catalog entry (the call's deadline is the longer of the two configured timeouts).
    public init(config: ProviderConfig, credentials: Credentials?, transport: any HTTPTransport) {
        self.init(
            id: config.id, transport: transport, baseURL: config.baseURL ?? A1111Codec.defaultBaseURL, credentials: credentials,
            requestTimeoutSeconds: max(config.requestTimeoutSeconds, config.totalTimeoutSeconds))
    }

    public func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        try await redactingErrors(request.credentials) { () async throws(ProviderError) -> [GeneratedImage] in
            let n = max(request.task.numberResults, 1)
            let response = try await transport.send(A1111Codec.encode(request, timeoutSeconds: requestTimeoutSeconds), maxBodyBytes: maxResponseBytes)
            let out = try A1111Codec.decode(response, expected: n)
            let sent = A1111Codec.sentParameters(request)
            var images: [GeneratedImage] = []
            do throws(ProviderError) {
                for (i, b64) in out.images.enumerated() {
                    // The server encodes in its configured samples format (PNG unless changed): name the file after the bytes.
                    let tmp = ImageFiles.path(scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: i, fileExtension: "png")
                    let digest = try await ImageFiles.writeBase64(text: b64, to: tmp)
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
                    images.append(GeneratedImage(path: path, mimeType: mime, seed: out.seeds[i], costUSD: 0, sentParameters: sent, digest: digest))
                }
            } catch {
                ImageFiles.removeAll(images)
                throw error
            }
            return images
        }
    }

    public func verifyModels(_ upstreamIDs: [String]) async throws(ProviderError) -> [String: ModelVerification]? {
        try await redactingErrors(credentials) { () async throws(ProviderError) -> [String: ModelVerification]? in
            let names = try A1111Codec.decodeListModels(try await transport.send(A1111Codec.encodeListModels(baseURL: baseURL, credentials: credentials), maxBodyBytes: 4 << 20))
            var out: [String: ModelVerification] = [:]
            for id in upstreamIDs {
                out[id] = id == A1111Codec.currentCheckpoint || names.contains(id) ? .present : .missing
            }
            return out
        }
    }
}
