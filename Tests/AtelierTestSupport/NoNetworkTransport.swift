import AtelierProviders

/// A transport for engines whose providers never touch the network: any use is an `unavailable` error.
public struct NoNetworkTransport: HTTPTransport {
    /// A transport that refuses every request.
    public init() {}

    /// Always throws `unavailable`.
    public func send(_ request: HTTPRequest, maxBodyBytes: Int) async throws(ProviderError) -> HTTPResponse {
        throw ProviderError(.unavailable, "no network in these tests")
    }

    /// Always throws `unavailable`.
    public func download(
        _ request: HTTPRequest, to path: String, maxBytes: Int
    ) async throws(ProviderError) -> (status: Int, bytes: Int, contentType: String?) {
        throw ProviderError(.unavailable, "no network in these tests")
    }
}
