import AtelierCore
import AtelierEngine
import AtelierProviders
import Testing

/// The job lifecycle without a store, a clock or a provider: each test is the pure twin of an engine test (inputs in,
/// state and actions out).
@Suite("job lifecycle (pure)")
struct JobLifecycleTests {
    // MARK: - Fixtures

    static let t0 = Timestamp(milliseconds: 1_700_000_000_000)
    static func at(_ seconds: Double) -> Timestamp { t0.adding(seconds: seconds) }

    static func card(_ id: String, seedHonored: Bool = true, price: PriceRule = .perImage(usd: 0.02, perInputImageUSD: 0)) -> ModelCard {
        ModelCard(
            id: id, provider: "fake", kind: .runware, upstreamID: id, displayName: id, seedHonored: seedHonored, seedAccepted: true,
            textRendering: 3, quality: 3, latencySeconds: 1, maxReferenceImages: 0, maxPromptLength: 1000, numberResults: 1...4,
            outputFormats: [.png],
            sizes: .range(.init(minWidth: 64, maxWidth: 2048, minHeight: 64, maxHeight: 2048, multipleOf: 8, maxMegapixels: 4.2)),
            price: price, safetyPolicy: "alpha")
    }

    static func imageTask(seed: Int64? = nil, numberResults: Int = 1) -> ImageTask {
        var t = ImageTask(positivePrompt: "a cat", size: .pixels(PixelSize(width: 512, height: 512)), seed: seed)
        t.numberResults = numberResults
        return t
    }

    static func job(routedTo model: String = "model-c", task: ImageTask = imageTask()) -> Job {
        Job(task: task, createdAt: t0, route: RouteSummary(provider: "fake", model: model, reasons: ["cheapest"], estimatedCostUSD: 0.02))
    }

    /// The candidate the engine would find for `card` (its size resolved from the task).
    static func runnable(_ card: ModelCard, maxAttempts: Int = 2, task: ImageTask = imageTask()) throws -> JobLifecycle.Candidate {
        guard case .success(let size) = card.check(task) else { throw LifecycleTestFailure.sizeNotResolved }
        return .runnable(card, retry: RetryPolicy(maxAttempts: maxAttempts, baseDelaySeconds: 1, maxDelaySeconds: 10), size: size)
    }

    static func result(_ n: Int, cost: Double?) -> JobResult {
        JobResult(
            imageUUID: "image-\(n)", path: "/images/\(n).png", mimeType: "image/png", width: 512, height: 512, bytes: 100, sha256: "00",
            seed: nil, seedHonored: false, costUSD: cost)
    }

    enum LifecycleTestFailure: Error { case sizeNotResolved }

    /// A queued job that got its slot on `card`: the lifecycle and the answer to `slotGranted`.
    static func started(
        _ card: ModelCard, job: Job? = nil, maxAttempts: Int = 2, seedDraw: Double = 0.5
    ) throws -> (JobLifecycle, [JobLifecycle.Action]) {
        let j = job ?? Self.job(routedTo: card.id)
        var lifecycle = JobLifecycle(job: j)
        let actions = lifecycle.apply(.slotGranted(try runnable(card, maxAttempts: maxAttempts, task: j.task), seedDraw: seedDraw, now: at(1)))
        return (lifecycle, actions)
    }

    /// The events published by `actions`, in order.
    static func published(_ actions: [JobLifecycle.Action]) -> [JobEventKind] {
        actions.compactMap { if case .publish(let kind, _, _) = $0 { kind } else { nil } }
    }

    /// The events persisted by `actions`, in order (nil: a change without an event).
    static func persisted(_ actions: [JobLifecycle.Action]) -> [JobEventKind?] {
        actions.compactMap { if case .persist(_, let event, _) = $0 { .some(event) } else { nil } }
    }

    // MARK: - Attempts, retries, fallbacks

    @Test func aSlotStartsTheFirstAttemptPersistedThenPublishedThenCalled() throws {
        let (lifecycle, actions) = try Self.started(Self.card("model-c", seedHonored: false))
        #expect(lifecycle.phase == .attempting(model: "model-c", attemptOnModel: 1))
        #expect(lifecycle.job.status == .running)
        #expect(lifecycle.job.startedAt == Self.at(1))
        #expect(lifecycle.job.attempts.map(\.outcome) == [.running])
        #expect(Self.persisted(actions) == [.running])
        #expect(Self.published(actions) == [.running])
        #expect(actions.last == .call(model: "model-c", resumeHandle: nil))
        #expect(lifecycle.job.route?.reasons == ["cheapest"], "the routed model adds no fallback reason")
    }

    @Test func backoffThenSuccess() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        let failed = lifecycle.apply(.attemptFailed(ProviderError(.unavailable, "503"), unitRandom: 0.5, now: Self.at(2)))
        #expect(failed.first == .persist(lifecycle.job, event: nil, newResults: []))
        #expect(failed.contains(.recordBreaker(model: "model-c", success: false)))
        // Full jitter on a 1 s base with random 0.5: 0.5 + 0.5 × 0.5.
        #expect(failed.last == .sleep(seconds: 0.75))
        #expect(lifecycle.phase == .backingOff(model: "model-c", attemptOnModel: 1))
        #expect(lifecycle.job.error?.code == .unavailable)

        let retried = lifecycle.apply(.backoffElapsed(now: Self.at(3)))
        #expect(retried.last == .call(model: "model-c", resumeHandle: nil))
        #expect(lifecycle.phase == .attempting(model: "model-c", attemptOnModel: 2))

        let done = lifecycle.apply(.attemptSucceeded([Self.result(1, cost: 0.01)], now: Self.at(4)))
        #expect(lifecycle.phase == .finished)
        #expect(lifecycle.job.status == .succeeded)
        #expect(lifecycle.job.error == nil)
        #expect(lifecycle.job.attempts.map(\.outcome) == [.failed, .succeeded])
        #expect(lifecycle.job.attempts.first?.error?.code == .unavailable)
        #expect(lifecycle.job.finishedAt == Self.at(4))
        #expect(Self.persisted(done) == [.succeeded])
        #expect(Self.published(done) == [.result, .succeeded])
        #expect(done.contains(.recordBreaker(model: "model-c", success: true)))
        #expect(done.last == .release)
    }

    @Test func retryAfterIsHonoured() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        let actions = lifecycle.apply(
            .attemptFailed(ProviderError(.rateLimited, "slow down", retryAfterSeconds: 37), unitRandom: 0.5, now: Self.at(2)))
        #expect(actions.last == .sleep(seconds: 37))
        #expect(lifecycle.phase == .backingOff(model: "model-c", attemptOnModel: 1))
    }

    @Test func aRetryWaitIsCappedAtOneHour() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        let actions = lifecycle.apply(
            .attemptFailed(ProviderError(.rateLimited, "tomorrow", retryAfterSeconds: 86_400), unitRandom: 0.5, now: Self.at(2)))
        #expect(actions.last == .sleep(seconds: 3600))
    }

    @Test func invalidRequestIsTerminalWithoutFallback() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        let actions = lifecycle.apply(
            .attemptFailed(ProviderError(.invalidRequest, "bad width", field: "/width"), unitRandom: 0.5, now: Self.at(2)))
        #expect(lifecycle.phase == .finished)
        #expect(lifecycle.job.status == .failed)
        #expect(lifecycle.job.error?.code == .invalidRequest)
        #expect(lifecycle.job.error?.field == "/width")
        #expect(Self.persisted(actions) == [nil, .failed])
        #expect(Self.published(actions) == [.failed])
        #expect(!actions.contains { if case .chooseFallback = $0 { true } else { false } }, "never another model")
        #expect(!actions.contains { if case .sleep = $0 { true } else { false } }, "never retried")
        #expect(!actions.contains(.recordBreaker(model: "model-c", success: false)), "a bad request says nothing about the model")
        #expect(actions.last == .release)
    }

    @Test func anExhaustedModelFallsBackWithTheReason() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        let fail = ProviderError(.unavailable, "down")
        _ = lifecycle.apply(.attemptFailed(fail, unitRandom: 0.5, now: Self.at(2)))
        _ = lifecycle.apply(.backoffElapsed(now: Self.at(3)))
        let exhausted = lifecycle.apply(.attemptFailed(fail, unitRandom: 0.5, now: Self.at(4)))
        #expect(exhausted.last == .chooseFallback(after: "model-c", refused: false, excluding: ["model-c"]))
        #expect(lifecycle.phase == .choosingFallback(after: "model-c", refused: false))

        let next = lifecycle.apply(.fallbackChosen(try Self.runnable(Self.card("model-a")), seedDraw: 0.5, now: Self.at(5)))
        #expect(next.last == .call(model: "model-a", resumeHandle: nil))
        #expect(lifecycle.job.route?.model == "model-a")
        #expect(lifecycle.job.route?.reasons.last == "fell back to model-a after unavailable")
        #expect(lifecycle.job.attempts.map(\.model) == ["model-c", "model-c", "model-a"])
        #expect(lifecycle.job.attempts.map(\.number) == [1, 2, 3])
        #expect(lifecycle.tried == ["model-c", "model-a"])
    }

    @Test func aModelThatCannotRunHereIsSkippedAndNoCandidateLeftFailsWithTheLastError() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false), maxAttempts: 1)
        _ = lifecycle.apply(.attemptFailed(ProviderError(.timeout, "slow"), unitRandom: 0.5, now: Self.at(2)))
        let skipped = lifecycle.apply(.fallbackChosen(.unavailable("model-x"), seedDraw: 0.5, now: Self.at(3)))
        #expect(skipped == [.chooseFallback(after: "model-x", refused: false, excluding: ["model-c", "model-x"])])
        let none = lifecycle.apply(.fallbackChosen(nil, seedDraw: 0.5, now: Self.at(4)))
        #expect(lifecycle.job.status == .failed)
        #expect(lifecycle.job.error?.code == .timeout)
        #expect(Self.published(none) == [.failed])
    }

    @Test func anUnrunnableRoutedModelWithNoFallbackFailsNoRoute() {
        var lifecycle = JobLifecycle(job: Self.job(routedTo: "model-gone"))
        let first = lifecycle.apply(.slotGranted(.unavailable("model-gone"), seedDraw: 0.5, now: Self.at(1)))
        #expect(first == [.chooseFallback(after: "model-gone", refused: false, excluding: ["model-gone"])])
        _ = lifecycle.apply(.fallbackChosen(nil, seedDraw: 0.5, now: Self.at(2)))
        #expect(lifecycle.job.status == .failed)
        #expect(lifecycle.job.error?.code == .noRoute)
        #expect(lifecycle.job.attempts.isEmpty)
    }

    @Test func aRefusalFallsBackOnlyAsARefusalAndSparesTheBreaker() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-a"))
        let actions = lifecycle.apply(.attemptFailed(ProviderError(.refused, "content policy"), unitRandom: 0.5, now: Self.at(2)))
        // Not retried on the same model; the router is asked for a model that may serve a refused task.
        #expect(actions.last == .chooseFallback(after: "model-a", refused: true, excluding: ["model-a"]))
        #expect(!actions.contains { if case .recordBreaker = $0 { true } else { false } })
        #expect(lifecycle.phase == .choosingFallback(after: "model-a", refused: true))
        // Where the rules allow none, the job fails with the refusal.
        _ = lifecycle.apply(.fallbackChosen(nil, seedDraw: 0.5, now: Self.at(3)))
        #expect(lifecycle.job.status == .failed)
        #expect(lifecycle.job.error?.code == .refused)
    }

    // MARK: - Cancel, stop, recovery

    @Test func cancelWhileQueuedFinishesAtOnce() {
        var lifecycle = JobLifecycle(job: Self.job())
        let actions = lifecycle.apply(.cancelRequested(now: Self.at(1)))
        #expect(actions.first == .dequeue)
        #expect(Self.persisted(actions) == [.cancelled])
        #expect(Self.published(actions) == [.cancelled])
        #expect(!actions.contains(.release), "a queued job holds no slot")
        #expect(lifecycle.phase == .finished)
        #expect(lifecycle.job.status == .cancelled)
        #expect(lifecycle.job.error?.code == .cancelled)
        #expect(lifecycle.job.finishedAt == Self.at(1))
        // A slot granted meanwhile is given back without running anything.
        #expect(lifecycle.apply(.slotGranted(.unavailable("model-c"), seedDraw: 0.5, now: Self.at(2))) == [.release])
    }

    @Test func cancelDuringAnAttemptEndsItCancelled() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        #expect(lifecycle.apply(.cancelRequested(now: Self.at(2))) == [.stopRun])
        #expect(lifecycle.cancelRequested)
        #expect(lifecycle.job.status == .running, "the running work ends first")
        let stopped = lifecycle.apply(.stopped(now: Self.at(3)))
        #expect(lifecycle.job.status == .cancelled)
        #expect(lifecycle.job.attempts.map(\.outcome) == [.cancelled])
        #expect(lifecycle.job.attempts.last?.endedAt == Self.at(3))
        #expect(Self.persisted(stopped) == [.cancelled])
        #expect(Self.published(stopped) == [.cancelled])
        #expect(stopped.last == .release)
    }

    @Test func aProviderAnswerOfCancelledIsAStop() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        _ = lifecycle.apply(.cancelRequested(now: Self.at(2)))
        let actions = lifecycle.apply(.attemptFailed(ProviderError(.cancelled, "cancelled"), unitRandom: 0.5, now: Self.at(3)))
        #expect(lifecycle.job.status == .cancelled)
        #expect(lifecycle.job.attempts.map(\.outcome) == [.cancelled])
        #expect(!actions.contains { if case .recordBreaker = $0 { true } else { false } })
    }

    @Test func cancelDuringABackoffEndsTheJobCancelled() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        _ = lifecycle.apply(.attemptFailed(ProviderError(.unavailable, "503"), unitRandom: 0.5, now: Self.at(2)))
        #expect(lifecycle.apply(.cancelRequested(now: Self.at(2.5))) == [.stopRun])
        _ = lifecycle.apply(.stopped(now: Self.at(2.6)))
        #expect(lifecycle.job.status == .cancelled)
        #expect(lifecycle.job.attempts.map(\.outcome) == [.failed], "the failed attempt keeps its outcome")
    }

    @Test func aStopDuringAnAttemptLeavesTheJobQueuedWithItsHandle() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        let recorded = lifecycle.apply(.handleRecorded("upstream-123", now: Self.at(2)))
        #expect(recorded == [.persist(lifecycle.job, event: nil, newResults: [])])
        let actions = lifecycle.apply(.stopped(now: Self.at(3)))
        #expect(lifecycle.phase == .queued)
        #expect(lifecycle.job.status == .queued)
        #expect(lifecycle.job.attempts.last?.outcome == .interrupted)
        #expect(lifecycle.job.attempts.last?.resumeHandle == "upstream-123")
        #expect(actions == [.persist(lifecycle.job, event: .interrupted, newResults: []), .release])
        #expect(Self.published(actions).isEmpty, "an interruption is stored, never published")
    }

    @Test func recoveryInterruptsTheRunningAttemptAndResumesFromItsHandle() throws {
        // As stored when the daemon stopped mid-call: running, the attempt running with its handle.
        var stored = Self.job()
        stored.status = .running
        stored.attempts = [Attempt(number: 1, provider: "fake", model: "model-c", startedAt: Self.at(1), resumeHandle: "upstream-123")]
        var lifecycle = JobLifecycle(job: stored)
        let actions = lifecycle.apply(.recovered(now: Self.at(10)))
        #expect(lifecycle.job.status == .queued)
        #expect(lifecycle.job.attempts.last?.outcome == .interrupted)
        #expect(lifecycle.job.attempts.last?.error?.code == .unavailable)
        #expect(lifecycle.job.attempts.last?.endedAt == Self.at(10))
        #expect(actions == [.persist(lifecycle.job, event: nil, newResults: []), .enqueue])

        // At its slot, the same model resumes from the handle instead of paying for a new call.
        let resumed = lifecycle.apply(
            .slotGranted(try Self.runnable(Self.card("model-c", seedHonored: false)), seedDraw: 0.5, now: Self.at(11)))
        #expect(resumed.last == .call(model: "model-c", resumeHandle: "upstream-123"))
        #expect(lifecycle.job.attempts.map(\.outcome) == [.interrupted, .running])
    }

    @Test func recoveryOfAQueuedJobOnlyEnqueuesIt() {
        let queued = Self.job()
        var lifecycle = JobLifecycle(job: queued)
        #expect(lifecycle.apply(.recovered(now: Self.at(10))) == [.enqueue])
        #expect(lifecycle.job == queued)
    }

    @Test func anAcceptedJobIsEnqueuedThenPublishedQueued() {
        let accepted = Self.job()
        var lifecycle = JobLifecycle(job: accepted)
        #expect(lifecycle.apply(.accepted) == [.enqueue, .publish(.queued, job: accepted, result: nil)])
        #expect(lifecycle.phase == .queued)
    }

    @Test func aHandleRecordedBeforeAFailureStaysOnItsAttempt() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        _ = lifecycle.apply(.handleRecorded("upstream-7", now: Self.at(2)))
        let failed = lifecycle.apply(.attemptFailed(ProviderError(.unavailable, "503"), unitRandom: 0.5, now: Self.at(3)))
        guard case .persist(let persisted, _, _) = failed.first else {
            Issue.record("a failure is persisted first: \(failed)")
            return
        }
        #expect(persisted.attempts.map(\.resumeHandle) == ["upstream-7"])
        let retried = lifecycle.apply(.backoffElapsed(now: Self.at(4)))
        #expect(retried.last == .call(model: "model-c", resumeHandle: nil), "a failed attempt is not resumed")
        _ = lifecycle.apply(.attemptSucceeded([Self.result(1, cost: 0.01)], now: Self.at(5)))
        #expect(lifecycle.job.attempts.map(\.outcome) == [.failed, .succeeded])
        #expect(lifecycle.job.attempts.map(\.resumeHandle) == ["upstream-7", nil])
    }

    @Test func aHandleOutsideAnAttemptChangesNothing() {
        let queued = Self.job()
        var lifecycle = JobLifecycle(job: queued)
        #expect(lifecycle.apply(.handleRecorded("late", now: Self.at(1))) == [])
        #expect(lifecycle.job == queued)
    }

    @Test func inputsThatDoNotFitThePhaseChangeNothing() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false))
        _ = lifecycle.apply(.attemptSucceeded([Self.result(1, cost: 0.01)], now: Self.at(2)))
        let finished = lifecycle.job
        // A late outcome, wait or fallback answer after the job finished: no action, no change.
        #expect(lifecycle.apply(.attemptFailed(ProviderError(.unavailable, "late"), unitRandom: 0.5, now: Self.at(3))) == [])
        #expect(lifecycle.apply(.attemptSucceeded([], now: Self.at(3))) == [])
        #expect(lifecycle.apply(.backoffElapsed(now: Self.at(3))) == [])
        #expect(lifecycle.apply(.fallbackChosen(nil, seedDraw: 0.5, now: Self.at(3))) == [])
        #expect(lifecycle.apply(.stopped(now: Self.at(3))) == [])
        #expect(lifecycle.job == finished)
        // A cancel racing the end only waits for the run to end; it cannot change a finished job.
        #expect(lifecycle.apply(.cancelRequested(now: Self.at(3))) == [.stopRun])
        #expect(lifecycle.job == finished)
        #expect(!lifecycle.cancelRequested)
    }

    // MARK: - Seeds and cost

    @Test func aSeedIsDrawnOnlyForSeedHonouringModelsWithoutOne() throws {
        let (honouring, _) = try Self.started(Self.card("model-a"), seedDraw: 0.5)
        #expect(honouring.job.task.seed == 1_073_741_824)

        let (ignoring, _) = try Self.started(Self.card("model-c", seedHonored: false), seedDraw: 0.5)
        #expect(ignoring.job.task.seed == nil)

        let (given, _) = try Self.started(Self.card("model-a"), job: Self.job(routedTo: "model-a", task: Self.imageTask(seed: 5)), seedDraw: 0.5)
        #expect(given.job.task.seed == 5)
    }

    @Test func aFallbackToASeedHonouringModelDrawsTheSeedThen() throws {
        var (lifecycle, _) = try Self.started(Self.card("model-c", seedHonored: false), maxAttempts: 1)
        #expect(lifecycle.job.task.seed == nil)
        _ = lifecycle.apply(.attemptFailed(ProviderError(.unavailable, "down"), unitRandom: 0.5, now: Self.at(2)))
        _ = lifecycle.apply(.fallbackChosen(try Self.runnable(Self.card("model-a")), seedDraw: 0.25, now: Self.at(3)))
        #expect(lifecycle.job.task.seed == Int64(0.25 * 2_147_483_646) + 1)
    }

    @Test(arguments: [
        // A free model charges what its results say (nothing when they say nothing).
        (PriceRule.free, [Double?.none], 0.0),
        // Every result priced: their sum.
        (PriceRule.perImage(usd: 0.02, perInputImageUSD: 0), [0.01, 0.03], 0.04),
        // Some results unpriced: the model's estimate for the whole task (2 × 0.02).
        (PriceRule.perImage(usd: 0.02, perInputImageUSD: 0), [0.01, nil], 0.04),
    ])
    func costOfASuccess(price: PriceRule, costs: [Double?], expected: Double) throws {
        let card = Self.card("model-a", price: price)
        let task = Self.imageTask(seed: 1, numberResults: costs.count)
        let (started, _) = try Self.started(card, job: Self.job(routedTo: "model-a", task: task))
        var lifecycle = started
        _ = lifecycle.apply(.attemptSucceeded(costs.enumerated().map { Self.result($0.offset, cost: $0.element) }, now: Self.at(2)))
        let cost = try #require(lifecycle.job.costUSD)
        #expect(abs(cost - expected) < 1e-9, "cost \(cost), expected \(expected)")
    }

    // MARK: - Order

    @Test func everyFinishingAnswerPersistsBeforeItPublishes() throws {
        var answers: [[JobLifecycle.Action]] = []
        // Succeeded.
        var (a, _) = try Self.started(Self.card("model-c", seedHonored: false))
        answers.append(a.apply(.attemptSucceeded([Self.result(1, cost: 0.01), Self.result(2, cost: 0.01)], now: Self.at(2))))
        // Failed (terminal error).
        var (b, _) = try Self.started(Self.card("model-c", seedHonored: false))
        answers.append(b.apply(.attemptFailed(ProviderError(.invalidRequest, "no"), unitRandom: 0.5, now: Self.at(2))))
        // Failed (no candidate left).
        var (c, _) = try Self.started(Self.card("model-c", seedHonored: false), maxAttempts: 1)
        _ = c.apply(.attemptFailed(ProviderError(.unavailable, "down"), unitRandom: 0.5, now: Self.at(2)))
        answers.append(c.apply(.fallbackChosen(nil, seedDraw: 0.5, now: Self.at(3))))
        // Cancelled while queued, and during an attempt.
        var d = JobLifecycle(job: Self.job())
        answers.append(d.apply(.cancelRequested(now: Self.at(1))))
        var (e, _) = try Self.started(Self.card("model-c", seedHonored: false))
        _ = e.apply(.cancelRequested(now: Self.at(2)))
        answers.append(e.apply(.stopped(now: Self.at(3))))

        for actions in answers {
            let finalPersist = actions.firstIndex { if case .persist(_, let event?, _) = $0 { event.finalStatus != nil } else { false } }
            let firstPublish = actions.firstIndex { if case .publish = $0 { true } else { false } }
            let p = try #require(finalPersist, "a finishing answer persists its final state: \(actions)")
            let q = try #require(firstPublish, "a finishing answer publishes: \(actions)")
            #expect(p < q, "persist before publish: \(actions)")
            // What is published is what was persisted.
            if case .persist(let stored, _, _) = actions[p] {
                for case .publish(_, let published, _) in actions { #expect(published == stored) }
            }
        }
    }
}
