import AtelierCore
import AtelierProviders
import Foundation
import GRDB
import Synchronization
import Testing

@testable import AtelierEngine

/// A provider whose calls wait until the test opens the gate; counts calls (a provider is never paid twice).
final class GatedProvider: Provider {
    let id = "fake"
    private let gate = Gate()
    private let callCount = Mutex(0)

    var calls: Int { callCount.withLock { $0 } }

    /// Lets every waiting and future call through.
    func open() { gate.open() }

    func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        callCount.withLock { $0 += 1 }
        await gate.wait()
        return ScriptedProvider.writeImage(request)
    }

    func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        ScriptedProvider.writeImage(request)
    }
}

/// Waits for each job: it succeeded in one attempt, its result files are on disk.
func expectEachSucceededInOneAttempt(_ ids: [String], _ engine: Engine, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    for id in ids {
        let j = try await engine.wait(id, timeoutSeconds: 120)
        #expect(j.status == .succeeded, "\(id): \(j.status) \(j.error?.description ?? "")", sourceLocation: sourceLocation)
        #expect(j.attempts.count == 1, sourceLocation: sourceLocation)
        for r in j.results { #expect(FileManager.default.fileExists(atPath: r.path), sourceLocation: sourceLocation) }
    }
}

/// A transient store fault (disk full, I/O error, busy) must never lose, fail or strand an acknowledged job: the
/// engine retries the state change until it commits, and refuses new work with a retryable `store_failure` meanwhile.
@Suite("store faults")
struct StoreFaultTests {
    /// One seed-honouring model behind a gated provider, over a store whose commits can be made to fail, with real
    /// (short) backoff waits: the retries must keep going by themselves until the store recovers.
    static func make() async throws -> EngineFixture<GatedProvider> {
        try await EngineFixture.make(
            "storefault", provider: GatedProvider(), models: [model("model-a", seed: true, safety: "alpha", cost: 0.02)],
            retry: RetryPolicy(maxAttempts: 2, baseDelaySeconds: 1, maxDelaySeconds: 10), waits: .live, random: { 0.5 })
    }

    static func task(_ i: Int) -> ImageTask {
        var t = ImageTask(positivePrompt: "store fault \(i)")
        t.model = "model-a"
        t.seed = Int64(i + 1)
        return t
    }

    @Test func aFullDiskNeitherFailsNorStrandsAcknowledgedJobs() async throws {
        let h = try await Self.make()
        defer { h.cleanup() }
        // Ten acknowledged jobs: four running (held at the provider), six queued.
        var ids: [String] = []
        for i in 0..<10 { ids.append(try await h.engine.submit(Self.task(i)).taskUUID) }
        guard try await eventually(timeout: .seconds(120), "four jobs running", { h.provider.calls == 4 }) else { return }

        // The disk fills: every commit fails from now on.
        h.faults.failCommits(with: .SQLITE_FULL)
        h.provider.open()
        // The finished attempts cannot be recorded: the engine keeps retrying them.
        guard try await eventually(timeout: .seconds(120), "commits retried", { h.faults.injectedCount >= 20 }) else { return }

        // New work is refused, retryably, saying why.
        do {
            _ = try await h.engine.submit(Self.task(100))
            Issue.record("a submit was acknowledged while the store could not commit")
        } catch {
            #expect(error.code == .storeFailure)
            #expect(error.retryable)
            #expect(error.message.contains("disk full at \(h.dir)"), "\(error.message)")
        }
        // Health says so.
        let degraded = await h.engine.health()
        #expect(!degraded.isOK)
        #expect(degraded.store.ok == false)
        #expect(degraded.store.error?.contains("disk full at \(h.dir)") == true)
        #expect(degraded.store.since != nil)
        // Nothing failed; the jobs keep their last committed state.
        for id in ids { #expect(try await h.engine.job(id).status != .failed) }

        // Space is freed: everything finishes by itself, each provider call made once.
        h.faults.stop()
        try await expectEachSucceededInOneAttempt(ids, h.engine)
        // What the store holds, not just the cache.
        for id in ids { #expect(try await h.store.job(id)?.status == .succeeded) }
        #expect(h.provider.calls == 10)
        let ok = await h.engine.health()
        #expect(ok.isOK)
        #expect(ok.store.ok && ok.store.error == nil && ok.store.since == nil)
        #expect(ok.queued == 0)
        #expect(ok.running == 0)
        // Submits are acknowledged again.
        let again = try await h.engine.submit(Self.task(200))
        #expect(try await h.engine.wait(again.taskUUID, timeoutSeconds: 120).status == .succeeded)
    }

    @Test func aBusyStoreDuringAStateChangeIsRetriedUntilItCommits() async throws {
        let h = try await Self.make()
        defer { h.cleanup() }
        // The next commit (the submit's own insert) fails as a lock held past the busy timeout would.
        h.faults.failCommits(1, with: .SQLITE_BUSY)
        do {
            _ = try await h.engine.submit(Self.task(1))
            Issue.record("the submit was acknowledged although its insert failed")
        } catch {
            #expect(error.code == .storeFailure)
            #expect(error.retryable)
            #expect(error.message.contains("busy"), "\(error.message)")
        }
        let j = try await h.engine.submit(Self.task(2))
        guard try await eventually(timeout: .seconds(120), "the job running", { h.provider.calls == 1 }) else { return }
        // The next 5 commits (the attempt's result among them) hit I/O errors.
        h.faults.failCommits(5, with: .SQLITE_IOERR)
        h.provider.open()
        let done = try await h.engine.wait(j.taskUUID, timeoutSeconds: 120)
        #expect(done.status == .succeeded)
        #expect(h.faults.injectedCount == 6)
        #expect(try await h.store.job(j.taskUUID)?.status == .succeeded)
        #expect(await h.engine.health().store.ok)
    }

    @Test func aWorkflowSubmitDuringAStoreFaultIsRefusedRetryably() async throws {
        let dir = "/tmp/storefault-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = ResultFiles(root: dir)
        try files.prepare()
        let faults = StoreFaultInjection()
        let store = WorkflowStore(jobs: try JobStore(path: files.databasePath, durability: .normal, faultInjection: faults))
        let spec = try WorkflowSpec(json: try JSONParser.parse(#"{"positivePrompt":"a kite"}"#))
        let w = Workflow(spec: spec, finalSeed: 7, createdAt: .now())
        faults.failCommits(1, with: .SQLITE_FULL)
        do {
            _ = try await store.insert(w)
            Issue.record("the workflow was stored although its commit failed")
        } catch let e as AtelierError {
            #expect(e.code == .storeFailure && e.retryable)
            #expect(e.message.contains("disk full at \(dir)"), "\(e.message)")
        }
        // Once the store takes writes, the same request is accepted.
        guard case .inserted = try await store.insert(w) else {
            Issue.record("the workflow was not inserted after the fault")
            return
        }
        #expect(try await store.workflow(w.workflowUUID) != nil)
    }

    @Test func storeFaultMessagesSayWhy() {
        let dir = "/data/atelier"
        #expect(StoreFault(DatabaseError(resultCode: .SQLITE_FULL), directory: dir)?.message == "disk full at /data/atelier")
        #expect(
            StoreFault(DatabaseError(resultCode: .SQLITE_IOERR_WRITE), directory: dir)?.message.hasPrefix(
                "I/O error writing the store at /data/atelier") == true)
        #expect(StoreFault(DatabaseError(resultCode: .SQLITE_BUSY), directory: dir)?.message.contains("busy") == true)
        // Not a store fault: bugs and bad data are not retried.
        #expect(StoreFault(DatabaseError(resultCode: .SQLITE_CONSTRAINT), directory: dir) == nil)
        #expect(StoreFault(AtelierError(.storeFailure, "job vanished"), directory: dir) == nil)
        let e = StoreFault(message: "disk full at /x").atelierError
        #expect(e.code == .storeFailure && e.retryable && e.message.contains("disk full at /x"))
    }

    @Test func conditionReportsTheOldestFailureUntilCleared() {
        let c = StoreCondition()
        #expect(c.status.ok && c.status.error == nil && c.status.since == nil)
        c.record(.database, "disk full at /x")
        let first = c.status
        #expect(!first.ok && first.error == "disk full at /x" && first.since != nil)
        c.record(.database, "disk full at /x")
        #expect(c.status.since == first.since)
        c.record(.files, "cannot write result files")
        #expect(c.status.error == "disk full at /x; cannot write result files")
        c.clear(.database)
        #expect(c.status.error == "cannot write result files")
        c.clear(.files)
        #expect(c.status.ok)
    }
}

/// A provider that holds each image in memory and writes it through `request.resultWrites`, failing the write as a
/// full disk does (`store_failure`, errno 28) while the disk is "full"; counts calls and failed writes.
final class DiskBoundProvider: Provider {
    let id = "fake"
    private let state = Mutex((calls: 0, full: true, failedWrites: 0))

    var calls: Int { state.withLock { $0.calls } }
    var failedWrites: Int { state.withLock { $0.failedWrites } }

    /// Space is back: writes succeed from now on.
    func free() { state.withLock { $0.full = false } }

    func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        state.withLock { $0.calls += 1 }
        // The image was made (and paid for); only its write waits for the disk.
        return try await request.resultWrites.perform { [self] () throws(ProviderError) -> [GeneratedImage] in
            let full = state.withLock { s -> Bool in
                if s.full { s.failedWrites += 1 }
                return s.full
            }
            if full { throw ProviderError(.storeFailure, "cannot write the image file (errno 28)") }
            return ScriptedProvider.writeImage(request)
        }
    }

    func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        try await generate(request, context: context)
    }
}

@Suite("store faults: a provider's own writes")
struct ProviderWriteFaultTests {
    @Test func aFullDiskDuringAProvidersWriteHoldsThePaidImageInsteadOfFailingOrPayingAgain() async throws {
        let h = try await EngineFixture.make(
            "providerwrite", provider: DiskBoundProvider(), models: [model("model-a", seed: true, safety: "alpha", cost: 0.02)],
            retry: RetryPolicy(maxAttempts: 3, baseDelaySeconds: 1, maxDelaySeconds: 10), waits: .live, random: { 0.5 })
        defer { h.cleanup() }
        var ids: [String] = []
        for i in 0..<3 { ids.append(try await h.engine.submit(StoreFaultTests.task(i)).taskUUID) }
        // Each call's write fails again and again (the engine retries it with backoff) — the calls are not repeated.
        guard try await eventually(timeout: .seconds(120), "writes retried", { h.provider.failedWrites >= 9 }) else { return }
        #expect(h.provider.calls == 3, "a provider was called again while its image waited for the disk")
        for id in ids { #expect(try await h.engine.job(id).status == .running) }
        // Health says why.
        let degraded = await h.engine.health()
        #expect(!degraded.isOK)
        #expect(degraded.store.error?.contains("cannot write result files under \(h.dir)") == true, "\(degraded.store.error ?? "nil")")
        // Space is back: each job finishes with the image of its one call.
        h.provider.free()
        try await expectEachSucceededInOneAttempt(ids, h.engine)
        #expect(h.provider.calls == 3)
        let ok = await h.engine.health()
        #expect(ok.isOK && ok.store.error == nil)
    }

    @Test func aProvidersWriteThatFailsForAnotherReasonEndsAtOnceWithItsOwnError() async throws {
        let h = try await EngineFixture.make(
            "providerwrite-other", provider: DiskBoundProvider(), models: [model("model-a", seed: true, safety: "alpha", cost: 0.02)],
            waits: .live, random: { 0.5 })
        defer { h.cleanup() }
        let refused = ProviderError(.unavailable, "the image URL answered 503", retryAfterSeconds: 7, httpStatus: 503)
        let runs = Mutex(0)
        do {
            _ = try await h.engine.resultWrites("5b0c1a52-1b7e-4c7e-9a57-3f3d1b6b2a01").perform { () throws(ProviderError) -> Int in
                runs.withLock { $0 += 1 }
                throw refused
            }
            Issue.record("the write did not fail")
        } catch {
            #expect(error == refused, "the provider's error came back changed: \(error)")
        }
        #expect(runs.withLock { $0 } == 1)
        #expect(await h.engine.health().store.ok)
    }
}
