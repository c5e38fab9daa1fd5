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
/// - Redirects are followed by ``RedirectFollower``, never by the HTTP client: at most ``maxRedirects`` hops, each
///   one vetted and pinned again before it is requested, so no redirect leads to an address the policy refuses.
/// - A refusal is a `ProviderError` with code `invalid_request` and `upstreamCode` `"forbidden_address"`; its
///   message names the address, the range and the flags of the policy.
public final class EgressHTTPTransport: HTTPTransport {
    /// The policy and the resolver.
    public let addressGuard: AddressGuard
    /// The most redirects followed for one request.
    public let maxRedirects: Int
    private let clients: PinnedHTTPClients
    private let follower: RedirectFollower
    private let deadlines = ExchangeDeadlines()

    /// The `upstreamCode` of a refusal by the address policy.
    public static let forbiddenAddress = RedirectFollower.forbiddenAddress

    /// - Parameters:
    ///   - addressGuard: the policy every hop must pass.
    ///   - maxRedirects: redirects followed per request (5, as browsers and AsyncHTTPClient's default do).
    public init(addressGuard: AddressGuard, maxRedirects: Int = 5) {
        self.addressGuard = addressGuard
        self.maxRedirects = max(0, maxRedirects)
        let clients = PinnedHTTPClients { config in
            config.timeout = .init(connect: .seconds(10), read: .seconds(300))
            config.connectionPool = .init(idleTimeout: .seconds(60))
            config.connectionPool.retryConnectionEstablishment = false
        }
        self.clients = clients
        self.follower = RedirectFollower(addressGuard: addressGuard, clients: clients, maxRedirects: self.maxRedirects, unvettedFirstHop: nil)
    }

    /// Releases connections.
    public func shutdown() async { await clients.shutdown() }

    public func send(_ request: HTTPRequest, maxBodyBytes: Int) async throws(ProviderError) -> HTTPResponse {
        let deadline = NIODeadline.now() + .milliseconds(Int64(request.timeoutSeconds * 1000))
        do {
            // The whole exchange within the timeout, body included: a reference server that stalls or trickles its
            // body would otherwise hold the job (and its provider slot) until the read timeout, or for ever.
            return try await deadlines.run(request) { [follower] in
                let (resp, url) = try await follower.execute(request, deadline: deadline)
                return try await AsyncHTTPTransport.response(resp, maxBodyBytes: maxBodyBytes, url: url)
            }
        } catch let e as ProviderError {
            throw e
        } catch {
            throw AsyncHTTPTransport.classify(error, url: request.url)
        }
    }

    public func download(
        _ request: HTTPRequest, to path: String, maxBytes: Int
    ) async throws(ProviderError) -> (
        status: Int, bytes: Int, contentType: String?
    ) {
        let deadline = NIODeadline.now() + .milliseconds(Int64(request.timeoutSeconds * 1000))
        do {
            let (resp, url) = try await follower.execute(request, deadline: deadline)
            return try await AsyncHTTPTransport.download(resp, to: path, maxBytes: maxBytes, url: url)
        } catch let e as ProviderError {
            throw e
        } catch {
            throw AsyncHTTPTransport.classify(error, url: request.url)
        }
    }
}
