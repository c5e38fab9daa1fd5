import AsyncHTTPClient
import AtelierCore
import AtelierProviders
import Foundation
import NIOCore
import NIOFoundationCompat

/// The daemon's provider ``HTTPTransport``: one shared AsyncHTTPClient (connection pooling, per-request deadlines,
/// streamed downloads). Failures map onto the provider taxonomy; secrets in headers or URLs never reach errors.
///
/// Redirects (BFL polling answers may redirect): with a `redirectGuard`, the first request goes to the URL as
/// given — the provider's operator-configured host, or a result URL from its authenticated answer — and every
/// redirect is vetted by the address policy and pinned before it is followed (``RedirectFollower``), so no
/// redirect reaches a refused address. Without one, AsyncHTTPClient follows up to 5 redirects itself (tests).
public final class AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient
    private let ownsClient: Bool
    private let follower: RedirectFollower?
    private let redirectClients: PinnedHTTPClients?
    /// The deadlines of whole exchanges, body included (AsyncHTTPClient's own ends with the head).
    private let deadlines = ExchangeDeadlines()

    /// Uses `client`, or a new one following up to 5 redirects; with `redirectGuard`, redirects are vetted.
    public init(client: HTTPClient? = nil, followRedirects: Bool = true, redirectGuard: AddressGuard? = nil) {
        let vetted = followRedirects && redirectGuard != nil
        let first: HTTPClient
        if let client {
            first = client
            self.ownsClient = false
        } else {
            var config = HTTPClient.Configuration()
            config.redirectConfiguration = followRedirects && !vetted ? .follow(max: 5, allowCycles: false) : .disallow
            config.timeout = .init(connect: .seconds(10), read: .seconds(300))
            config.connectionPool = .init(idleTimeout: .seconds(60))
            first = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            self.ownsClient = true
        }
        self.client = first
        if let redirectGuard, vetted {
            let clients = PinnedHTTPClients { config in
                config.timeout = .init(connect: .seconds(10), read: .seconds(300))
                config.connectionPool = .init(idleTimeout: .seconds(60))
            }
            self.redirectClients = clients
            self.follower = RedirectFollower(addressGuard: redirectGuard, clients: clients, maxRedirects: 5, unvettedFirstHop: first)
        } else {
            self.redirectClients = nil
            self.follower = nil
        }
    }

    /// Shuts the client down (when this transport created it).
    public func shutdown() async {
        if ownsClient { try? await client.shutdown() }
        await redirectClients?.shutdown()
    }

    private func execute(_ r: HTTPRequest) async throws -> HTTPClientResponse {
        if let follower {
            return try await follower.execute(r, deadline: .now() + .milliseconds(Int64(r.timeoutSeconds * 1000))).0
        }
        return try await client.execute(makeRequest(r), timeout: .milliseconds(Int64(r.timeoutSeconds * 1000)))
    }

    private func makeRequest(_ r: HTTPRequest) -> HTTPClientRequest {
        var req = HTTPClientRequest(url: r.url)
        req.method = .init(rawValue: r.method)
        for (k, v) in r.headers { req.headers.add(name: k, value: v) }
        if let body = r.body { req.body = .bytes(ByteBuffer(bytes: body)) }
        return req
    }

    static func classify(_ error: any Error, url: String) -> ProviderError {
        let where_ = URLCheck.redacted(url)
        if error is CancellationError { return ProviderError(.cancelled, "request to \(where_) was cancelled") }
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                return ProviderError(.timeout, "request to \(where_) timed out")
            case .cancelled:
                return ProviderError(.cancelled, "request to \(where_) was cancelled")
            default:
                return ProviderError(.unavailable, "request to \(where_) failed: \(e.shortDescription)")
            }
        }
        if error is NIOTooManyBytesError {
            return ProviderError(.badUpstream, "response from \(where_) is larger than allowed")
        }
        return ProviderError(.unavailable, "request to \(where_) failed: \(String(describing: type(of: error)))")
    }

    public func send(_ request: HTTPRequest, maxBodyBytes: Int) async throws(ProviderError) -> HTTPResponse {
        do {
            return try await deadlines.run(request) { [self] in
                try await Self.response(try await execute(request), maxBodyBytes: maxBodyBytes, url: request.url)
            }
        } catch let e as ProviderError {
            throw e
        } catch {
            throw Self.classify(error, url: request.url)
        }
    }

    public func send(
        _ request: HTTPRequest, maxBodyBytes: Int, streamingInto sink: some HTTPBodySink
    ) async throws(ProviderError) -> HTTPResponse {
        do {
            return try await deadlines.run(request) { [self] in
                try await Self.stream(try await execute(request), maxBodyBytes: maxBodyBytes, url: request.url, into: sink)
            }
        } catch let e as ProviderError {
            throw e
        } catch {
            throw Self.classify(error, url: request.url)
        }
    }

    public func download(
        _ request: HTTPRequest, to path: String, maxBytes: Int
    ) async throws(ProviderError) -> (
        status: Int, bytes: Int, contentType: String?
    ) {
        do {
            return try await Self.download(try await execute(request), to: path, maxBytes: maxBytes, url: request.url)
        } catch let e as ProviderError {
            throw e
        } catch {
            throw Self.classify(error, url: request.url)
        }
    }

    /// Reads `resp` into an ``HTTPResponse``: one copy, from NIO's receive buffers into the array the provider
    /// keeps (and may decode in place), sized from Content-Length when the server sends it. `url` (the URL that
    /// answered) is named, redacted, in errors.
    static func response(_ resp: HTTPClientResponse, maxBodyBytes: Int, url: String) async throws -> HTTPResponse {
        let tooLarge = ProviderError(.badUpstream, "response from \(URLCheck.redacted(url)) is larger than allowed")
        var body: [UInt8] = []
        if let length = resp.headers.first(name: "content-length").flatMap({ Int($0) }), length >= 0 {
            if length > maxBodyBytes { throw tooLarge }
            body.reserveCapacity(length)
        }
        for try await chunk in resp.body {
            if chunk.readableBytes > maxBodyBytes - body.count { throw tooLarge }
            chunk.withUnsafeReadableBytes { body.append(contentsOf: $0) }
        }
        return HTTPResponse(status: Int(resp.status.code), headers: resp.headers.map { ($0.name, $0.value) }, body: body)
    }

    /// Hands `resp`'s body to `sink` piece by piece, straight from NIO's receive buffers (no copy here), and returns
    /// the status and headers with an empty body.
    static func stream(_ resp: HTTPClientResponse, maxBodyBytes: Int, url: String, into sink: some HTTPBodySink) async throws -> HTTPResponse {
        let tooLarge = ProviderError(.badUpstream, "response from \(URLCheck.redacted(url)) is larger than allowed")
        let length = resp.headers.first(name: "content-length").flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil }
        if let length, length > maxBodyBytes { throw tooLarge }
        sink.begin(status: Int(resp.status.code), contentLength: length)
        var received = 0
        for try await chunk in resp.body {
            if chunk.readableBytes > maxBodyBytes - received { throw tooLarge }
            received += chunk.readableBytes
            try chunk.withUnsafeReadableBytes { (raw) throws(ProviderError) -> Void in try sink.consume(raw) }
        }
        return HTTPResponse(status: Int(resp.status.code), headers: resp.headers.map { ($0.name, $0.value) }, body: [])
    }

    /// Streams `resp`'s body into the file at `path` (at most `maxBytes`); the file is written on NIO's thread
    /// pool, 1 MiB at a time, never on the cooperative pool, and removed when the download fails. A non-2xx answer
    /// is an error naming `url` (redacted).
    static func download(
        _ resp: HTTPClientResponse, to path: String, maxBytes: Int, url: String
    ) async throws -> (status: Int, bytes: Int, contentType: String?) {
        let status = Int(resp.status.code)
        guard (200..<300).contains(status) else {
            let excerpt = try await resp.body.collect(upTo: 4096)
            throw ProviderError(
                status == 404 || status == 403 || status == 410 ? .badUpstream : .unavailable,
                "download from \(URLCheck.redacted(url)) answered \(status): \(String(buffer: excerpt).prefix(200))",
                httpStatus: status)
        }
        let file = try await DownloadFile.create(path)
        var total = 0
        var pending = ByteBuffer()
        do {
            for try await chunk in resp.body {
                total += chunk.readableBytes
                if total > maxBytes {
                    throw ProviderError(.badUpstream, "download from \(URLCheck.redacted(url)) exceeds \(maxBytes) bytes")
                }
                var c = chunk
                pending.writeBuffer(&c)
                if pending.readableBytes >= DownloadFile.flushBytes {
                    try await file.write(pending)
                    pending.clear()
                }
            }
            if pending.readableBytes > 0 { try await file.write(pending) }
            try await file.close()
        } catch {
            await file.discard()
            throw error
        }
        return (status, total, resp.headers.first(name: "content-type"))
    }
}

/// A file being downloaded into, written on NIO's thread pool.
final class DownloadFile: Sendable {
    /// Received bytes are gathered up to this size before one write.
    static let flushBytes = 1 << 20
    let fd: Int32
    let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// Creates or truncates `path` (mode 0600).
    static func create(_ path: String) async throws(ProviderError) -> DownloadFile {
        let fd = try await FileWork.run { () throws(ProviderError) -> Int32 in
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ProviderError(.storeFailure, "cannot create \(path) (errno \(errno))") }
            return fd
        }
        return DownloadFile(fd: fd, path: path)
    }

    /// Appends the readable bytes of `buffer`.
    func write(_ buffer: ByteBuffer) async throws(ProviderError) {
        let fd = self.fd
        try await FileWork.run { () throws(ProviderError) -> Void in
            try buffer.withUnsafeReadableBytes { (raw) throws(ProviderError) -> Void in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw ProviderError(.storeFailure, "cannot write the download (errno \(errno))")
                    }
                    offset += n
                }
            }
        }
    }

    /// Closes the file.
    func close() async throws(ProviderError) {
        let fd = self.fd
        try await FileWork.run { () throws(ProviderError) -> Void in
            if Glibc.close(fd) != 0 && errno != EINTR { throw ProviderError(.storeFailure, "cannot write the download (errno \(errno))") }
        }
    }

    /// Closes and removes the file (after a failure).
    func discard() async {
        let fd = self.fd, path = self.path
        _ = try? await FileWork.run { () throws(ProviderError) -> Void in
            Glibc.close(fd)
            unlink(path)
        }
    }
}

extension HTTPClientError {
    var shortDescription: String { String(describing: self).prefix(120).description }
}
