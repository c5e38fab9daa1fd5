import AtelierCore

/// What every network provider client holds: how it reaches its upstream and the HTTP seam it calls through.
public struct NetworkClient: Sendable {
    /// Base URL, key, timeouts, limits and polling (built by ``NetworkProviders/make(config:credentials:transport:clock:)``).
    public let configuration: ProviderClientConfiguration
    /// The HTTP seam (the daemon's AsyncHTTPClient transport, or a test's scripted one).
    public let transport: any HTTPTransport

    /// A client reaching its upstream with `configuration` through `transport`.
    public init(configuration: ProviderClientConfiguration, transport: any HTTPTransport) {
        self.configuration = configuration
        self.transport = transport
    }
}

/// A provider that calls an upstream over HTTP. A conforming client declares its ``defaults``, stores one
/// ``NetworkClient`` and implements the calls; its id, initialisers, configuration and key guard come from here:
///
/// ```swift
/// public struct XProvider: NetworkProvider {
///     public static let defaults = ProviderClientConfiguration(id: "x", baseURL: XCodec.defaultBaseURL)
///     public let client: NetworkClient
///     public init(client: NetworkClient) { self.client = client }
///     public func generate(…) async throws(ProviderError) -> [GeneratedImage] { try await withKey { key in … } }
/// }
/// ```
public protocol NetworkProvider: Provider {
    /// The client's own settings (timeouts, limits, polling, the upstream's usual base URL), over which
    /// ``NetworkProviders`` lays the catalog entry and the key.
    static var defaults: ProviderClientConfiguration { get }
    /// The configuration and transport.
    var client: NetworkClient { get }
    /// A provider over `client`.
    init(client: NetworkClient)
}

extension NetworkProvider {
    /// A client with `configuration` (``NetworkProviders`` builds it from the catalog entry over ``defaults``).
    public init(configuration: ProviderClientConfiguration = Self.defaults, transport: any HTTPTransport) {
        self.init(client: NetworkClient(configuration: configuration, transport: transport))
    }

    /// The provider id (`providers/<id>.json`).
    public var id: String { client.configuration.id }
    /// How the client reaches its upstream.
    public var configuration: ProviderClientConfiguration { client.configuration }
    /// The HTTP seam.
    public var transport: any HTTPTransport { client.transport }

    /// Runs `body` with the configured key — or throws the `auth` error every provider gives when none is configured
    /// (the one key guard) — and redacts the key from any error it throws.
    func withKey<T>(_ body: (String) async throws(ProviderError) -> T) async throws(ProviderError) -> T {
        try await redactingErrors(configuration.credentials) { () async throws(ProviderError) -> T in
            try await body(try configuration.requireKey())
        }
    }

    /// Runs `body` with the configured key, redacting it from any error it throws; nil without running `body` when
    /// no key is configured (``Provider/verifyModels(_:)`` cannot tell then).
    func ifKeyed<T>(_ body: (String) async throws(ProviderError) -> T?) async throws(ProviderError) -> T? {
        guard let key = configuration.credentials?.secret, !key.isEmpty else { return nil }
        return try await redactingErrors(configuration.credentials) { () async throws(ProviderError) -> T? in try await body(key) }
    }

    /// Runs `body`, redacting the configured credentials from any error it throws (calls made without a key too).
    func redactingKey<T>(_ body: () async throws(ProviderError) -> T) async throws(ProviderError) -> T {
        try await redactingErrors(configuration.credentials, body)
    }
}
