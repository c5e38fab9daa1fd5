import AtelierCore
import AtelierEngine
import AtelierProviders
import Testing

/// The lifecycle's part in best-of-N and preserve (docs/consistency.md): no seed drawn into a consistency task, and
/// a missed bar (`attemptMissed`) ends the job failed, charged, without retry, fallback or breaker failure.
@Suite("job lifecycle: consistency (pure)")
struct JobLifecycleConsistencyTests {
    typealias F = JobLifecycleTests

    static func consistencyJob(model: String) -> Job {
        var task = F.imageTask()
        // Scored against an image of its own (the fixture's cards take no reference images).
        task.consistency = ConsistencyRequest(samples: 3, against: .image(.file(path: "/refs/mug.png")), minScore: 0.9)
        return F.job(routedTo: model, task: task)
    }

    @Test func noSeedIsDrawnIntoAConsistencyTask() throws {
        let card = F.card("model-s", seedHonored: true)
        let (lifecycle, _) = try F.started(card, job: Self.consistencyJob(model: "model-s"), seedDraw: 0.25)
        #expect(lifecycle.job.task.seed == nil)
        // The same model and draw fill in a seed for a plain task.
        let (plain, _) = try F.started(card, seedDraw: 0.25)
        #expect(plain.job.task.seed != nil)
    }

    @Test func aMissFailsTheJobChargedWithoutRetryOrBreaker() throws {
        let card = F.card("model-c", seedHonored: false)
        var (lifecycle, _) = try F.started(card, job: Self.consistencyJob(model: "model-c"), maxAttempts: 3)
        let error = BestOfN.notReachedError(scores: [0.5, 0.6, 0.7], minScore: 0.9)
        let actions = lifecycle.apply(.attemptMissed(error, cost: CostFigure(usd: 0.06, source: .computed), now: F.at(5)))
        #expect(lifecycle.phase == .finished)
        #expect(lifecycle.job.status == .failed)
        #expect(lifecycle.job.error?.code == .consistencyNotReached)
        #expect(lifecycle.job.error?.details["scores"]?.arrayValue?.count == 3)
        #expect(lifecycle.job.costUSD == 0.06)
        #expect(lifecycle.job.attempts.map(\.outcome) == [.failed])
        #expect(F.persisted(actions) == [.failed])
        #expect(F.published(actions) == [.failed])
        #expect(!actions.contains { if case .recordBreaker = $0 { true } else { false } })
        #expect(!actions.contains { if case .sleep = $0 { true } else { false } })
        #expect(!actions.contains { if case .chooseFallback = $0 { true } else { false } })
        #expect(actions.last == .release)
    }

    @Test func aMissOutOfPhaseChangesNothing() throws {
        var lifecycle = JobLifecycle(job: Self.consistencyJob(model: "model-c"))
        let actions = lifecycle.apply(.attemptMissed(BestOfN.notReachedError(scores: [], minScore: 0.9), cost: nil, now: F.at(1)))
        #expect(actions.isEmpty)
        #expect(lifecycle.job.status == .queued)
    }
}
