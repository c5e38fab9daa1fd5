import AtelierCore
import AtelierProviders

/// Where the daemon's configuration comes from, and how to turn it into a catalog, a policy and providers.
///
/// Loading validates everything (every provider file and the routing policy against that catalog) before
/// anything is swapped in: a bad file leaves the running configuration untouched and reports every problem.
public struct ConfigSource: Sendable {
    /// The directory of `*.json` provider files.
    public var providersDirectory: String
    /// The routing policy file.
    public var routingFile: String
    /// The environment (API keys, base-URL overrides).
    public var environment: [String: String]
    /// Makes a provider implementation for a config and its credentials.
    public var factory: @Sendable (ProviderConfig, Credentials?) -> (any Provider)?

    public init(
        providersDirectory: String, routingFile: String, environment: [String: String],
        factory: @escaping @Sendable (ProviderConfig, Credentials?) -> (any Provider)?
    ) {
        self.providersDirectory = providersDirectory
        self.routingFile = routingFile
        self.environment = environment
        self.factory = factory
    }

    /// Loads and validates everything.
    public func load() throws(ConfigError) -> (catalog: Catalog, policy: RoutingPolicy, registry: ProviderRegistry) {
        let catalog = try CatalogLoader.load(directory: providersDirectory)
        let policy = try RoutingPolicy.load(path: routingFile, catalog: catalog)
        let registry = ProviderRegistry(catalog: catalog, environment: environment, factory: factory)
        return (catalog, policy, registry)
    }
}

extension ConfigSource {
    /// ``load()`` on NIO's thread pool, so reading the files never blocks a Swift concurrency thread.
    public func loadOffPool() async throws(ConfigError) -> (catalog: Catalog, policy: RoutingPolicy, registry: ProviderRegistry) {
        let source = self
        let result: Result<(catalog: Catalog, policy: RoutingPolicy, registry: ProviderRegistry), ConfigError>
        do {
            result = try await BlockingWork.run {
                do throws(ConfigError) { return .success(try source.load()) } catch { return .failure(error) }
            }
        } catch {
            throw ConfigError([ConfigIssue(file: routingFile, pointer: "", message: "the configuration could not be read: \(error)")])
        }
        return try result.get()
    }
}

extension ConfigError {
    /// The error callers get: `config_invalid` with every issue in `data.issues`.
    public var atelierError: AtelierError {
        AtelierError(
            .configInvalid, "configuration rejected (\(issues.count) problem\(issues.count == 1 ? "" : "s")); the running configuration is unchanged",
            details: ["issues": .array(issues.map(\.json))])
    }
}

extension Engine {
    /// Re-reads `source` and swaps it in atomically, or reports every problem and changes nothing. The files are read
    /// on NIO's thread pool (SIGHUP and `config.reload` arrive while the daemon serves requests).
    public func reload(from source: ConfigSource) async throws(AtelierError) -> ReloadSummary {
        let loaded: (catalog: Catalog, policy: RoutingPolicy, registry: ProviderRegistry)
        do { loaded = try await source.loadOffPool() } catch {
            logger.error("configuration reload rejected", metadata: ["issues": "\(error.issues.count)"])
            for i in error.issues { logger.error("config issue", metadata: ["issue": "\(i.description)"]) }
            throw error.atelierError
        }
        try await reload(catalog: loaded.catalog, policy: loaded.policy, registry: loaded.registry)
        let available = loaded.catalog.models.filter { loaded.registry.entry($0.provider)?.unavailable == nil }.count
        return ReloadSummary(
            providers: loaded.catalog.providers.count, models: loaded.catalog.models.count, available: available,
            rules: loaded.policy.ruleNames.count)
    }
}
