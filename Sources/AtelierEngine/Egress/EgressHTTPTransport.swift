import AsyncHTTPClient
import AtelierCore
import AtelierProviders
import Foundation
import NIOCore
import NIOFoundationCompat

/// An ``HTTPTransport`` that obeys the ``AddressPolicy``: the daemon's transport for reference images given as
/// `http(s)` URLs (the caller chooses those URLs, so they must not reach what the operator has denied).
///
/// - Every URL is vetted by the ``AddressGuard`` at resolution time, and the connection goes to the address that
///   was vetted (``PinnedHTTPClients``), so a second DNS answer cannot swap in another address.
/// - Redirects are followed here, never by the HTTP client: at most ``maxRedirects`` hops, each one vetted and
///   pinned again before it is requested, so no redirect leads to an address the policy refuses. Headers other
///   than `Accept`, `Content-Type` and `User-Agent` are dropped when a redirect changes the origin.
/// - A refusal is a `ProviderError` with code `invalid_request` and `upstreamCode` `"forbidden_address"`; its
///   message names the address, the range and the flags of the policy.
///
/// Redirect-following is written here rather than left to AsyncHTTPClient because AsyncHTTPClient has no hook
/// that runs before it connects to a redirect's target.
public final class EgressHTTPTransport: HTTPTransport {
    /// The policy and the resolver.
    public let addressGuard: AddressGuard
    /// The most redirects followed for one request.
    public let maxRedirects: Int
    private let clients: PinnedHTTPClients

    /// The `upstreamCode` of a refusal by the address policy.
    public static let forbiddenAddress = "forbidden_address"

    /// - Parameters:
    ///   - addressGuard: the policy every hop must pass.
    ///   - maxRedirects: redirects followed per request (5, as browsers and AsyncHTTPClient's default do).
    public init(addressGuard: AddressGuard, maxRedirects: Int = 5) {
        self.addressGuard = addressGuard
        self.maxRedirects = max(0, maxRedirects)
        self.clients = PinnedHTTPClients { config in
            config.timeout = .init(connect: .seconds(10), read: .seconds(300))
            config.connectionPool = .init(idleTimeout: .seconds(60))
            config.connectionPool.retryConnectionEstablishment = false
        }
    }

    /// Releases connections.
    public func shutdown() async { await clients.shutdown() }

    public func send(_ request: HTTPRequest, maxBodyBytes: Int) async throws(ProviderError) -> HTTPResponse {
        let deadline = NIODeadline.now() + .milliseconds(Int64(request.timeoutSeconds * 1000))
        do {
            let (resp, _) = try await execute(request, deadline: deadline)
            let body = try await resp.body.collect(upTo: maxBodyBytes)
            return HTTPResponse(status: Int(resp.status.code), headers: resp.headers.map { ($0.name, $0.value) }, body: Array(buffer: body))
        } catch let e as ProviderError {
            throw e
        } catch {
            throw AsyncHTTPTransport.classify(error, url: request.url)
        }
    }

    public func download(_ request: HTTPRequest, to path: String, maxBytes: Int) async throws(ProviderError) -> (
        status: Int, bytes: Int, contentType: String?
    ) {
        let deadline = NIODeadline.now() + .milliseconds(Int64(request.timeoutSeconds * 1000))
        do {
            let (resp, url) = try await execute(request, deadline: deadline)
            let status = Int(resp.status.code)
            guard (200..<300).contains(status) else {
                let excerpt = try await resp.body.collect(upTo: 4096)
                throw ProviderError(
                    status == 404 || status == 403 || status == 410 ? .badUpstream : .unavailable,
                    "download from \(URLCheck.redacted(url)) answered \(status): \(String(buffer: excerpt).prefix(200))", httpStatus: status)
            }
            // Collected first (bounded by maxBytes), then written at once: reference images are small.
            let body = try await resp.body.collect(upTo: maxBytes)
            guard FileManager.default.createFile(atPath: path, contents: Data(buffer: body)) else {
                throw ProviderError(.unavailable, "cannot create \(path)")
            }
            return (status, body.readableBytes, resp.headers.first(name: "content-type"))
        } catch let e as ProviderError {
            throw e
        } catch {
            throw AsyncHTTPTransport.classify(error, url: request.url)
        }
    }

    /// Sends `request`, following redirects hop by hop with each target vetted; returns the final response and
    /// its URL.
    private func execute(_ request: HTTPRequest, deadline: NIODeadline) async throws -> (HTTPClientResponse, String) {
        var url = request.url
        var method = request.method
        var body = request.body
        var headers = request.headers
        var hops = 0
        while true {
            let target = try await vet(url)
            var req = HTTPClientRequest(url: url)
            req.method = .init(rawValue: method)
            for (k, v) in headers { req.headers.add(name: k, value: v) }
            if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
            let resp = try await clients.client(for: target).execute(req, deadline: deadline)
            let status = Int(resp.status.code)
            guard [301, 302, 303, 307, 308].contains(status), let location = resp.headers.first(name: "location") else {
                return (resp, url)
            }
            // The redirect's own body is not wanted; read a little of it so the connection can be reused.
            _ = try? await resp.body.collect(upTo: 64 << 10)
            hops += 1
            guard hops <= maxRedirects else {
                throw ProviderError(.badUpstream, "\(URLCheck.redacted(request.url)) redirected more than \(maxRedirects) times")
            }
            guard let next = URL(string: location, relativeTo: URL(string: url))?.absoluteURL.absoluteString else {
                throw ProviderError(.badUpstream, "\(URLCheck.redacted(url)) redirected to an unusable location")
            }
            if !Self.sameOrigin(url, next) {
                headers = headers.filter { ["accept", "content-type", "user-agent"].contains($0.0.lowercased()) }
            }
            if status == 303 || ((status == 301 || status == 302) && method == "POST") {
                method = "GET"
                body = nil
                headers = headers.filter { $0.0.lowercased() != "content-type" }
            }
            url = next
        }
    }

    /// The policy's verdict on one hop, as a provider error when refused.
    private func vet(_ url: String) async throws(ProviderError) -> VettedTarget {
        switch await addressGuard.vet(url, nowMs: Timestamp.now().milliseconds) {
        case .success(let t):
            return t
        case .failure(.forbiddenAddress(let m)):
            throw ProviderError(.invalidRequest, m, upstreamCode: Self.forbiddenAddress)
        case .failure(.unusable(let m)):
            throw ProviderError(.invalidRequest, m)
        case .failure(.network(let m)):
            throw ProviderError(.unavailable, m)
        case .failure(.timeout):
            throw ProviderError(.timeout, "resolving \(URLCheck.redacted(url)) timed out")
        }
    }

    static func sameOrigin(_ a: String, _ b: String) -> Bool {
        guard let x = URLComponents(string: a), let y = URLComponents(string: b) else { return false }
        return x.scheme?.lowercased() == y.scheme?.lowercased() && x.host?.lowercased() == y.host?.lowercased() && x.port == y.port
    }
}
