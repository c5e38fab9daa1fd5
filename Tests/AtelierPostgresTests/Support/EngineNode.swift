import AtelierCore
import AtelierImaging
import AtelierProviders
import Foundation
import Logging
import Synchronization
import Testing

@testable import AtelierEngine

/// A provider for engines on PostgreSQL, steered by the task's prompt:
/// - `image`: an image at once;
/// - `gated`: records the resume handle `h-<taskUUID>`, waits for ``gate``, then answers an image;
/// - `hang`: waits until cancelled (no handle), then answers `cancelled`.
/// `resume` answers an image. Every call is recorded by taskUUID.
final class ClusterTestProvider: Provider {
    let id = "fake"
    /// Opened by the test to let `gated` calls answer.
    let gate = Gate()
    private let state = Mutex<(generated: [String], resumed: [String: String])>(([], [:]))

    /// The taskUUIDs whose generation was called here, in order.
    var generated: [String] { state.withLock { $0.generated } }
    /// The handles resumed here, by taskUUID.
    var resumed: [String: String] { state.withLock { $0.resumed } }

    static func image(_ request: GenerationRequest) -> [GeneratedImage] {
        let path = request.scratchDirectory + "/\(request.attemptKey).png"
        let png = PNGEncoder.encode(RGBImage(width: 8, height: 8, color: RGBColor(r: 10, g: 20, b: 30)))
        FileManager.default.createFile(atPath: path, contents: Data(png))
        return [GeneratedImage(path: path, mimeType: "image/png", seed: request.seed, costUSD: 0.01)]
    }

    func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        state.withLock { $0.generated.append(request.task.taskUUID) }
        switch request.task.positivePrompt {
        case "gated":
            try await context.recordResumeHandle("h-\(request.task.taskUUID)")
            await gate.wait()
            return Self.image(request)
        case "hang":
            await Self.suspendUntilCancelled()
            throw ProviderError(.cancelled, "cancelled")
        default:
            return Self.image(request)
        }
    }

    func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        state.withLock { $0.resumed[request.task.taskUUID] = handle }
        return Self.image(request)
    }

    func verifyModels(_ upstreamIDs: [String]) async throws(ProviderError) -> [String: ModelVerification]? { nil }

    /// Suspends (holding no thread) until the calling task is cancelled.
    static func suspendUntilCancelled() async {
        let gate = Mutex<(cancelled: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = gate.withLock { g -> Bool in
                    if g.cancelled { return true }
                    g.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            gate.withLock { g -> CheckedContinuation<Void, Never>? in
                g.cancelled = true
                defer { g.waiter = nil }
                return g.waiter
            }?.resume()
        }
    }
}

/// One daemon of a test cluster: an engine over its own connection pool to the shared database, with its own
/// provider, in a data directory shared by the cluster.
struct EngineNode: Sendable {
    let engine: Engine
    let store: PostgresStore
    let provider: ClusterTestProvider
    let pool: Task<Void, Never>
    /// Every event published on this daemon's bus.
    let seen: EventLog

    /// Starts a daemon on `cluster`'s database.
    /// - Parameters:
    ///   - hold: accept jobs without running any (its claim loops stay idle).
    ///   - heartbeatSeconds: how often it renews its leases (a large value lets its leases run out).
    ///   - callTimeout: how long one store call may wait (short where the server goes away).
    static func start(
        on cluster: PostgresCluster, dataDirectory: String, id: String, hold: Bool = false, leaseSeconds: Double = 3,
        heartbeatSeconds: Double = 0.5, callTimeout: Duration = .seconds(60)
    ) async throws -> EngineNode {
        let store = PostgresStore(location: try cluster.location(), callTimeout: callTimeout, logger: quietLogger)
        let pool = Task { await store.run() }
        try await store.migrate()
        let provider = ClusterTestProvider()
        let card = ModelCard(
            id: "model-a", provider: "fake", kind: .runware, upstreamID: "model-a", displayName: "model-a", seedHonored: true,
            seedAccepted: true, textRendering: 3, quality: 3, latencySeconds: 1, maxReferenceImages: 0, maxPromptLength: 1000,
            numberResults: 1...4, outputFormats: [.png],
            sizes: .range(.init(minWidth: 64, maxWidth: 2048, minHeight: 64, maxHeight: 2048, multipleOf: 8, maxMegapixels: 4.2)),
            price: .perImage(usd: 0.01, perInputImageUSD: 0), safetyPolicy: "alpha")
        let catalog = Catalog(providers: [
            ProviderConfig(
                id: "fake", kind: .runware, displayName: "fake", baseURL: "http://127.0.0.1:9", concurrency: 2,
                retry: RetryPolicy(maxAttempts: 1, baseDelaySeconds: 0, maxDelaySeconds: 0), models: [card])
        ])
        let policy = try RoutingPolicy.parse(
            try JSONParser.parse(#"{"version": 1, "objective": "cheapest", "rules": []}"#), file: "test.json", catalog: catalog)
        let registry = ProviderRegistry(catalog: catalog, environment: [:]) { _, _ in provider }
        var config = EngineConfiguration(dataDirectory: dataDirectory, durability: .normal, shutdownGraceSeconds: 0.5, hold: hold)
        config.storeRetryInitialDelaySeconds = 0.01
        config.storeRetryMaxDelaySeconds = 0.2
        config.cluster = ClusterConfiguration(
            leaseSeconds: leaseSeconds, heartbeatSeconds: heartbeatSeconds, reconcileSeconds: 0.5, liveWithinSeconds: 5,
            workflowCatchUpSeconds: 0.5)
        let files = ResultFiles(root: dataDirectory, daemonID: id)
        try files.prepare()
        let engine = Engine(
            configuration: config, store: PostgresJobStore(store: store, daemonID: id), catalog: catalog, policy: policy, registry: registry,
            transport: NoNetworkTransport(), logger: quietLogger)
        let seen = EventLog()
        _ = engine.events.subscribe(taskUUID: nil) { event in seen.append(event) }
        try await engine.start()
        return EngineNode(engine: engine, store: store, provider: provider, pool: pool, seen: seen)
    }

    /// Shuts the engine down and closes its pool.
    func stop() async {
        await engine.shutdown()
        pool.cancel()
        await pool.value
    }

    /// The events published here about `taskUUID`.
    func events(_ taskUUID: String) -> [JobEvent] { seen.all.filter { $0.job.taskUUID == taskUUID } }
}

/// The events a daemon published, in order.
final class EventLog: Sendable {
    private let events = Mutex<[JobEvent]>([])
    func append(_ event: JobEvent) { events.withLock { $0.append(event) } }
    var all: [JobEvent] { events.withLock { $0 } }
}

/// A task for the test provider.
func clusterTask(_ prompt: String = "image", uuid: String = UUIDv4.generate()) -> ImageTask {
    ImageTask(taskUUID: uuid, positivePrompt: prompt, model: "model-a")
}

/// A temporary data directory shared by a test's daemons.
func sharedDataDirectory() -> String {
    let dir = "/tmp/atelier-pg-engine-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}
