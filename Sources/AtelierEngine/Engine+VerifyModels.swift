import AtelierCore
import AtelierProviders

// MARK: - Model verification (`models.verify`)

/// What `models.verify` found: whether each provider could be asked, for each configured model whether its
/// provider still lists it today, and — for providers with a complete listing — the image models they list that the
/// catalog lacks.
public struct ModelVerificationReport: Sendable {
    /// One provider's part.
    public struct ProviderResult: Sendable {
        public var provider: String
        /// `checked`, `skipped` (no key, not configured, built-in), `unsupported` (the API has no model list) or `failed`.
        public var status: String
        public var reason: String?
        public var error: AtelierError?
        /// Image models this provider lists that no catalog model uses (sorted); nil when it was not asked or has
        /// no complete listing (Runware's `modelSearch` looks ids up one by one).
        public var uncatalogued: [String]? = nil
    }

    /// One configured model.
    public struct ModelResult: Sendable {
        public var id: String
        public var provider: String
        public var upstreamID: String
        public var catalogStatus: ModelStatus
        public var replacedBy: String?
        /// `present`, `missing`, `deprecated` (as the provider says), `unknown` (the provider did not say), or
        /// `skipped` / `unsupported` / `failed` (as its provider).
        public var upstream: String
    }

    public var providers: [ProviderResult]
    public var models: [ModelResult]

    /// Routable models (active or deprecated in the catalog) their provider no longer lists: jobs for them will fail.
    public var missing: [String] { models.filter { $0.upstream == "missing" && $0.catalogStatus != .retired }.map(\.id) }
    /// Models the provider flags as deprecated, or the catalog marks deprecated.
    public var deprecated: [String] { models.filter { $0.upstream == "deprecated" || $0.catalogStatus == .deprecated }.map(\.id) }
    /// Models the catalog marks retired (never routed), whatever the provider says.
    public var retired: [String] { models.filter { $0.catalogStatus == .retired }.map(\.id) }
    /// Retired in the catalog but still listed upstream (informational).
    public var retiredButListed: [String] { models.filter { $0.catalogStatus == .retired && $0.upstream == "present" }.map(\.id) }
    /// Providers not asked.
    public var skipped: [String] { providers.filter { $0.status == "skipped" }.map(\.provider) }
    /// Image models providers list that the catalog lacks, as `(provider, upstream id)`, in provider order.
    public var uncatalogued: [(provider: String, upstreamID: String)] {
        providers.flatMap { p in (p.uncatalogued ?? []).map { (p.provider, $0) } }
    }
}

extension Engine {
    /// The configured provider ids, in catalog order.
    public var providerIDs: [String] { catalog.providers.map(\.id) }

    /// Asks every provider that has a key (or needs none and is configured) which configured model ids exist
    /// today, concurrently. Providers without a key are reported as skipped; no job is affected.
    /// - Parameter only: restrict to these provider ids (nil: all).
    public func verifyModels(providers only: Set<String>? = nil) async -> ModelVerificationReport {
        let catalog = self.catalog
        let registry = self.registry
        let configs = catalog.providers.filter { only == nil || only!.contains($0.id) }
        let outcomes = await withTaskGroup(of: (Int, ModelVerificationReport.ProviderResult, [String: ModelVerification]).self) { group in
            for (i, config) in configs.enumerated() {
                let entry = registry.entry(config.id)
                group.addTask {
                    func result(_ status: String, _ reason: String?, _ error: AtelierError? = nil) -> ModelVerificationReport.ProviderResult {
                        .init(provider: config.id, status: status, reason: reason, error: error)
                    }
                    if config.kind == .local { return (i, result("skipped", "built-in renderer"), [:]) }
                    guard let entry, let provider = entry.provider else { return (i, result("skipped", "no implementation"), [:]) }
                    if let why = entry.unavailable { return (i, result("skipped", why.description), [:]) }
                    let ids = Array(Set(config.models.map(\.upstreamID))).sorted()
                    do throws(ProviderError) {
                        guard let found = try await provider.checkModels(ids) else {
                            return (i, result("unsupported", "the provider's API cannot list models"), [:])
                        }
                        var checked = result("checked", nil)
                        checked.uncatalogued = found.uncatalogued
                        return (i, checked, found.configured)
                    } catch {
                        return (i, result("failed", error.message, error.atelierError), [:])
                    }
                }
            }
            var out: [(Int, ModelVerificationReport.ProviderResult, [String: ModelVerification])] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }
        }
        var report = ModelVerificationReport(providers: [], models: [])
        for (i, p, found) in outcomes {
            report.providers.append(p)
            for m in configs[i].models {
                let upstream: String
                if p.status == "checked" { upstream = found[m.upstreamID]?.rawValue ?? "unknown" } else { upstream = p.status }
                report.models.append(
                    .init(
                        id: m.id, provider: m.provider, upstreamID: m.upstreamID, catalogStatus: m.status, replacedBy: m.replacedBy,
                        upstream: upstream))
            }
        }
        return report
    }
}
