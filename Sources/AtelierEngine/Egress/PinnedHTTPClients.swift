import AsyncHTTPClient
import AtelierCore
import Synchronization

/// AsyncHTTPClient instances that connect to the address the ``AddressGuard`` vetted.
///
/// A URL that names an address is connected to as written (one shared client). A URL that names a host gets a
/// client whose DNS override maps that host to the vetted address: the Host header and the TLS server name stay
/// the URL's, but a second resolution (DNS rebinding) cannot swap in another address. No client follows
/// redirects; callers follow them themselves and vet every hop. Clients idle for two minutes are dropped once
/// more than 256 are kept.
final class PinnedHTTPClients: Sendable {
    private struct Entry {
        var client: HTTPClient
        var lastUsedMs: Int64
    }
    private let configure: @Sendable (inout HTTPClient.Configuration) -> Void
    private let base: HTTPClient
    private let pinned = Mutex<[String: Entry]>([:])

    /// - Parameter configure: settings shared by every client (timeouts, pool); redirects are always disallowed.
    init(configure: @escaping @Sendable (inout HTTPClient.Configuration) -> Void) {
        self.configure = configure
        self.base = Self.make(configure, dnsOverride: [:])
    }

    private static func make(_ configure: (inout HTTPClient.Configuration) -> Void, dnsOverride: [String: String]) -> HTTPClient {
        var config = HTTPClient.Configuration()
        configure(&config)
        config.redirectConfiguration = .disallow
        config.dnsOverride = dnsOverride
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// The client that connects to `target`.
    func client(for target: VettedTarget) -> HTTPClient {
        guard let ip = target.pinnedAddress else { return base }
        let key = target.host.lowercased() + "|" + ip.description
        let now = Timestamp.now().milliseconds
        let (client, evicted) = pinned.withLock { p -> (HTTPClient, [HTTPClient]) in
            if var e = p[key] {
                e.lastUsedMs = now
                p[key] = e
                return (e.client, [])
            }
            var evicted: [HTTPClient] = []
            if p.count >= 256 {
                for (k, v) in p where now - v.lastUsedMs > 120_000 {
                    evicted.append(v.client)
                    p[k] = nil
                }
            }
            let c = Self.make(configure, dnsOverride: [target.host: ip.description])
            p[key] = Entry(client: c, lastUsedMs: now)
            return (c, evicted)
        }
        for c in evicted { Task { try? await c.shutdown() } }
        return client
    }

    /// Shuts every client down.
    func shutdown() async {
        let all = pinned.withLock { p -> [HTTPClient] in
            defer { p.removeAll() }
            return p.values.map(\.client)
        }
        for c in all { try? await c.shutdown() }
        try? await base.shutdown()
    }
}
