import AtelierCore
import AtelierProviders
import Foundation
import Logging

/// Scheduling and execution: provider queues and slots, and the run loop that executes a job's ``JobLifecycle``
/// actions (provider calls — Engine+Attempt.swift —, retry waits, fallback choices). Every state change goes through
/// ``persist(_:event:newResults:)``.
extension Engine {
    // MARK: - Scheduling

    func enqueue(_ job: Job) {
        guard let provider = job.route?.provider else { return }
        queues[provider, default: JobQueue()].push(job.taskUUID)
    }

    func pump() {
        guard !draining, !configuration.hold else { return }
        for (provider, _) in queues {
            let limit = registry.entry(provider)?.config.concurrency ?? 1
            while runningCount[provider, default: 0] < limit, let id = queues[provider]?.pop() {
                runningCount[provider, default: 0] += 1
                running[id] = Task { await self.execute(id, provider: provider) }
            }
        }
    }

    private func finishedSlot(_ id: String, provider: String) {
        running[id] = nil
        runningCount[provider, default: 1] -= 1
        if cluster != nil {
            // A job given up here (another daemon holds it now) may have left its cancel signal raised.
            if lifecycles[id] == nil { cancelSignals.lower(id) }
            pump()
            requestClaim(provider)  // the freed slot takes the next job of the cluster's queue
        } else {
            pump()
        }
    }

    /// Commits `job` (a state the lifecycle answered), then keeps it as the job's current state in the cache. A
    /// final event replaces the job's reserved estimate in the budget ledger by what it actually cost.
    ///
    /// In a cluster the write happens under the job's lease: answers false, having written nothing, when another
    /// daemon took the job over meanwhile (this daemon must stop working on it and publish nothing).
    @discardableResult
    func persist(_ job: Job, event: JobEventKind?, newResults: [JobResult]) async throws(AtelierError) -> Bool {
        let change = event.map { StateChange($0, job: job, newResults: newResults) }
        if event?.finalStatus != nil {
            ledger.add(
                BudgetLedger.charge(of: job) - (job.route?.estimatedCostUSD ?? 0), task: job.task, createdAt: job.createdAt, budgets: policy.budgets)
        }
        let store = self.store
        let lease = leases[job.taskUUID]
        let committed = try await untilStored("job state change", taskUUID: job.taskUUID) { () async throws -> Bool in
            do { try await store.commit(job, change: change, lease: lease) } catch is StoreLeaseLost { return false }
            return true
        }
        // Refused: another daemon holds the job now (claims never take the jobs this daemon works on).
        guard committed else { return false }
        if cluster != nil {
            if job.status.isTerminal || event == .interrupted { leases[job.taskUUID] = nil }
            if event?.finalStatus != nil { await settleBudget(of: job) }
        }
        cache.put(job)
        return true
    }

    /// Runs a store operation until it succeeds (``StoreRetry``): a store fault is retried with capped exponential
    /// backoff, so the job waits in place — keeping its results — and continues by itself once the store accepts
    /// writes again. Other errors, and faults while the daemon is shutting down (the job is then recovered from its
    /// last committed state at the next start), throw `store_failure`.
    func untilStored<T: Sendable>(
        _ what: String, taskUUID: String, _ operation: @escaping @Sendable () async throws -> T
    ) async throws(AtelierError) -> T {
        try await StoreRetry(configuration: configuration, logger: logger).untilStored(
            what, metadata: ["taskUUID": "\(taskUUID)"], stopping: { draining }, operation)
    }

    // MARK: - Running a job

    /// What a provider call on one model needs, found when the model became the job's candidate.
    struct AttemptRunner {
        var model: ModelCard
        var size: ResolvedSize
        var entry: ProviderEntry
        var provider: any Provider
    }

    /// Looks `modelID` up for `task`: runnable here (in the catalog, its provider configured and available, the task
    /// fits it), or not.
    private func candidate(_ modelID: String, for task: ImageTask) -> (JobLifecycle.Candidate, AttemptRunner?) {
        guard let model = catalog.model(modelID), let entry = registry.entry(model.provider), let impl = entry.provider, entry.unavailable == nil,
            case .success(let size) = model.check(task)
        else { return (.unavailable(modelID), nil) }
        return (.runnable(model, retry: entry.config.retry, size: size), AttemptRunner(model: model, size: size, entry: entry, provider: impl))
    }

    /// The run of a job that got a provider slot: feeds its lifecycle, executes the actions it answers, and feeds
    /// back each outcome (the provider's answer, the end of a wait, the next fallback) until the run is over.
    private func execute(_ id: String, provider: String) async {
        defer { finishedSlot(id, provider: provider) }
        guard let job = lifecycles[id]?.job, let route = job.route else { return }
        var runner: AttemptRunner?
        var input: JobLifecycle.Input
        if Task.isCancelled {
            input = .stopped(now: .now())
        } else {
            let (first, r) = candidate(route.model, for: job.task)
            runner = r
            input = .slotGranted(first, seedDraw: configuration.random(), now: .now())
        }
        do {
            while let actions = lifecycles[id]?.apply(input), let next = try await perform(actions, id, runner: &runner) {
                input = next
            }
        } catch {
            logger.error("job execution failed unexpectedly", metadata: ["taskUUID": "\(id)", "error": "\(error)"])
        }
        retireIfFinished(id)
        if cluster != nil, lifecycles[id]?.phase == .queued, leases[id] == nil {
            // Stopped and given back to the cluster's queue (its lease released): whichever daemon claims it runs it.
            lifecycles[id] = nil
        }
    }

    /// Forgets the lifecycle of a finished job (the cache and the store keep its final state).
    func retireIfFinished(_ id: String) {
        if lifecycles[id]?.phase == .finished {
            lifecycles[id] = nil
            leases[id] = nil
        }
    }

    /// Executes actions that need no run (queues, events, cancellation); see ``perform(_:_:runner:)``.
    func perform(_ actions: [JobLifecycle.Action], _ id: String) async throws(AtelierError) {
        var none: AttemptRunner?
        _ = try await perform(actions, id, runner: &none)
    }

    /// Executes `actions` in order. Returns the input that answers the last one when it has an outcome (a provider
    /// call, a wait, a fallback choice), nil when the run is over (`release`) or nothing answers.
    private func perform(
        _ actions: [JobLifecycle.Action], _ id: String, runner: inout AttemptRunner?
    ) async throws(AtelierError) -> JobLifecycle.Input? {
        for action in actions {
            switch action {
            case .enqueue:
                if let job = lifecycles[id]?.job { enqueue(job) }
            case .dequeue:
                if let p = lifecycles[id]?.job.route?.provider { queues[p]?.remove(id) }
            case .persist(let job, let event, let newResults):
                guard try await persist(job, event: event, newResults: newResults) else {
                    abandon(id)
                    return nil
                }
            case .publish(let kind, let job, let result):
                events.publish(JobEvent(kind, job: job, result: result))
            case .discardResults(let results):
                await ResultCheck.discard(results)
            case .recordBreaker(let model, let success):
                recordBreaker(model, success: success)
            case .stopRun:
                // Raised before the task is cancelled: a provider that does not observe task cancellation (a
                // request in flight, a clock that ignores it) still stops polling at its next safe point.
                cancelSignals.raise(id)
                running[id]?.cancel()
                if let t = running[id] { await t.value }
                cancelSignals.lower(id)
            case .release:
                return nil
            case .call(let model, let resumeHandle):
                return await call(id, model: model, resumeHandle: resumeHandle, runner: runner)
            case .sleep(let seconds):
                do { try await configuration.clock.sleep(for: .seconds(seconds)) } catch { return .stopped(now: .now()) }
                return Task.isCancelled ? .stopped(now: .now()) : .backoffElapsed(now: .now())
            case .chooseFallback(let after, let refused, let excluding):
                guard let task = lifecycles[id]?.job.task else { return nil }
                // The next candidate under the same hard constraints, with fresh availability.
                let decision = router.decide(task, context: routingContext())
                let next = decision.fallbacks(after: after, refused: refused).map(\.model.id).first { !excluding.contains($0) }
                var chosen: JobLifecycle.Candidate?
                if let next {
                    let found = candidate(next, for: task)
                    chosen = found.0
                    runner = found.1
                }
                if chosen != nil && Task.isCancelled { return .stopped(now: .now()) }
                return .fallbackChosen(chosen, seedDraw: configuration.random(), now: .now())
            }
        }
        return nil
    }

    /// One provider call for the job's current attempt, answered as the lifecycle's next input.
    private func call(_ id: String, model: String, resumeHandle: String?, runner: AttemptRunner?) async -> JobLifecycle.Input? {
        guard let job = lifecycles[id]?.job else { return nil }
        guard let runner, runner.model.id == model else {
            return .attemptFailed(ProviderError(.unavailable, "model \(model) cannot run here"), unitRandom: configuration.random(), now: .now())
        }
        let outcome = await attempt(
            job: job, model: runner.model, size: runner.size, entry: runner.entry, provider: runner.provider, attemptKey: UUIDv4.generate(),
            resumeHandle: resumeHandle)
        switch outcome {
        case .success(let results):
            return .attemptDelivered(results, onMismatch: policy.onMismatch, unitRandom: configuration.random(), now: .now())
        case .missed(let error, let cost):
            return .attemptMissed(error, cost: cost, now: .now())
        case .failure(let perr):
            if perr.code == .cancelled || Task.isCancelled { return .stopped(now: .now()) }
            logger.notice(
                "attempt failed",
                metadata: [
                    "taskUUID": "\(id)", "model": "\(model)", "code": "\(perr.code)", "attempt": "\(job.attempts.count)",
                ])
            return .attemptFailed(perr, unitRandom: configuration.random(), now: .now())
        }
    }

    /// Durably records an upstream handle on the current attempt of a job whose provider call is under way.
    func recordHandle(_ taskUUID: String, _ handle: String) async throws {
        guard let actions = lifecycles[taskUUID]?.apply(.handleRecorded(handle, now: .now())) else { return }
        try await perform(actions, taskUUID)
    }

    private func recordBreaker(_ model: String, success: Bool) {
        breakers.record(model: model, success: success, at: Self.seconds(.now))
    }
}
