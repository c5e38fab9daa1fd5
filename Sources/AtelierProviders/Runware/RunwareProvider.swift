import AtelierCore
import Foundation

/// Runware's task API, asynchronously: submit with `deliveryMethod: "async"`, record the taskUUID, poll
/// `getResponse`, then download each image URL into the scratch directory.
public struct RunwareProvider: NetworkProvider {
    /// Runware's defaults.
    public static let defaults = ProviderClientConfiguration(
        id: "runware", baseURL: RunwareCodec.defaultBaseURL, requestTimeoutSeconds: 60, totalTimeoutSeconds: 900,
        polling: .init(backoff: .runware, maxTransientFailures: 5))

    public let client: NetworkClient
    public init(client: NetworkClient) { self.client = client }

    public func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        try await withKey { (key) async throws(ProviderError) -> [GeneratedImage] in
            let taskUUID = request.attemptKey
            // The handle is known before submitting: record it first, so a crash at any later point resumes by
            // polling and never pays twice. A resume of a task that never reached Runware ends in "not found".
            try await context.recordResumeHandle(taskUUID)
            var waiter = PollWaiter(configuration)
            let n = max(request.task.numberResults, 1)
            var state: RunwareCodec.PollState
            do throws(ProviderError) {
                let response = try await transport.send(
                    RunwareCodec.encodeSubmit(
                        request, baseURL: configuration.baseURL, apiKey: key, timeoutSeconds: configuration.requestTimeoutSeconds),
                    maxBodyBytes: 4 << 20)
                state = try RunwareCodec.decode(response, taskUUID: taskUUID)
            } catch  where Self.submitMayHaveArrived(error) {
                // The submit may have arrived (and be charged) although its answer was lost: ask once before giving
                // up, so a slow or broken network does not pay twice.
                try await waiter.wait(context: context, what: "Runware task \(taskUUID)")
                do throws(ProviderError) {
                    let r = try await transport.send(
                        RunwareCodec.encodePoll(
                            baseURL: configuration.baseURL, taskUUID: taskUUID, apiKey: key, timeoutSeconds: configuration.requestTimeoutSeconds),
                        maxBodyBytes: 4 << 20)
                    state = try RunwareCodec.decode(r, taskUUID: taskUUID)
                } catch _ { throw error }
            }
            let results = try await poll(from: state, taskUUID: taskUUID, expected: n, request: request, key: key, waiter: &waiter, context: context)
            return try await download(results, request: request)
        }
    }

    public func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        try await withKey { (key) async throws(ProviderError) -> [GeneratedImage] in
            var waiter = PollWaiter(configuration)
            let initial = RunwareCodec.PollState(successes: [], processing: 0, alreadySubmitted: true)
            let results = try await poll(
                from: initial, taskUUID: handle, expected: max(request.task.numberResults, 1), request: request, key: key, waiter: &waiter,
                context: context, pollFirst: true)
            return try await download(results, request: request)
        }
    }

    /// Polls `getResponse` with backoff until `expected` images succeeded, any error appears, or the deadline passes.
    func poll(
        from initial: RunwareCodec.PollState, taskUUID: String, expected: Int, request: GenerationRequest, key: String,
        waiter: inout PollWaiter, context: GenerationContext, pollFirst: Bool = false
    ) async throws(ProviderError) -> [RunwareCodec.ResultItem] {
        var state = initial
        var transientFailures = 0
        var first = pollFirst
        while !state.isDone(expected: expected) {
            if first {
                first = false
                if context.isCancelled { throw ProviderError(.cancelled, "cancelled before polling Runware") }
            } else {
                try await waiter.wait(context: context, what: "Runware task \(taskUUID)")
            }
            let response: HTTPResponse
            do {
                response = try await transport.send(
                    RunwareCodec.encodePoll(
                        baseURL: configuration.baseURL, taskUUID: taskUUID, apiKey: key, timeoutSeconds: configuration.requestTimeoutSeconds),
                    maxBodyBytes: 4 << 20)
            } catch {
                guard error.retryable, transientFailures < configuration.polling.maxTransientFailures else { throw error }
                transientFailures += 1
                continue
            }
            if response.status == 429 || response.status >= 500 {
                transientFailures += 1
                if transientFailures > configuration.polling.maxTransientFailures { throw RunwareCodec.pollFailure(response, taskUUID: taskUUID) }
                continue
            }
            do throws(ProviderError) {
                let next = try RunwareCodec.decode(response, taskUUID: taskUUID)
                transientFailures = 0
                // getResponse returns the complete state each time; merging keeps any earlier success.
                state.successes = mergeSuccesses(state.successes, next.successes)
                state.processing = next.processing
            } catch  where error.code == .badUpstream && transientFailures < configuration.polling.maxTransientFailures {
                transientFailures += 1
            }
        }
        return Array(state.successes.prefix(expected))
    }

    func mergeSuccesses(_ a: [RunwareCodec.ResultItem], _ b: [RunwareCodec.ResultItem]) -> [RunwareCodec.ResultItem] {
        var out = a
        for r in b
        where !out.contains(where: { ($0.imageUUID != nil && $0.imageUUID == r.imageUUID) || ($0.imageUUID == nil && $0.imageURL == r.imageURL) }) {
            out.append(r)
        }
        return out
    }

    /// Writes each finished image to `<scratch>/<attemptKey>-<i>.<ext>`.
    func download(_ results: [RunwareCodec.ResultItem], request: GenerationRequest) async throws(ProviderError) -> [GeneratedImage] {
        let format = request.task.outputFormat
        let sent = RunwareCodec.sentParameters(request)
        var images: [GeneratedImage] = []
        do throws(ProviderError) {
            for (i, r) in results.enumerated() {
                let path = ImageFiles.path(
                    scratchDirectory: request.scratchDirectory, attemptKey: request.attemptKey, index: i, fileExtension: format.fileExtension)
                var mime = format.mimeType
                var digest: ImageDigest?
                if let b64 = r.base64 {
                    digest = try await request.resultWrites.perform { () throws(ProviderError) in
                        try await ImageFiles.writeBase64(text: b64, to: path)
                    }
                } else if let url = r.imageURL {
                    let got = try await Downloads.fetch(
                        transport, url: url, to: path, timeoutSeconds: configuration.requestTimeoutSeconds, maxBytes: configuration.maxImageBytes,
                        clock: configuration.polling.clock,
                        maxRetries: configuration.polling.maxTransientFailures, writes: request.resultWrites)
                    guard (200..<300).contains(got.status) else {
                        await ImageFiles.discard(path: path)
                        throw ProviderError(.unavailable, "downloading a Runware image failed with HTTP \(got.status)", httpStatus: got.status)
                    }
                    guard got.bytes > 0 else { throw ProviderError(.noImage, "Runware's image file was empty") }
                    if let ct = got.contentType, let f = OutputFormat(mimeType: ct.split(separator: ";")[0].trimmingCharacters(in: .whitespaces)) {
                        mime = f.mimeType
                    }
                }
                let seed = r.seed ?? (results.count == 1 ? request.seed : nil)
                // Runware's `cost` (includeCost) when it answered one, else the catalog's figure.
                let cost =
                    r.costUSD.map { CostFigure(usd: $0, source: .provider) }
                    ?? request.model.catalogCost(size: request.size, referenceImages: request.references.count)
                images.append(
                    GeneratedImage(
                        path: path, mimeType: mime, seed: seed, costUSD: cost.usd, sentParameters: sent, digest: digest, costSource: cost.source))
            }
        } catch {
            await ImageFiles.discard(images)
            throw error
        }
        return images
    }

    public func verifyModels(_ upstreamIDs: [String]) async throws(ProviderError) -> [String: ModelVerification]? {
        try await ifKeyed { (key) async throws(ProviderError) -> [String: ModelVerification]? in
            var out: [String: ModelVerification] = [:]
            var start = 0
            while start < upstreamIDs.count {
                let batch = Array(upstreamIDs[start..<min(start + 10, upstreamIDs.count)])
                start += 10
                let (req, byTask) = RunwareCodec.encodeModelSearch(
                    baseURL: configuration.baseURL, airs: batch, apiKey: key, timeoutSeconds: configuration.requestTimeoutSeconds)
                let response = try await transport.send(req, maxBodyBytes: 8 << 20)
                out.merge(try RunwareCodec.decodeModelSearch(response, byTask: byTask)) { a, _ in a }
            }
            return out
        }
    }
}

extension RunwareProvider {
    /// Whether a failed submit may nevertheless have reached Runware: a transport timeout or failure without an
    /// HTTP status (e.g. the connection reset while the answer was read), or a 2xx answer that could not be read.
    static func submitMayHaveArrived(_ e: ProviderError) -> Bool {
        switch e.code {
        case .timeout, .unavailable: return e.httpStatus == nil
        case .badUpstream: return e.httpStatus.map { (200..<300).contains($0) } ?? true
        default: return false
        }
    }
}

extension RunwareCodec {
    /// The error for a poll answer with a failing HTTP status.
    static func pollFailure(_ response: HTTPResponse, taskUUID: String) -> ProviderError {
        do throws(ProviderError) {
            _ = try decode(response, taskUUID: taskUUID)
            return ProviderError(.unavailable, "Runware polling kept failing (HTTP \(response.status))", httpStatus: response.status)
        } catch { return error }
    }
}
