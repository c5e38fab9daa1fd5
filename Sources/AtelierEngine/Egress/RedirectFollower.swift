import AsyncHTTPClient
import AtelierCore
import AtelierProviders
import Foundation
import NIOCore

/// Sends a request and follows its redirects itself, vetting each hop with the ``AddressGuard`` and connecting to
/// the vetted address (``PinnedHTTPClients``), so that no redirect reaches an address the policy refuses.
///
/// Written by hand because AsyncHTTPClient follows redirects without a hook before it connects to the new
/// target. At most `maxRedirects` hops; `303`, and `301`/`302` after a POST, continue as a GET without a body;
/// headers other than `Accept`, `Content-Type` and `User-Agent` are dropped when a hop changes the origin (they
/// may carry a provider key).
struct RedirectFollower: Sendable {
    /// The policy each vetted hop must pass.
    let addressGuard: AddressGuard
    /// Clients that never follow redirects, pinned to vetted addresses.
    let clients: PinnedHTTPClients
    /// The most redirects followed for one request.
    let maxRedirects: Int
    /// The client for the first hop when it is not vetted (the operator-configured provider host); nil vets the
    /// first hop too (caller-supplied URLs).
    let unvettedFirstHop: HTTPClient?

    /// The `upstreamCode` of a refusal by the address policy.
    static let forbiddenAddress = "forbidden_address"

    /// Sends `request`; returns the final (non-redirect) response and its URL.
    func execute(_ request: HTTPRequest, deadline: NIODeadline) async throws -> (HTTPClientResponse, String) {
        var url = request.url
        var method = request.method
        var body = request.body
        var headers = request.headers
        var hops = 0
        while true {
            let client: HTTPClient
            if hops == 0, let first = unvettedFirstHop {
                client = first
            } else {
                client = clients.client(for: try await vet(url))
            }
            var req = HTTPClientRequest(url: url)
            req.method = .init(rawValue: method)
            for (k, v) in headers { req.headers.add(name: k, value: v) }
            if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
            let resp = try await client.execute(req, deadline: deadline)
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
