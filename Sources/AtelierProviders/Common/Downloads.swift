import AtelierCore

/// Image downloads of the asynchronous providers (Runware image URLs, BFL signed samples).
enum Downloads {
    /// Downloads `url` into `path` without credentials, retrying transient failures — a connection reset or timeout,
    /// 429, 5xx — up to `maxRetries` times with a short pause (0.5 s, 1 s, …). The image is already paid for:
    /// giving up here would make the engine submit (and pay) again, while the URL stays valid for minutes.
    /// Returns the last answer; an expired or refused URL (403/404/410) is not retried. A failure to write the file
    /// (`store_failure`: the daemon's disk is full) goes to `writes`, which downloads again once the disk takes it.
    static func fetch(
        _ transport: any HTTPTransport, url: String, to path: String, timeoutSeconds: Double, maxBytes: Int, clock: AtelierClock, maxRetries: Int,
        writes: ResultWrites
    ) async throws(ProviderError) -> (status: Int, bytes: Int, contentType: String?) {
        try await writes.perform { () throws(ProviderError) in
            try await fetchRetrying(
                transport, url: url, to: path, timeoutSeconds: timeoutSeconds, maxBytes: maxBytes, clock: clock, maxRetries: maxRetries)
        }
    }

    /// ``fetch(_:url:to:timeoutSeconds:maxBytes:clock:maxRetries:writes:)`` with its transient retries, once.
    static func fetchRetrying(
        _ transport: any HTTPTransport, url: String, to path: String, timeoutSeconds: Double, maxBytes: Int, clock: AtelierClock, maxRetries: Int
    ) async throws(ProviderError) -> (status: Int, bytes: Int, contentType: String?) {
        var failures = 0
        while true {
            let retryable: Bool
            do {
                let got = try await transport.download(
                    HTTPRequest(method: "GET", url: url, timeoutSeconds: timeoutSeconds), to: path, maxBytes: maxBytes)
                if (200..<300).contains(got.status) || !isTransient(status: got.status) || failures >= maxRetries { return got }
                retryable = true
            } catch {
                guard isTransient(error), failures < maxRetries else { throw error }
                retryable = true
            }
            if retryable {
                failures += 1
                do { try await clock.sleep(for: .milliseconds(500 * failures)) } catch {
                    throw ProviderError(.cancelled, "cancelled while downloading an image")
                }
            }
        }
    }

    static func isTransient(status: Int) -> Bool { status == 429 || status == 408 || status >= 500 }

    static func isTransient(_ e: ProviderError) -> Bool {
        switch e.code {
        case .unavailable, .timeout, .rateLimited: return e.httpStatus.map(isTransient(status:)) ?? true
        default: return false
        }
    }
}
