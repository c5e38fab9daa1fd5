import AtelierCore
import Foundation

/// Black Forest Labs FLUX: one submit per image, the handles recorded, then each `polling_url` polled and each
/// signed sample downloaded at once (without the key: the sample lives on blob storage).
public struct BFLProvider: NetworkProvider {
    /// BFL's defaults.
    public static let defaults = ProviderClientConfiguration(
        id: "bfl", baseURL: BFLCodec.defaultBaseURL, requestTimeoutSeconds: 60, totalTimeoutSeconds: 600,
        polling: .init(backoff: .bfl, maxTransientFailures: 5))

    public let client: NetworkClient
    public init(client: NetworkClient) { self.client = client }

    public func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        try await withKey { (key) async throws(ProviderError) -> [GeneratedImage] in
            var waiter = PollWaiter(configuration)
            var jobs: [BFLCodec.Job] = []
            for i in 0..<max(request.task.numberResults, 1) {
                if context.isCancelled { throw ProviderError(.cancelled, "cancelled while submitting to BFL") }
                // Image i uses seed + i (as everywhere in Atelier): the same seed n times would make n identical images.
                let response = try await transport.send(
                    BFLCodec.encodeSubmit(
                        Self.request(request, image: i), baseURL: configuration.baseURL, apiKey: key,
                        timeoutSeconds: configuration.requestTimeoutSeconds),
                    maxBodyBytes: 1 << 20)
                jobs.append(try BFLCodec.decodeSubmit(response, baseURL: configuration.baseURL))
                // Cumulative: after a crash every paid submit so far is resumed, none re-submitted.
                try await context.recordResumeHandle(BFLCodec.handle(jobs))
            }
            return try await run(jobs, request: request, key: key, waiter: &waiter, context: context)
        }
    }

    public func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        try await withKey { (key) async throws(ProviderError) -> [GeneratedImage] in
            guard let jobs = BFLCodec.jobs(fromHandle: handle) else {
                throw ProviderError(.badUpstream, "the recorded BFL handle cannot be read")
            }
            var waiter = PollWaiter(configuration)
            return try await run(jobs, request: request, key: key, waiter: &waiter, context: context)
        }
    }

    /// Polls every job until each is Ready (downloading its sample at once) or one fails.
    func run(
        _ jobs: [BFLCodec.Job], request: GenerationRequest, key: String, waiter: inout PollWaiter, context: GenerationContext
    ) async throws(ProviderError) -> [GeneratedImage] {
        var images: [GeneratedImage?] = Array(repeating: nil, count: jobs.count)
        var transient = Array(repeating: 0, count: jobs.count)
        do throws(ProviderError) {
            while images.contains(where: { $0 == nil }) {
                try await waiter.wait(context: context, what: "BFL generation")
                for (i, job) in jobs.enumerated() where images[i] == nil {
                    let status: BFLCodec.PollStatus
                    do throws(ProviderError) {
                        let response = try await transport.send(
                            BFLCodec.encodePoll(job, apiKey: key, timeoutSeconds: configuration.requestTimeoutSeconds), maxBodyBytes: 1 << 20)
                        status = try BFLCodec.decodePoll(response)
                        transient[i] = 0
                    } catch  where isTransient(error) && transient[i] < configuration.polling.maxTransientFailures {
                        transient[i] += 1
                        continue
                    }
                    guard case .ready(let sample, let seed) = status else { continue }
                    let path = ImageFiles.path(
                        scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: i,
                        fileExtension: request.task.outputFormat.fileExtension)
                    let mime = try await fetch(sample, to: path, writes: request.resultWrites) ?? request.task.outputFormat.mimeType
                    let one = Self.request(request, image: i)
                    // BFL's `cost` (credits) when the submit answered one, else the catalog's figure.
                    let cost =
                        job.costUSD.map { CostFigure(usd: $0, source: .provider) }
                        ?? request.model.catalogCost(size: request.size, referenceImages: request.references.count)
                    images[i] = GeneratedImage(
                        path: path, mimeType: mime, seed: seed ?? one.seed, costUSD: cost.usd, sentParameters: BFLCodec.sentParameters(one),
                        costSource: cost.source)
                }
            }
        } catch {
            await ImageFiles.discard(images.compactMap { $0 })
            throw error
        }
        return images.compactMap { $0 }
    }

    /// Transport trouble and 429/5xx while polling are retried within the deadline: the image is already paid for.
    func isTransient(_ e: ProviderError) -> Bool {
        switch e.code {
        case .rateLimited, .timeout, .badUpstream: return true
        case .unavailable: return e.upstreamCode == nil  // not a terminal "Error"/"Task not found" status
        default: return false
        }
    }

    /// The request for image `i` of a batch: its seed is the task's seed + i.
    static func request(_ r: GenerationRequest, image i: Int) -> GenerationRequest {
        guard i > 0 else { return r }
        var one = r
        one.seed = r.seed.map { $0 &+ Int64(i) }
        return one
    }

    /// Downloads the signed sample without any credentials (transient failures retried: the image is paid for).
    /// Returns the MIME type reported, if it is ours.
    func fetch(_ url: String, to path: String, writes: ResultWrites) async throws(ProviderError) -> String? {
        let got = try await Downloads.fetch(
            transport, url: url, to: path, timeoutSeconds: configuration.requestTimeoutSeconds, maxBytes: configuration.maxImageBytes,
            clock: configuration.polling.clock,
            maxRetries: configuration.polling.maxTransientFailures, writes: writes)
        guard (200..<300).contains(got.status) else {
            await ImageFiles.discard(path: path)
            throw ProviderError(
                .unavailable, "downloading the BFL sample from \(URLCheck.redacted(url)) failed with HTTP \(got.status)", httpStatus: got.status)
        }
        guard got.bytes > 0 else { throw ProviderError(.noImage, "BFL's sample file was empty") }
        guard let ct = got.contentType else { return nil }
        return OutputFormat(mimeType: ct.split(separator: ";")[0].trimmingCharacters(in: .whitespaces))?.mimeType
    }
}
