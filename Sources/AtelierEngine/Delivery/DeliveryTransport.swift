import AsyncHTTPClient
import AtelierCore
import AtelierProviders
import Foundation
import NIOCore

/// One HTTP attempt of a delivery.
public struct DeliveryRequest: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Streamed from the file; `length` is sent as Content-Length.
        case file(path: String, length: Int64)
    }
    public var method: String
    /// The full URL (may carry a presigned query: never put it in logs or errors).
    public var url: String
    public var headers: [(String, String)]
    public var body: Body
    /// The attempt's limit, connect to last byte.
    public var timeoutSeconds: Double
    /// The most response-body bytes read.
    public var maxResponseBytes: Int

    public init(method: String, url: String, headers: [(String, String)], body: Body, timeoutSeconds: Double, maxResponseBytes: Int) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutSeconds = timeoutSeconds
        self.maxResponseBytes = maxResponseBytes
    }
}

/// Makes delivery attempts. The daemon's is ``HTTPDeliveryTransport``; tests script one.
public protocol DeliveryTransport: Sendable {
    /// Sends `request` to `target` (already vetted by the address policy) and reports what happened. Never throws:
    /// every failure is an ``AttemptResult``.
    func send(_ request: DeliveryRequest, target: VettedTarget) async -> AttemptResult
    /// Releases connections.
    func shutdown() async
}

/// Delivery over AsyncHTTPClient: redirects are never followed, connection failures fail the attempt at once
/// (no silent re-connecting until the deadline), each attempt has its own deadline, response bodies are read up
/// to a cap, and connections to host names go to the address the policy checked (pinned with AHC's DNS override,
/// which keeps the Host header and TLS name of the URL).
public final class HTTPDeliveryTransport: DeliveryTransport {
    private let clients: PinnedHTTPClients
    /// Each attempt's timeout over the whole exchange (``ExchangeDeadlines``).
    private let deadlines = ExchangeDeadlines()

    /// - Parameter perHostConcurrency: connections kept per host (match the worker's per-host limit).
    public init(perHostConcurrency: Int) {
        let perHost = max(1, perHostConcurrency)
        self.clients = PinnedHTTPClients { config in
            config.timeout = .init(connect: .seconds(10), read: nil)
            config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: perHost)
            config.connectionPool.retryConnectionEstablishment = false
            config.decompression = .disabled
            config.httpVersion = .http1Only
        }
    }

    /// Shuts every client down.
    public func shutdown() async {
        await clients.shutdown()
    }

    public func send(_ request: DeliveryRequest, target: VettedTarget) async -> AttemptResult {
        var req = HTTPClientRequest(url: request.url)
        req.method = .init(rawValue: request.method)
        for (k, v) in request.headers { req.headers.add(name: k, value: v) }
        switch request.body {
        case .bytes(let b):
            req.body = .bytes(b)
        case .file(let path, let length):
            req.body = .stream(FileChunks(path: path), length: .known(length))
        }
        let client = clients.client(for: target)
        do {
            // The attempt's timeout covers the receiver's whole answer, body included (AsyncHTTPClient's deadline
            // ends at the head, and these clients have no read timeout): a receiver that stalls after its head would
            // otherwise hold the attempt, and a delivery slot for its host, for ever.
            return try await deadlines.run(timeoutSeconds: request.timeoutSeconds, url: request.url) { [req] in
                let resp = try await client.execute(req, deadline: .now() + .milliseconds(Int64(request.timeoutSeconds * 1000)))
                var collected: [UInt8] = []
                for try await chunk in resp.body {
                    let room = request.maxResponseBytes - collected.count
                    if room <= 0 { break }
                    collected.append(contentsOf: chunk.readableBytesView.prefix(room))
                }
                return .http(status: Int(resp.status.code), excerpt: Self.excerpt(collected, url: request.url))
            }
        } catch {
            return .failure(Self.classify(error, host: target.host))
        }
    }

    static func classify(_ error: any Error, host: String) -> TransportFailure {
        if let e = error as? ProviderError, e.code == .timeout { return .timeout }
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout:
                return .timeout
            case .remoteConnectionClosed:
                return .network("\(host) closed the connection before answering")
            case .cancelled:
                return .network("the attempt was cancelled")
            default:
                return .network("request to \(host) failed: \(String(describing: e).prefix(120))")
            }
        }
        if error is FileChunks.ReadError { return .unusable("the stored image cannot be read") }
        let text = String(describing: error)
        let lower = text.lowercased()
        if lower.contains("refused") { return .network("\(host) refused the connection") }
        if lower.contains("reset") { return .network("\(host) reset the connection") }
        if lower.contains("timed out") || lower.contains("timeout") { return .timeout }
        return .network("request to \(host) failed: \(String(describing: type(of: error))): \(text.prefix(120))")
    }

    /// The start of a response body, made safe to store and show: S3-style XML errors become `Code: Message`;
    /// anything else is cut to 300 characters; values of the URL's query (presigned signatures) are scrubbed.
    static func excerpt(_ bytes: [UInt8], url: String) -> String {
        guard !bytes.isEmpty else { return "" }
        let text = String(decoding: bytes.prefix(16 << 10), as: UTF8.self)
        var out: String
        if let code = xmlValue(text, "Code") {
            out = code
            if let m = xmlValue(text, "Message") { out += ": " + m }
        } else {
            out = text.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
            if out.count > 300 { out = String(out.prefix(300)) + "…" }
        }
        if let items = URLComponents(string: url)?.queryItems {
            for v in items.compactMap(\.value) where v.count >= 6 { out = out.replacingOccurrences(of: v, with: "…") }
        }
        return out
    }

    private static func xmlValue(_ text: String, _ tag: String) -> String? {
        guard let a = text.range(of: "<\(tag)>"), let b = text.range(of: "</\(tag)>", range: a.upperBound..<text.endIndex) else { return nil }
        return String(text[a.upperBound..<b.lowerBound].prefix(300))
    }
}

/// A file as a stream of 64 KiB buffers (the PUT body of an upload). Opening and reading run on NIO's thread pool,
/// never on a Swift concurrency thread.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String

    struct ReadError: Error {}

    struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        var handle: FileHandle?
        var done = false

        mutating func next() async throws -> ByteBuffer? {
            if done { return nil }
            if handle == nil {
                let path = self.path
                do {
                    handle = try await BlockingWork.run { () throws -> FileHandle in
                        guard let h = FileHandle(forReadingAtPath: path) else { throw ReadError() }
                        return h
                    }
                } catch { throw ReadError() }
            }
            let h = handle!
            let chunk: Data
            do { chunk = try await BlockingWork.run { try h.read(upToCount: 64 << 10) ?? Data() } } catch { throw ReadError() }
            if chunk.isEmpty {
                try? handle?.close()
                handle = nil
                done = true
                return nil
            }
            return ByteBuffer(bytes: chunk)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path) }
}
