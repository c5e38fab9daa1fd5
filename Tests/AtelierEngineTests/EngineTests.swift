import AtelierCore
import AtelierEngine
import AtelierImaging
import AtelierProviders
import Foundation
import Logging
import Synchronization
import Testing

/// A provider whose answers are scripted per model; records every call.
final class ScriptedProvider: Provider {
    enum Step: Sendable {
        case image
        case fail(ProviderError)
        /// Records a resume handle, then waits until cancelled.
        case hangAfterHandle(String)
        /// Records a resume handle, then fails.
        case failAfterHandle(String, ProviderError)
    }
    let id = "fake"
    /// Yields each handle once the engine has durably recorded it.
    let handles = AsyncStream<String>.makeStream()
    private let state = Mutex<(script: [String: [Step]], calls: [String], resumed: [String])>(([:], [], []))

    init(_ script: [String: [Step]]) { state.withLock { $0.script = script } }

    var calls: [String] { state.withLock { $0.calls } }
    var resumed: [String] { state.withLock { $0.resumed } }

    private func next(_ model: String) -> Step {
        state.withLock { s in
            s.calls.append(model)
            guard var steps = s.script[model], !steps.isEmpty else { return .image }
            let step = steps.removeFirst()
            s.script[model] = steps
            return step
        }
    }

    static func writeImage(_ request: GenerationRequest) -> [GeneratedImage] {
        let path = request.scratchDirectory + "/\(request.attemptKey).png"
        let png = PNGEncoder.encode(RGBImage(width: 8, height: 8, color: RGBColor(r: 10, g: 20, b: 30)))
        FileManager.default.createFile(atPath: path, contents: Data(png))
        return [GeneratedImage(path: path, mimeType: "image/png", seed: request.seed, costUSD: 0.01)]
    }

    func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        switch next(request.model.id) {
        case .image: return Self.writeImage(request)
        case .fail(let e): throw e
        case .hangAfterHandle(let h):
            try await context.recordResumeHandle(h)
            handles.continuation.yield(h)
            await Self.suspendUntilCancelled()
            throw ProviderError(.cancelled, "cancelled")
        case .failAfterHandle(let h, let e):
            try await context.recordResumeHandle(h)
            throw e
        }
    }

    func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        state.withLock { $0.resumed.append(handle) }
        return Self.writeImage(request)
    }

    /// Suspends (holding no thread) until the calling task is cancelled; returns at once if it already is.
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

/// Delays the engine asked to wait, without waiting: a manual clock that jumps to the end of every sleep (unless the
/// test brings a clock it advances by hand).
final class SleepRecorder: Sendable {
    let clock: AtelierClock
    init(clock: AtelierClock = .manual(advancesOnSleep: true)) { self.clock = clock }
    /// Every wait asked for, in seconds.
    var recorded: [Double] { clock.recordedSleeps.map(\.inSeconds) }
}

func model(_ id: String, seed: Bool, safety: String, cost: Double) -> ModelCard {
    ModelCard(
        id: id, provider: "fake", kind: .runware, upstreamID: id, displayName: id, seedHonored: seed, seedAccepted: true, textRendering: 3,
        quality: 3, latencySeconds: 1, maxReferenceImages: 0, maxPromptLength: 1000, numberResults: 1...4, outputFormats: [.png],
        sizes: .range(.init(minWidth: 64, maxWidth: 2048, minHeight: 64, maxHeight: 2048, multipleOf: 8, maxMegapixels: 4.2)),
        price: .perImage(usd: cost, perInputImageUSD: 0), safetyPolicy: safety)
}

struct EngineHarness {
    let engine: Engine
    let provider: ScriptedProvider
    let sleeps: SleepRecorder
    let dir: String

    /// Two seed-honouring models (cheap A, dearer B with another safety policy) and one that ignores seeds (C, cheapest).
    static func make(
        _ script: [String: [ScriptedProvider.Step]], rules: String = "[]", budgets: String = "[]", dir: String? = nil,
        provider: ScriptedProvider? = nil, grace: Double = 5, clock: AtelierClock? = nil
    ) async throws -> EngineHarness {
        let dir = dir ?? "/tmp/engine-\(UUID().uuidString.prefix(8))"
        let catalog = Catalog(providers: [
            ProviderConfig(
                id: "fake", kind: .runware, displayName: "fake", baseURL: "http://127.0.0.1:9", concurrency: 4,
                retry: RetryPolicy(maxAttempts: 2, baseDelaySeconds: 1, maxDelaySeconds: 10),
                models: [
                    model("model-a", seed: true, safety: "alpha", cost: 0.02), model("model-b", seed: true, safety: "beta", cost: 0.05),
                    model("model-c", seed: false, safety: "gamma", cost: 0.01),
                ])
        ])
        let policy = try RoutingPolicy.parse(
            try JSONParser.parse(#"{"version": 1, "objective": "cheapest", "rules": \#(rules), "budgets": \#(budgets)}"#), file: "test.json",
            catalog: catalog)
        let provider = provider ?? ScriptedProvider(script)
        let sleeps = clock.map(SleepRecorder.init(clock:)) ?? SleepRecorder()
        let files = ResultFiles(root: dir)
        try files.prepare()
        let store = try JobStore(path: files.databasePath, durability: .normal)
        let registry = ProviderRegistry(catalog: catalog, environment: [:]) { _, _ in provider }
        let config = EngineConfiguration(
            dataDirectory: dir, durability: .normal, shutdownGraceSeconds: grace, clock: sleeps.clock, random: { 0.5 })
        let transport = ScriptedTransport()
        let engine = Engine(
            configuration: config, store: store, catalog: catalog, policy: policy, registry: registry, transport: transport,
            logger: Logger(label: "test"))
        try await engine.start()
        return EngineHarness(engine: engine, provider: provider, sleeps: sleeps, dir: dir)
    }

    func run(_ task: ImageTask) async throws -> Job {
        let j = try await engine.submit(task)
        return try await engine.wait(j.taskUUID, timeoutSeconds: 120)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }
}

/// A transport that is never expected to be used.
struct ScriptedTransport: HTTPTransport {
    func send(_ request: HTTPRequest, maxBodyBytes: Int) async throws(ProviderError) -> HTTPResponse {
        throw ProviderError(.unavailable, "no network in engine tests")
    }
    func download(
        _ request: HTTPRequest, to path: String, maxBytes: Int
    ) async throws(ProviderError) -> (status: Int, bytes: Int, contentType: String?) {
        throw ProviderError(.unavailable, "no network in engine tests")
    }
}

func task(_ prompt: String = "a cat", reproducible: Bool = false, seed: Int64? = nil) -> ImageTask {
    ImageTask(positivePrompt: prompt, size: .pixels(PixelSize(width: 512, height: 512)), seed: seed, requirements: .init(reproducible: reproducible))
}

@Suite("engine: retries, fallbacks, recovery")
struct EngineTests {
    @Test func retryableFailureIsRetriedWithBackoffThenSucceeds() async throws {
        let h = try await EngineHarness.make(["model-c": [.fail(ProviderError(.unavailable, "503"))]])
        defer { h.cleanup() }
        let job = try await h.run(task())
        #expect(job.status == .succeeded)
        #expect(job.route?.model == "model-c")
        #expect(job.attempts.map(\.outcome) == [.failed, .succeeded])
        #expect(job.attempts.first?.error?.code == .unavailable)
        // Full jitter on a 1 s base with random 0.5: 0.5 + 0.5 × 0.5.
        #expect(h.sleeps.recorded == [0.75])
        #expect(job.results.first?.seed == nil, "model-c ignores seeds: no seed is presented")
        #expect(job.results.first?.seedHonored == false)
    }

    @Test func rateLimitHonoursTheProvidersHint() async throws {
        let h = try await EngineHarness.make(["model-c": [.fail(ProviderError(.rateLimited, "slow down", retryAfterSeconds: 37))]])
        defer { h.cleanup() }
        let job = try await h.run(task())
        #expect(job.status == .succeeded)
        #expect(h.sleeps.recorded == [37])
    }

    @Test func invalidRequestIsTerminalWithoutFallback() async throws {
        let h = try await EngineHarness.make(["model-c": [.fail(ProviderError(.invalidRequest, "bad width", field: "/width"))]])
        defer { h.cleanup() }
        let job = try await h.run(task())
        #expect(job.status == .failed)
        #expect(job.error?.code == .invalidRequest)
        #expect(job.error?.field == "/width")
        #expect(h.provider.calls == ["model-c"], "never retried, never another model")
    }

    @Test func exhaustedModelFallsBackToTheNextCandidate() async throws {
        let fail = ProviderError(.unavailable, "down")
        let h = try await EngineHarness.make(["model-c": [.fail(fail), .fail(fail)]])
        defer { h.cleanup() }
        let job = try await h.run(task())
        #expect(job.status == .succeeded)
        #expect(h.provider.calls == ["model-c", "model-c", "model-a"])
        #expect(job.route?.model == "model-a")
        #expect(job.route?.reasons.last?.contains("fell back to model-a") == true)
        #expect(job.attempts.count == 3)
    }

    @Test func reproducibleJobNeverFallsBackToASeedlessModel() async throws {
        let fail = ProviderError(.unavailable, "down")
        let h = try await EngineHarness.make(["model-a": [.fail(fail), .fail(fail)], "model-b": [.fail(fail), .fail(fail)]])
        defer { h.cleanup() }
        let job = try await h.run(task(reproducible: true, seed: 5))
        #expect(job.status == .failed)
        #expect(!h.provider.calls.contains("model-c"), "model-c ignores seeds")
        #expect(Set(h.provider.calls) == ["model-a", "model-b"])
    }

    @Test func generatedSeedIsRecordedOnTheTaskAndResult() async throws {
        let h = try await EngineHarness.make([:])
        defer { h.cleanup() }
        let job = try await h.run(task(reproducible: true))
        #expect(job.status == .succeeded)
        let seed = try #require(job.task.seed)
        #expect(job.results.first?.seed == seed)
        #expect(job.results.first?.seedHonored == true)
    }

    @Test func interruptedAsyncCallIsResumedFromItsHandleNotPaidAgain() async throws {
        let dir = "/tmp/engine-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await EngineHarness.make(["model-c": [.hangAfterHandle("upstream-123")]], dir: dir, grace: 0)
        let submitted = try await first.engine.submit(task())
        // Wait until the handle is durably recorded, then stop the engine mid-call.
        for await h in first.provider.handles.stream {
            #expect(h == "upstream-123")
            break
        }
        #expect(first.engine.cache.job(submitted.taskUUID)?.attempts.last?.resumeHandle == "upstream-123")
        await first.engine.shutdown()
        let stored = try await first.engine.job(submitted.taskUUID)
        #expect(stored.status == .queued)
        #expect(stored.attempts.last?.outcome == .interrupted)

        let second = try await EngineHarness.make([:], dir: dir)
        let done = try await second.engine.wait(submitted.taskUUID, timeoutSeconds: 30)
        #expect(done.status == .succeeded)
        #expect(second.provider.resumed == ["upstream-123"])
        #expect(second.provider.calls.isEmpty, "no new paid submission")
    }

    @Test(.timeLimit(.minutes(1)))
    func shutdownInterruptsRunningJobsWhenTheGracePeriodEndsOnTheEnginesClock() async throws {
        let clock = AtelierClock.manual()
        let h = try await EngineHarness.make(["model-c": [.hangAfterHandle("upstream-9")]], grace: 3600, clock: clock)
        defer { h.cleanup() }
        let submitted = try await h.engine.submit(task())
        for await handle in h.provider.handles.stream {
            #expect(handle == "upstream-9")
            break
        }
        let stopped = Task { await h.engine.shutdown() }
        // The grace period is a sleep on the engine's clock (no polling): the job runs on until the clock reaches it.
        await clock.waitForSleepers(1)
        #expect(clock.recordedSleeps == [.seconds(3600)])
        #expect(h.engine.cache.job(submitted.taskUUID)?.status == .running)
        clock.advance(by: .seconds(3600))
        await stopped.value
        let job = try await h.engine.job(submitted.taskUUID)
        #expect(job.status == .queued)
        #expect(job.attempts.last?.outcome == .interrupted)
        #expect(job.attempts.last?.resumeHandle == "upstream-9")
    }

    @Test func aRecordedHandleStaysOnItsAttemptThroughRetriesAndIsStored() async throws {
        let h = try await EngineHarness.make(["model-c": [.failAfterHandle("upstream-7", ProviderError(.unavailable, "503"))]])
        defer { h.cleanup() }
        let job = try await h.run(task())
        #expect(job.status == .succeeded)
        #expect(job.attempts.map(\.outcome) == [.failed, .succeeded])
        #expect(job.attempts.map(\.resumeHandle) == ["upstream-7", nil])
        #expect(h.provider.resumed.isEmpty, "a failed attempt is not resumed")
        let store = try JobStore(path: ResultFiles(root: h.dir).databasePath, durability: .normal)
        let stored = try #require(try await store.job(job.taskUUID))
        #expect(stored.attempts.map(\.resumeHandle) == ["upstream-7", nil])
    }

    @Test func groupCommitStoresConcurrentSubmissionsOnce() async throws {
        let h = try await EngineHarness.make([:])
        defer { h.cleanup() }
        let jobs = try await withThrowingTaskGroup(of: Job.self) { g in
            for i in 0..<200 { g.addTask { try await h.engine.submit(task("p\(i)")) } }
            var out: [Job] = []
            for try await j in g { out.append(j) }
            return out
        }
        #expect(Set(jobs.map(\.taskUUID)).count == 200)
        let page = try await h.engine.list(status: nil, limit: 1000, cursor: nil)
        #expect(page.jobs.count == 200)
    }
}
