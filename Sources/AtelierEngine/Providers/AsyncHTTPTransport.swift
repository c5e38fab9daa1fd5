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
            let resp = try await execute(request)
            let body = try await resp.body.collect(upTo: maxBodyBytes)
            return HTTPResponse(
                status: Int(resp.status.code), headers: resp.headers.map { ($0.name, $0.value) }, body: Array(buffer: body))
        } catch let e as ProviderError {
            throw e
        } catch {
            throw Self.classify(error, url: request.url)
        }
    }

    public func download(_ request: HTTPRequest, to path: String, maxBytes: Int) async throws(ProviderError) -> (
        status: Int, bytes: Int, contentType: String?
    ) {
        do {
            let resp = try await execute(request)
            let status = Int(resp.status.code)
            guard (200..<300).contains(status) else {
                let excerpt = try await resp.body.collect(upTo: 4096)
                throw ProviderError(
                    status == 404 || status == 403 || status == 410 ? .badUpstream : .unavailable,
                    "download from \(URLCheck.redacted(request.url)) answered \(status): \(String(buffer: excerpt).prefix(200))",
                    httpStatus: status)
            }
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ProviderError(.unavailable, "cannot create \(path)")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            var total = 0
            for try await chunk in resp.body {
                total += chunk.readableBytes
                if total > maxBytes { throw ProviderError(.badUpstream, "download from \(URLCheck.redacted(request.url)) exceeds \(maxBytes) bytes") }
                try handle.write(contentsOf: Data(buffer: chunk, byteTransferStrategy: .noCopy))
            }
            return (status, total, resp.headers.first(name: "content-type"))
        } catch let e as ProviderError {
            throw e
        } catch {
            throw Self.classify(error, url: request.url)
        }
    }
}

extension HTTPClientError {
    var shortDescription: String { String(describing: self).prefix(120).description }
}
