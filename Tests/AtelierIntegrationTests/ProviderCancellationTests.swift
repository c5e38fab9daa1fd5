import AtelierCore
import AtelierEngine
import AtelierProviders
import AtelierTestSupport
import AtelierTesting
import Foundation
import Logging
import Testing

/// `job.cancel` on a job whose asynchronous provider is polling stops the polling at the next safe point, without
/// a new submit, and the job ends `cancelled` — even when task cancellation does not reach the provider (here every
/// provider call runs in a task of its own, so neither its transport nor its clock sees it), because the engine wires
/// ``GenerationContext/isCancelled``.
@Suite("cancelling a polling job", .serialized)
struct ProviderCancellationTests {
    /// Runs every call of `inner` in a task of its own, so cancelling the job's task does not cancel the call: what a
    /// provider blocked in a request without cancellation support does. Only the context's flag can stop it.
    struct CancellationBlindProvider: Provider {
        let inner: any Provider
        var id: String { inner.id }

        func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
            let inner = self.inner
            return try await Task { () -> Result<[GeneratedImage], ProviderError> in
                do throws(ProviderError) { return .success(try await inner.generate(request, context: context)) } catch {
                    return .failure(error)
                }
            }.value.get()
        }
    }

    /// Polling time: a manual clock the test advances (see ``poll(_:times:)`` and ``drive(_:)``).
    static func pollClock() -> AtelierClock { .manual() }

    /// Lets the provider poll `times` times: each time it sleeps on `clock`, time moves past the longest poll delay.
    static func poll(_ clock: AtelierClock, times: Int) async {
        for _ in 0..<times {
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(10))
        }
    }

    /// Lets the provider poll on whenever it sleeps, until the returned task is cancelled.
    static func drive(_ clock: AtelierClock) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                await clock.waitForSleepers(1)
                clock.advance(by: .seconds(10))
            }
        }
    }

    /// An engine over the repository's catalog whose network providers use `transport` and poll on `clock`, blind to task cancellation.
    static func engine(dir: String, environment: [String: String], transport: any HTTPTransport, clock: AtelierClock) async throws -> Engine {
        let catalog = try CatalogLoader.load(directory: PackagePaths.root + "/providers")
        let policy = RoutingPolicy.empty(catalog: catalog)
        let registry = ProviderRegistry(catalog: catalog, environment: environment) { config, credentials in
            NetworkProviders.make(config: config, credentials: credentials, transport: transport, clock: clock).map {
                CancellationBlindProvider(inner: $0) as any Provider
            }
        }
        let files = ResultFiles(root: dir)
        try files.prepare()
        let store = try JobStore(path: files.databasePath, durability: .normal)
        let config = EngineConfiguration(dataDirectory: dir, durability: .normal, clock: .manual(advancesOnSleep: true), random: { 0.5 })
        let engine = Engine(
            configuration: config, store: store, catalog: catalog, policy: policy, registry: registry, transport: transport,
            logger: Logger(label: "test"))
        try await engine.start()
        return engine
    }

    /// Runs `body` against an engine whose network providers poll on `clock` and run blind to task cancellation;
    /// the engine and the transport are shut down on every path, a failed expectation or wait included (with the
    /// clock driven, so a provider still sleeping on it can end), so no HTTP client is released while it is still
    /// running.
    static func withEngine(
        dir: String, environment: [String: String], clock: AtelierClock, _ body: (Engine) async throws -> Void
    ) async throws {
        try await AsyncHTTPTransport.with { transport in
            let engine = try await Self.engine(dir: dir, environment: environment, transport: transport, clock: clock)
            func shutdown() async {
                let driver = Self.drive(clock)
                await engine.shutdown()
                driver.cancel()
                await driver.value
            }
            do { try await body(engine) } catch {
                await shutdown()
                throw error
            }
            await shutdown()
        }
    }

    static func task(model: String) throws -> ImageTask {
        try ImageTask(json: ["positivePrompt": "a held mug [fake:hold]", "model": .string(model), "width": 512, "height": 512, "seed": 5])
    }

    @Test func runwareStopsPollingWhenCancelled() async throws {
        let fake = try await RunwareFake.start(apiKey: "rw-cancel-test-key")
        let dir = TempDir("rw-cancel")
        defer { dir.cleanup() }
        let env = ["RUNWARE_API_KEY": fake.apiKey, "ATELIER_RUNWARE_BASE_URL": fake.baseURL]
        let clock = Self.pollClock()
        try await Self.withEngine(dir: dir.path, environment: env, clock: clock) { engine in
            let job = try await engine.submit(Self.task(model: "runware-flux-2-klein-4b"))
            let isPoll: @Sendable (RecordedRequest) -> Bool = { $0.host == "api" && $0.bodyText.contains("getResponse") }
            await Self.poll(clock, times: 3)
            try await fake.log.wait(for: 3, timeoutSeconds: 120, "Runware polls", where: isPoll)
            await clock.waitForSleepers(1)

            // From here the provider polls whenever it sleeps, until the cancellation stops it.
            let driver = Self.drive(clock)
            let cancelled = try await engine.cancel(job.taskUUID)
            driver.cancel()
            await driver.value
            let pollsAtCancel = fake.log.filter(isPoll).count
            #expect(cancelled.status == .cancelled, "\(cancelled.error?.description ?? "")")
            #expect(cancelled.error?.code == .cancelled)
            // cancel returns once the job's task has ended: no poll can follow. At most one was in flight when the
            // signal was raised; without the signal the provider polls on until its deadline.
            let stored = try await engine.job(job.taskUUID)
            #expect(stored.status == .cancelled)
            #expect(fake.log.filter(isPoll).count == pollsAtCancel, "no poll after the job ended")
            #expect(fake.tasks(ofType: "imageInference").count == 1, "submitted once, never again")
            #expect(pollsAtCancel <= 3 + 30, "polling stopped at the next safe point (saw \(pollsAtCancel) polls)")
        }
        // (the fake closes its socket when released if a failure skipped this)
        await fake.shutdown()
    }

    @Test func bflStopsPollingWhenCancelled() async throws {
        let fake = try await BFLFake.start(apiKey: "bfl-cancel-test-key")
        let dir = TempDir("bfl-cancel")
        defer { dir.cleanup() }
        let env = ["BFL_API_KEY": fake.apiKey, "ATELIER_BFL_BASE_URL": fake.baseURL]
        let clock = Self.pollClock()
        try await Self.withEngine(dir: dir.path, environment: env, clock: clock) { engine in
            let job = try await engine.submit(Self.task(model: "flux-2-pro"))
            let isPoll: @Sendable (RecordedRequest) -> Bool = { $0.method == "GET" && $0.path == "/v1/get_result" }
            let isSubmit: @Sendable (RecordedRequest) -> Bool = { $0.method == "POST" && $0.path.hasPrefix("/v1/") }
            await Self.poll(clock, times: 3)
            try await fake.log.wait(for: 3, timeoutSeconds: 120, "BFL polls", where: isPoll)
            await clock.waitForSleepers(1)

            // From here the provider polls whenever it sleeps, until the cancellation stops it.
            let driver = Self.drive(clock)
            let cancelled = try await engine.cancel(job.taskUUID)
            driver.cancel()
            await driver.value
            let pollsAtCancel = fake.log.filter(isPoll).count
            #expect(cancelled.status == .cancelled, "\(cancelled.error?.description ?? "")")
            let stored = try await engine.job(job.taskUUID)
            #expect(stored.status == .cancelled)
            #expect(fake.log.filter(isPoll).count == pollsAtCancel, "no poll after the job ended")
            #expect(fake.log.filter(isSubmit).count == 1, "submitted once, never again")
            #expect(pollsAtCancel <= 3 + 30, "polling stopped at the next safe point (saw \(pollsAtCancel) polls)")
        }
        // (the fake closes its socket when released if a failure skipped this)
        await fake.shutdown()
    }
}
