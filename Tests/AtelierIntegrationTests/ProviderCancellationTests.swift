import AtelierCore
import AtelierEngine
import AtelierProviders
import AtelierTesting
import Foundation
import Logging
import Synchronization
import Testing

/// `job.cancel` on a job whose asynchronous provider is polling stops the polling at the next safe point, without
/// a new submit, and the job ends `cancelled` — even when task cancellation does not reach the provider (here a
/// transport and a clock that ignore it), because the engine wires ``GenerationContext/isCancelled``.
@Suite("cancelling a polling job", .serialized)
struct ProviderCancellationTests {
    /// Runs every request in a task of its own, so cancelling the caller's task does not cancel the request:
    /// what a transport with a request in flight, or a client without cancellation support, does.
    struct CancellationBlindTransport: HTTPTransport {
        let inner: AsyncHTTPTransport
        func send(_ request: HTTPRequest, maxBodyBytes: Int) async throws(ProviderError) -> HTTPResponse {
            let inner = self.inner
            let r = await Task { () -> Result<HTTPResponse, ProviderError> in
                do throws(ProviderError) { return .success(try await inner.send(request, maxBodyBytes: maxBodyBytes)) } catch {
                    return .failure(error)
                }
            }.value
            return try r.get()
        }
        func download(
            _ request: HTTPRequest, to path: String, maxBytes: Int
        ) async throws(ProviderError) -> (
            status: Int, bytes: Int, contentType: String?
        ) {
            let inner = self.inner
            let r = await Task { () -> Result<(Int, Int, String?), ProviderError> in
                do throws(ProviderError) {
                    let x = try await inner.download(request, to: path, maxBytes: maxBytes)
                    return .success((x.status, x.bytes, x.contentType))
                } catch { return .failure(error) }
            }.value
            let x = try r.get()
            return (x.0, x.1, x.2)
        }
    }

    /// Virtual time: each sleep waits 5 ms of real time (ignoring cancellation) and advances `now` by what was asked.
    static func blindClock() -> PollClock {
        let now = Mutex<Double>(0)
        return PollClock(
            sleep: { seconds in
                try? await Task.sleep(for: .milliseconds(5))
                now.withLock { $0 += seconds }
            },
            now: { now.withLock { $0 } })
    }

    /// An engine over the repository's catalog whose network providers use `transport` and the blind clock.
    static func engine(dir: String, environment: [String: String], transport: any HTTPTransport) async throws -> Engine {
        let catalog = try CatalogLoader.load(directory: PackagePaths.root + "/providers")
        let policy = RoutingPolicy.empty(catalog: catalog)
        let clock = blindClock()
        let registry = ProviderRegistry(catalog: catalog, environment: environment) { config, credentials in
            NetworkProviders.make(config: config, credentials: credentials, transport: transport, clock: clock)
        }
        let files = ResultFiles(root: dir)
        try files.prepare()
        let store = try JobStore(path: files.databasePath, durability: .normal)
        let config = EngineConfiguration(dataDirectory: dir, durability: .normal, sleep: { _ in }, random: { 0.5 })
        let engine = Engine(
            configuration: config, store: store, catalog: catalog, policy: policy, registry: registry, transport: transport,
            logger: Logger(label: "test"))
        try await engine.start()
        return engine
    }

    /// Runs `body` against an engine whose network providers use a new transport (blind to cancellation); the
    /// engine and the transport are shut down on every path, a failed expectation or wait included, so no HTTP
    /// client is released while it is still running.
    static func withEngine(dir: String, environment: [String: String], _ body: (Engine) async throws -> Void) async throws {
        try await AsyncHTTPTransport.with { transport in
            let engine = try await Self.engine(dir: dir, environment: environment, transport: CancellationBlindTransport(inner: transport))
            do { try await body(engine) } catch {
                await engine.shutdown()
                throw error
            }
            await engine.shutdown()
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
        try await Self.withEngine(dir: dir.path, environment: env) { engine in
            let job = try await engine.submit(Self.task(model: "runware-flux-2-klein-4b"))
            let isPoll: @Sendable (RecordedRequest) -> Bool = { $0.host == "api" && $0.bodyText.contains("getResponse") }
            try await fake.log.wait(for: 3, timeoutSeconds: 120, "Runware polls", where: isPoll)

            let cancelled = try await engine.cancel(job.taskUUID)
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
        try await Self.withEngine(dir: dir.path, environment: env) { engine in
            let job = try await engine.submit(Self.task(model: "flux-2-pro"))
            let isPoll: @Sendable (RecordedRequest) -> Bool = { $0.method == "GET" && $0.path == "/v1/get_result" }
            let isSubmit: @Sendable (RecordedRequest) -> Bool = { $0.method == "POST" && $0.path.hasPrefix("/v1/") }
            try await fake.log.wait(for: 3, timeoutSeconds: 120, "BFL polls", where: isPoll)

            let cancelled = try await engine.cancel(job.taskUUID)
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
