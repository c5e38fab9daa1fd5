import AtelierCore
import AtelierEngine
import AtelierProviders
import Testing

/// What a verified attempt does in the job lifecycle, per mismatch policy (pure: no store, clock or provider).
@Suite("job lifecycle: verified results and the mismatch policy (pure)")
struct JobLifecycleVerificationTests {
    typealias F = JobLifecycleTests

    /// A result of 512×512 PNG verified against a 512×512 PNG request; `smaller` makes it 256×256.
    static func verified(_ n: Int, cost: Double? = 0.02, smaller: Bool = false) -> JobResult {
        var r = F.result(n, cost: cost)
        if smaller {
            r.width = 256
            r.height = 256
        }
        let asked = ResultVerifier.Requested(width: 512, height: 512, outputFormat: .png, numberResults: 1, seed: nil, upstreamModel: "model-c")
        r.verification = ResultVerifier.verify(
            asked, ResultVerifier.Delivered(width: r.width, height: r.height, mimeType: r.mimeType, model: "model-c", seed: nil, count: 1))
        return r
    }

    static func discarded(_ actions: [JobLifecycle.Action]) -> [JobResult] {
        actions.flatMap { action -> [JobResult] in
            if case .discardResults(let r) = action { return r }
            return []
        }
    }

    @Test func aMatchingResultSucceedsUnderEveryPolicy() throws {
        for policy in MismatchPolicy.allCases {
            var (lifecycle, _) = try F.started(F.card("model-c", seedHonored: false))
            let done = lifecycle.apply(.attemptDelivered([Self.verified(1)], onMismatch: policy, unitRandom: 0.5, now: F.at(2)))
            #expect(lifecycle.job.status == .succeeded, "\(policy)")
            #expect(F.published(done) == [.result, .succeeded])
            #expect(Self.discarded(done).isEmpty)
        }
    }

    @Test func flagKeepsAMismatchedResultAndSucceeds() throws {
        var (lifecycle, _) = try F.started(F.card("model-c", seedHonored: false))
        let small = Self.verified(1, smaller: true)
        let done = lifecycle.apply(.attemptDelivered([small], onMismatch: .flag, unitRandom: 0.5, now: F.at(2)))
        #expect(lifecycle.job.status == .succeeded)
        #expect(lifecycle.job.results == [small])
        #expect(lifecycle.job.results.first?.verification?.fields == ["width", "height"])
        #expect(F.persisted(done) == [.succeeded])
        #expect(Self.discarded(done).isEmpty)
    }

    @Test func failEndsTheJobWithResultMismatchNamingTheFields() throws {
        var (lifecycle, _) = try F.started(F.card("model-c", seedHonored: false))
        let small = Self.verified(1, cost: 0.03, smaller: true)
        let done = lifecycle.apply(.attemptDelivered([small], onMismatch: .fail, unitRandom: 0.5, now: F.at(2)))
        #expect(lifecycle.phase == .finished)
        #expect(lifecycle.job.status == .failed)
        let error = try #require(lifecycle.job.error)
        #expect(error.code == .resultMismatch)
        #expect(error.message.contains("width, height"))
        #expect(error.details["fields"] == .array([.string("width"), .string("height")]))
        #expect(error.details["mismatches"]?.arrayValue?.count == 2)
        #expect(lifecycle.job.results.isEmpty)
        #expect(lifecycle.job.costUSD == 0.03, "what was paid for is charged")
        #expect(lifecycle.job.attempts.map(\.outcome) == [.failed])
        #expect(lifecycle.job.attempts.first?.error?.code == .resultMismatch)
        #expect(Self.discarded(done) == [small])
        #expect(done.first == .discardResults([small]))
        #expect(done.contains(.recordBreaker(model: "model-c", success: false)))
        #expect(!done.contains { if case .chooseFallback = $0 { true } else { false } }, "fail never falls back")
        #expect(F.persisted(done) == [.failed])
        #expect(F.published(done) == [.failed])
        #expect(done.last == .release)
    }

    @Test func retryCountsAFailedAttemptRetriesThenFallsBack() throws {
        var (lifecycle, _) = try F.started(F.card("model-c", seedHonored: false), maxAttempts: 2)
        let small = Self.verified(1, smaller: true)
        let first = lifecycle.apply(.attemptDelivered([small], onMismatch: .retry, unitRandom: 0.5, now: F.at(2)))
        #expect(first.first == .discardResults([small]))
        #expect(first.last == .sleep(seconds: 0.75))
        #expect(lifecycle.phase == .backingOff(model: "model-c", attemptOnModel: 1))
        #expect(lifecycle.job.attempts.map(\.outcome) == [.failed])
        #expect(lifecycle.job.attempts.first?.error?.code == .resultMismatch)
        #expect(lifecycle.job.results.isEmpty)

        _ = lifecycle.apply(.backoffElapsed(now: F.at(3)))
        let second = lifecycle.apply(.attemptDelivered([Self.verified(2, smaller: true)], onMismatch: .retry, unitRandom: 0.5, now: F.at(4)))
        #expect(second.last == .chooseFallback(after: "model-c", refused: false, excluding: ["model-c"]))

        let other = F.card("model-d", seedHonored: false)
        _ = lifecycle.apply(.fallbackChosen(try F.runnable(other), seedDraw: 0.5, now: F.at(5)))
        #expect(lifecycle.job.route?.reasons.last == "fell back to model-d after result_mismatch")
        let done = lifecycle.apply(.attemptDelivered([Self.verified(3)], onMismatch: .retry, unitRandom: 0.5, now: F.at(6)))
        #expect(lifecycle.job.status == .succeeded)
        #expect(lifecycle.job.attempts.map(\.outcome) == [.failed, .failed, .succeeded])
        #expect(lifecycle.job.results.map(\.imageUUID) == ["image-3"])
        #expect(Self.discarded(done).isEmpty)
    }

    @Test func retryWithNoModelLeftFailsWithResultMismatch() throws {
        var (lifecycle, _) = try F.started(F.card("model-c", seedHonored: false), maxAttempts: 1)
        let actions = lifecycle.apply(
            .attemptDelivered([Self.verified(1, smaller: true)], onMismatch: .retry, unitRandom: 0.5, now: F.at(2)))
        #expect(actions.last == .chooseFallback(after: "model-c", refused: false, excluding: ["model-c"]))
        _ = lifecycle.apply(.fallbackChosen(nil, seedDraw: 0.5, now: F.at(3)))
        #expect(lifecycle.job.status == .failed)
        #expect(lifecycle.job.error?.code == .resultMismatch)
        #expect(lifecycle.job.error?.message.contains("width, height") == true)
    }

    @Test func unverifiedResultsSucceedAsBefore() throws {
        var (lifecycle, _) = try F.started(F.card("model-c", seedHonored: false))
        _ = lifecycle.apply(.attemptDelivered([F.result(1, cost: 0.01)], onMismatch: .fail, unitRandom: 0.5, now: F.at(2)))
        #expect(lifecycle.job.status == .succeeded)
    }
}
