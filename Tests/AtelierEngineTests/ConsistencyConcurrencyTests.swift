import AtelierCore
import AtelierEngine
import AtelierImaging
import AtelierProviders
import AtelierTestSupport
import Foundation
import Synchronization
import Testing

/// A provider that records how many calls are in flight at once and holds every call until `release` calls are in
/// flight together (then lets all through); each call draws another picture.
final class ParallelismProvider: Provider {
    let id = "fake"
    private let gate = Gate()
    private let release: Int
    private let state = Mutex<(inFlight: Int, maxInFlight: Int, calls: Int)>((0, 0, 0))

    init(release: Int) { self.release = release }

    var maxInFlight: Int { state.withLock { $0.maxInFlight } }
    var calls: Int { state.withLock { $0.calls } }

    /// Lets every held and future call through.
    func open() { gate.open() }

    func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        let (n, reached) = state.withLock { s -> (Int, Bool) in
            s.inFlight += 1
            s.calls += 1
            s.maxInFlight = max(s.maxInFlight, s.inFlight)
            return (s.calls, s.inFlight >= release)
        }
        if reached { gate.open() }
        await gate.wait()
        let path = request.scratchDirectory + "/\(request.attemptKey).png"
        let image = LocalRenderer.render(prompt: request.task.positivePrompt, negativePrompt: "", seed: UInt64(n), width: 64, height: 64)
        FileManager.default.createFile(atPath: path, contents: Data(PNGEncoder.encode(image)))
        state.withLock { $0.inFlight -= 1 }
        return [GeneratedImage(path: path, mimeType: "image/png", seed: nil, costUSD: 0.01)]
    }

    func resume(handle: String, request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        throw ProviderError(.unavailable, "not resumable")
    }
}

/// Best-of-N candidates run in parallel, but never more at once than the provider's concurrency (4 in the fixture):
/// the job's own slot plus the provider's free slots, borrowed for the round.
@Suite("consistency: candidates within the provider's concurrency")
struct ConsistencyConcurrencyTests {
    @Test func sixCandidatesRunFourAtATime() async throws {
        let provider = ParallelismProvider(release: 4)
        let h = try await EngineFixture.make(
            "consistency-par", provider: provider, models: [model("model-a", seed: false, safety: "alpha", cost: 0.01)], waits: .instant,
            random: { 0.5 })
        defer { h.cleanup() }
        let reference = LocalRenderer.render(prompt: "a kite", negativePrompt: "", seed: 0, width: 64, height: 64)
        var task = ImageTask(positivePrompt: "a kite", model: "model-a", size: .pixels(PixelSize(width: 64, height: 64)))
        task.consistency = ConsistencyRequest(samples: 6, against: .image(.base64(Data(PNGEncoder.encode(reference)).base64EncodedString())))
        let id = try await h.engine.submit(task).taskUUID
        let fourAtOnce = try await eventually(timeout: .seconds(60), "four candidates in flight at once") { provider.maxInFlight >= 4 }
        provider.open()  // a failed wait above must not leave the job held
        #expect(fourAtOnce)
        let done = try await eventuallyValue(timeout: .seconds(60), "the job finishes") { () async throws -> Job? in
            let j = try await h.engine.job(id)
            return j.status.isTerminal ? j : nil
        }
        let job = try #require(done)
        #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
        #expect(provider.calls == 6)
        #expect(provider.maxInFlight == 4, "never more calls at once than the provider's concurrency")
        #expect(job.results.first?.consistency?.candidates.count == 6)
        #expect(abs((job.costUSD ?? 0) - 0.06) < 1e-9)
        await h.engine.shutdown()
    }
}
