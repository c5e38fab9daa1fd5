import AtelierProviders

extension AsyncHTTPTransport {
    /// Runs `body` with a new transport and shuts the transport down when `body` returns or throws.
    ///
    /// AsyncHTTPClient requires every client to be shut down before it is released (debug builds stop the process
    /// otherwise), and a client left running keeps its connections open. Whoever creates a transport owns its
    /// shutdown; this scope makes that hold on every path, including a failed expectation in a test, where a
    /// transport captured by an engine's providers would otherwise be released unshut with the engine.
    /// - Parameters:
    ///   - followRedirects: whether redirects are followed (see ``init(client:followRedirects:redirectGuard:)``).
    ///   - redirectGuard: the address policy every redirect must pass, or nil.
    ///   - body: the work that uses the transport; it must not keep the transport beyond its return.
    public static func with<T>(
        followRedirects: Bool = true, redirectGuard: AddressGuard? = nil, isolation: isolated (any Actor)? = #isolation,
        _ body: (AsyncHTTPTransport) async throws -> T
    ) async throws -> T {
        let transport = AsyncHTTPTransport(followRedirects: followRedirects, redirectGuard: redirectGuard)
        let value: T
        do {
            value = try await body(transport)
        } catch {
            await transport.shutdown()
            throw error
        }
        await transport.shutdown()
        return value
    }
}
