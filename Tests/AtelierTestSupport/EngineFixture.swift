import AtelierCore
import AtelierEngine
import AtelierProviders
import Foundation
import Logging

/// An engine for tests over a fresh data directory: one provider (`provider.id`, no network) serving `models`, the
/// `cheapest` policy without rules, and a store whose commits a test can make fail (``faults``). Optionally a
/// workflow service over the same store (``startWorkflows(random:)``).
///
/// The engine tests of store faults, workflow store faults and workflows each built this by hand.
public struct EngineFixture<P: Provider>: Sendable {
    /// How the engine waits for retries.
    public enum Waits: Sendable {
        /// A manual clock that moves by each sleep: retry and backoff waits take no time.
        case instant
        /// The live clock, with store retries from 2 ms up to 20 ms: a store fault is retried by itself, for real,
        /// until the store recovers.
        case live
    }

    /// The started engine.
    public let engine: Engine
    /// Its store.
    public let store: JobStore
    /// The store's fault injection (idle until a test arms it).
    public let faults: StoreFaultInjection
    /// The one provider.
    public let provider: P
    /// The data directory (removed by ``cleanup()``).
    public let dir: String

    /// Builds and starts the engine.
    /// - Parameters:
    ///   - name: the data directory's prefix under /tmp.
    ///   - dir: an existing data directory (a restart), or nil for a fresh one.
    ///   - shutdownGraceSeconds: nil for the engine's default.
    ///   - random: the engine's random source.
    public static func make(
        _ name: String, provider: P, models: [ModelCard],
        retry: RetryPolicy = RetryPolicy(maxAttempts: 1, baseDelaySeconds: 0, maxDelaySeconds: 0), dir: String? = nil, waits: Waits,
        shutdownGraceSeconds: Double? = nil, random: @escaping @Sendable () -> Double
    ) async throws -> EngineFixture {
        let dir = dir ?? "/tmp/\(name)-\(UUID().uuidString.prefix(8))"
        let catalog = Catalog(providers: [
            ProviderConfig(
                id: provider.id, kind: .runware, displayName: provider.id, baseURL: "http://127.0.0.1:9", concurrency: 4, retry: retry,
                models: models)
        ])
        let policy = try RoutingPolicy.parse(
            try JSONParser.parse(#"{"version": 1, "objective": "cheapest", "rules": []}"#), file: "test.json", catalog: catalog)
        let files = ResultFiles(root: dir)
        try files.prepare()
        let faults = StoreFaultInjection()
        let store = try JobStore(path: files.databasePath, durability: .normal, faultInjection: faults)
        let registry = ProviderRegistry(catalog: catalog, environment: [:]) { _, _ in provider }
        var config = EngineConfiguration(dataDirectory: dir, durability: .normal, random: random)
        if let shutdownGraceSeconds { config.shutdownGraceSeconds = shutdownGraceSeconds }
        switch waits {
        case .instant:
            config.clock = .manual(advancesOnSleep: true)
        case .live:
            config.clock = .live
            config.storeRetryInitialDelaySeconds = 0.002
            config.storeRetryMaxDelaySeconds = 0.02
        }
        let engine = Engine(
            configuration: config, store: store, catalog: catalog, policy: policy, registry: registry, transport: NoNetworkTransport(),
            logger: Logger(label: "test"))
        try await engine.start()
        return EngineFixture(engine: engine, store: store, faults: faults, provider: provider, dir: dir)
    }

    /// Starts a workflow service over this engine and its store.
    public func startWorkflows(random: @escaping @Sendable () -> Double) async throws -> (service: WorkflowService, store: WorkflowStore) {
        let workflows = WorkflowStore(jobs: store)
        let service = WorkflowService(engine: engine, store: workflows, logger: Logger(label: "test"), random: random)
        try await service.start()
        return (service, workflows)
    }

    /// Removes the data directory.
    public func cleanup() { try? FileManager.default.removeItem(atPath: dir) }
}
