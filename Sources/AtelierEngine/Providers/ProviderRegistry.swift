import AtelierCore
import AtelierProviders

/// One configured provider with what is needed to call it, or why it cannot be called.
public struct ProviderEntry: Sendable {
    /// The provider's configuration.
    public var config: ProviderConfig
    /// The implementation, when one exists for its kind. Its client holds the base URL and the key
    /// (``ProviderClientConfiguration``): they have no other owner.
    public var provider: (any Provider)?
    /// Why the provider cannot be used right now (e.g. `no_api_key`), or nil.
    public var unavailable: Rejection?
}

/// The configured providers, built once at start (and again on reload) from the catalog and the environment.
///
/// A provider whose key is missing is listed as unavailable and never chosen — it is never a startup error.
/// Keys are read here and nowhere else, and handed to the provider's client, whose configuration is their only owner.
public struct ProviderRegistry: Sendable {
    /// Entries by provider id.
    public let entries: [String: ProviderEntry]

    /// - Parameters:
    ///   - environment: the process environment (keys and base-URL overrides).
    ///   - factory: makes the implementation for a provider config (with the effective base URL) and its
    ///     credentials; nil when the kind is not supported.
    public init(catalog: Catalog, environment: [String: String], factory: (ProviderConfig, Credentials?) -> (any Provider)?) {
        var entries: [String: ProviderEntry] = [:]
        for config in catalog.providers {
            let override = environment[config.baseURLEnv].flatMap { $0.isEmpty ? nil : $0 }
            let base = override ?? config.baseURL ?? ""
            var credentials: Credentials?
            var unavailable: Rejection?
            if let env = config.apiKeyEnv {
                if let key = environment[env], !key.isEmpty {
                    credentials = Credentials(key)
                } else if !config.keyOptional {
                    unavailable = Rejection(
                        "no_api_key", "\(env) not set",
                        error: AtelierError(.auth, "provider \(config.id) needs an API key in \(env)", retryable: false))
                }
            }
            // A self-hosted server is only used when it has been pointed at explicitly.
            if config.kind == .a1111, override == nil, unavailable == nil {
                unavailable = Rejection(
                    "not_configured", "set \(config.baseURLEnv)",
                    error: AtelierError(.unavailable, "provider \(config.id) is self-hosted; set \(config.baseURLEnv) to use it"))
            }
            var effective = config
            effective.baseURL = base.isEmpty ? nil : base
            let provider = factory(effective, credentials)
            if provider == nil, unavailable == nil {
                unavailable = Rejection(
                    "not_supported", "no implementation for kind \(config.kind.rawValue)",
                    error: AtelierError(.unavailable, "provider kind \(config.kind.rawValue) is not supported by this build"))
            }
            entries[config.id] = ProviderEntry(config: config, provider: provider, unavailable: unavailable)
            if let batch = config.batch {
                // The batch lane: batched jobs are queued under it (route.provider), so the hours they may wait hold
                // none of the provider's interactive slots; the same implementation serves them.
                var lane = config
                lane.id = BatchSettings.laneID(provider: config.id)
                lane.concurrency = batch.maxWaitingJobs
                entries[lane.id] = ProviderEntry(config: lane, provider: provider, unavailable: unavailable)
            }
        }
        self.entries = entries
    }

    /// The entry for a provider id.
    public func entry(_ providerID: String) -> ProviderEntry? { entries[providerID] }

    /// Unavailable models by id, for the router.
    public func unavailableModels(in catalog: Catalog) -> [String: Rejection] {
        var out: [String: Rejection] = [:]
        for m in catalog.models {
            if let r = entries[m.provider]?.unavailable { out[m.id] = r }
        }
        return out
    }
}
