import AtelierCore
import AtelierProviders

/// The life of one job as a value: inputs in, the new state and the actions for the engine out. No I/O, no clock,
/// no random source — every input carries the time and the draws it needs — so every transition is tested without a
/// store (`JobLifecycleTests`).
///
/// A job moves `queued → attempting → (outcome) → backingOff | choosingFallback | finished`, and leaves any state by
/// a caller's cancel or a daemon stop. The engine holds one lifecycle per unfinished job, feeds it what happens, and
/// only executes the actions it answers (docs/architecture.md, "Job lifecycle").
public struct JobLifecycle: Sendable {
    /// The job: the one copy of a job being run (the cache and the store hold what was persisted of it).
    public private(set) var job: Job
    /// Where the job is.
    public private(set) var phase: Phase
    /// The models tried so far in this run (never tried again).
    public private(set) var tried: Set<String> = []
    /// The error of the last failed attempt (the job's error if no model is left).
    public private(set) var lastError: AtelierError?
    /// True once the caller asked to cancel a job whose work is under way: its stop ends it `cancelled`.
    public private(set) var cancelRequested = false
    /// The model of the current attempt or back-off, as the engine found it.
    private var current: (model: ModelCard, retry: RetryPolicy, size: ResolvedSize)?

    /// The lifecycle of `job` as stored: finished when its status is terminal, else queued.
    public init(job: Job) {
        self.job = job
        self.phase = job.status.isTerminal ? .finished : .queued
    }

    /// The error of a job cancelled by its caller.
    static let cancelledByCaller = AtelierError(.cancelled, "cancelled by the caller")
    /// The error recorded on an attempt found running at start-up.
    static let interruptedByStop = AtelierError(.unavailable, "the daemon stopped during this attempt", retryable: true)

    /// Applies `input` and returns what the engine must do, in order. An input that does not fit the phase (a late
    /// handle, an outcome after a cancel finished the job) changes nothing and answers no action (or only `release`
    /// for a slot that is no longer needed).
    public mutating func apply(_ input: Input) -> [Action] {
        switch input {
        case .accepted:
            guard phase == .queued else { return [] }
            return [.enqueue, .publish(.queued, job: job, result: nil)]
        case .recovered(let now):
            return recovered(now)
        case .slotGranted(let candidate, let seedDraw, let now):
            guard phase == .queued, job.route != nil else { return [.release] }
            return start(candidate, seedDraw: seedDraw, now: now)
        case .handleRecorded(let handle, let now):
            guard case .attempting = phase, let last = job.attempts.indices.last else { return [] }
            job.attempts[last].resumeHandle = handle
            job.updatedAt = now
            return [.persist(job, event: nil, newResults: [])]
        case .attemptSucceeded(let results, let now):
            return succeeded(results, now: now)
        case .attemptDelivered(let results, let onMismatch, let unitRandom, let now):
            return delivered(results, onMismatch: onMismatch, unitRandom: unitRandom, now: now)
        case .attemptFailed(let error, let unitRandom, let now):
            return failed(error, unitRandom: unitRandom, now: now)
        case .attemptMissed(let error, let cost, let now):
            return missed(error, cost: cost, now: now)
        case .backoffElapsed(let now):
            guard case .backingOff(_, let n) = phase else { return [] }
            return startAttempt(n + 1, seedDraw: nil, now: now)
        case .fallbackChosen(let candidate, let seedDraw, let now):
            guard case .choosingFallback = phase else { return [] }
            guard let candidate else {
                return finish(.failed, error: lastError ?? AtelierError(.noRoute, "no model could serve this task"), now: now)
            }
            return start(candidate, seedDraw: seedDraw, now: now)
        case .cancelRequested(let now):
            switch phase {
            case .queued:
                // Not started: it ends at once (a slot granted meanwhile finds it finished and is given back).
                job.endRunningAttempt(.cancelled, at: now)
                return [.dequeue] + finish(.cancelled, error: Self.cancelledByCaller, now: now, releasing: false)
            case .finished:
                return [.stopRun]
            case .attempting, .backingOff, .choosingFallback:
                cancelRequested = true
                return [.stopRun]
            }
        case .stopped(let now):
            return stopped(now)
        }
    }

    // MARK: - Transitions

    private mutating func recovered(_ now: Timestamp) -> [Action] {
        guard phase == .queued else { return [] }
        let wasRunning = job.status == .running
        job.endRunningAttempt(.interrupted, error: Self.interruptedByStop, at: now)
        guard wasRunning else { return [.enqueue] }
        job.status = .queued
        job.updatedAt = now
        return [.persist(job, event: nil, newResults: []), .enqueue]
    }

    /// Starts on `candidate` (the routed model or a fallback), or asks for the next one when it cannot run here.
    private mutating func start(_ candidate: Candidate, seedDraw: Double, now: Timestamp) -> [Action] {
        switch candidate {
        case .unavailable(let id):
            tried.insert(id)
            return chooseFallback(after: id, refused: false)
        case .runnable(let model, let retry, let size):
            tried.insert(model.id)
            current = (model, retry, size)
            return startAttempt(1, seedDraw: seedDraw, now: now)
        }
    }

    /// Attempt `attemptOnModel` on the current model: seed, `running`, fallback reason, a new attempt; persisted,
    /// published, then the provider is called.
    private mutating func startAttempt(_ attemptOnModel: Int, seedDraw: Double?, now: Timestamp) -> [Action] {
        guard let model = current?.model else { return [] }
        // Seed: generated and recorded when the model honours seeds and the task had none.
        // Never for best-of-N (`consistency`): one seed would make every candidate alike, and a drawn seed written
        // into the task would make a fallback's routing refuse it (seed_makes_consistency_pointless).
        if model.seedHonored && job.task.seed == nil && job.task.consistency == nil, let seedDraw {
            job.task.seed = Int64(seedDraw * 2_147_483_646) + 1
        }
        let resumeHandle = job.attempts.last.flatMap { $0.outcome == .interrupted && $0.model == model.id ? $0.resumeHandle : nil }
        job.status = .running
        if job.startedAt == nil { job.startedAt = now }
        if job.route?.model != model.id {
            job.route?.provider = model.provider
            job.route?.model = model.id
            job.route?.reasons.append("fell back to \(model.id) after \(lastError?.code.rawValue ?? "a failure")")
        }
        job.attempts.append(Attempt(number: job.attempts.count + 1, provider: model.provider, model: model.id, startedAt: now))
        job.updatedAt = now
        phase = .attempting(model: model.id, attemptOnModel: attemptOnModel)
        return [
            .persist(job, event: .running, newResults: []), .publish(.running, job: job, result: nil),
            .call(model: model.id, resumeHandle: resumeHandle),
        ]
    }

    private mutating func succeeded(_ results: [JobResult], now: Timestamp) -> [Action] {
        guard case .attempting(let modelID, _) = phase, let current, let last = job.attempts.indices.last else { return [] }
        job.attempts[last].endedAt = now
        job.attempts[last].outcome = .succeeded
        job.results = results
        job.status = .succeeded
        job.error = nil
        job.finishedAt = now
        job.updatedAt = now
        job.attempts[last].cost = Self.cost(of: results, model: current.model, task: job.task, size: current.size)
        chargePaidAttempts()
        phase = .finished
        var actions: [Action] = [.persist(job, event: .succeeded, newResults: results), .recordBreaker(model: modelID, success: true)]
        for r in results { actions.append(.publish(.result, job: job, result: r)) }
        actions.append(.publish(.succeeded, job: job, result: nil))
        actions.append(.release)
        return actions
    }

    /// Verified results: kept when they match (or the policy only flags), else the attempt fails `result_mismatch`
    /// and its files are removed: the job ends with it (`fail`; what was paid for is charged), or the attempt is
    /// retried / fallen back like any retryable failure (`retry`).
    private mutating func delivered(_ results: [JobResult], onMismatch: MismatchPolicy, unitRandom: Double, now: Timestamp) -> [Action] {
        let mismatched = results.compactMap(\.verification).filter { !$0.ok }
        guard case .attempting(let modelID, _) = phase, let last = job.attempts.indices.last, !mismatched.isEmpty, onMismatch != .flag else {
            return succeeded(results, now: now)
        }
        let error = Self.mismatchError(mismatched)
        guard onMismatch == .fail else {
            // Retried or fallen back: the discarded images were paid for, so the attempt keeps their cost and the job
            // is charged it whatever happens next.
            if let current { job.attempts[last].cost = Self.cost(of: results, model: current.model, task: job.task, size: current.size) }
            return [.discardResults(results)] + failed(error.provider, unitRandom: unitRandom, now: now)
        }
        lastError = error.job
        job.attempts[last].endedAt = now
        job.attempts[last].outcome = .failed
        job.attempts[last].error = error.job
        if let current { job.attempts[last].cost = Self.cost(of: results, model: current.model, task: job.task, size: current.size) }
        return [.discardResults(results), .recordBreaker(model: modelID, success: false)] + finish(.failed, error: error.job, now: now)
    }

    /// The `result_mismatch` error for these verifications, as the provider failure of the attempt and as the job's
    /// error: the message and `details.fields` name the fields that differ (in order, once each), `details.mismatches`
    /// holds those of the first result that differs.
    static func mismatchError(_ mismatched: [ResultVerification]) -> (provider: ProviderError, job: AtelierError) {
        var fields: [String] = []
        for f in mismatched.flatMap(\.fields) where !fields.contains(f) { fields.append(f) }
        let provider = ProviderError(.resultMismatch, "the delivered images differ from the request: \(fields.joined(separator: ", "))")
        var job = provider.atelierError
        job.details.append("fields", .array(fields.map(JSONValue.string)))
        job.details.append("mismatches", .array(mismatched.first?.mismatches.map(\.json) ?? []))
        return (provider, job)
    }

    private mutating func failed(_ error: ProviderError, unitRandom: Double, now: Timestamp) -> [Action] {
        guard case .attempting(let modelID, let n) = phase, let current, let last = job.attempts.indices.last else { return [] }
        if error.code == .cancelled { return stopped(now) }
        let err = error.atelierError
        lastError = err
        job.attempts[last].endedAt = now
        job.attempts[last].outcome = .failed
        job.attempts[last].error = err
        job.error = err
        job.updatedAt = now
        var actions: [Action] = [.persist(job, event: nil, newResults: [])]
        // An invalid or refused request says nothing about the model's health.
        if error.code != .invalidRequest && error.code != .refused { actions.append(.recordBreaker(model: modelID, success: false)) }
        if !error.allowsFallback { return actions + finish(.failed, error: err, now: now) }
        guard error.retryable, n < current.retry.maxAttempts else {
            return actions + chooseFallback(after: modelID, refused: error.code == .refused)
        }
        let wait = error.retryAfterSeconds ?? current.retry.delay(beforeRetry: n, unitRandom: unitRandom)
        phase = .backingOff(model: modelID, attemptOnModel: n)
        return actions + [.sleep(seconds: min(wait, Self.longestRetryWaitSeconds))]
    }

    /// Images were made and paid for, but none met the task's bar (best-of-N or preserve `minScore`): the job fails
    /// with `error`, the attempt charged `cost`; nothing is retried or fallen back and the model's breaker is not
    /// touched.
    private mutating func missed(_ error: AtelierError, cost: CostFigure?, now: Timestamp) -> [Action] {
        guard case .attempting = phase, let last = job.attempts.indices.last else { return [] }
        lastError = error
        job.attempts[last].endedAt = now
        job.attempts[last].outcome = .failed
        job.attempts[last].error = error
        job.attempts[last].cost = cost
        return finish(.failed, error: error, now: now)
    }

    /// The longest wait before a retry, whatever the provider asks for.
    static let longestRetryWaitSeconds: Double = 3600

    private mutating func chooseFallback(after model: String, refused: Bool) -> [Action] {
        current = nil
        phase = .choosingFallback(after: model, refused: refused)
        return [.chooseFallback(after: model, refused: refused, excluding: tried)]
    }

    /// Stopped by cancellation: the caller's cancel ends the job `cancelled`; a daemon stop leaves it `queued` (with
    /// its resume handle) for the next start.
    private mutating func stopped(_ now: Timestamp) -> [Action] {
        guard phase != .finished else { return [] }
        if cancelRequested {
            job.endRunningAttempt(.cancelled, at: now)
            return finish(.cancelled, error: Self.cancelledByCaller, now: now)
        }
        job.endRunningAttempt(.interrupted, at: now)
        job.status = .queued
        job.updatedAt = now
        phase = .queued
        current = nil
        tried = []
        return [.persist(job, event: .interrupted, newResults: []), .release]
    }

    /// What one attempt's delivered `results` cost: their figures' total (unknown if any is unknown). When some
    /// result says nothing at all, the catalog's figure for the whole task stands (a free model: what the others say).
    static func cost(of results: [JobResult], model: ModelCard, task: ImageTask, size: ResolvedSize) -> CostFigure {
        let figures = results.compactMap(\.costFigure)
        if figures.count == results.count || model.price == .free {
            return CostFigure.total(figures) ?? CostFigure(usd: 0, source: .estimated)
        }
        guard model.price.isKnown else { return CostFigure(usd: nil, source: .unknown) }
        return CostFigure(usd: model.estimatedCost(task, size: size), source: .estimated)
    }

    /// Sets the job's cost to the total of its paid attempts (the kept results and any discarded for a mismatch);
    /// `nil` when a part is unknown. Unchanged when no attempt was paid.
    private mutating func chargePaidAttempts() {
        guard let total = CostFigure.total(job.attempts.compactMap(\.cost)) else { return }
        job.costUSD = total.usd
    }

    /// Ends the job `failed` or `cancelled` (`event`) with `error`: persisted, then published.
    private mutating func finish(_ event: JobEventKind, error: AtelierError, now: Timestamp, releasing: Bool = true) -> [Action] {
        chargePaidAttempts()
        job.status = event == .failed ? .failed : .cancelled
        job.error = error
        job.finishedAt = now
        job.updatedAt = now
        phase = .finished
        current = nil
        let actions: [Action] = [.persist(job, event: event, newResults: []), .publish(event, job: job, result: nil)]
        return releasing ? actions + [.release] : actions
    }
}

extension Job {
    /// Ends the attempt still marked running (the last one), if there is one: cancelled, or interrupted by a stop.
    mutating func endRunningAttempt(_ outcome: Attempt.Outcome, error: AtelierError? = nil, at now: Timestamp) {
        guard let i = attempts.indices.last, attempts[i].outcome == .running else { return }
        attempts[i].outcome = outcome
        attempts[i].endedAt = now
        if let error { attempts[i].error = error }
    }
}
