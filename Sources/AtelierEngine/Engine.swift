import AtelierCore
import AtelierProviders
import Foundation
import Logging

/// The engine: accepts tasks, stores them durably, schedules them on providers, retries and falls back, stores
/// results, and publishes events.
///
/// Invariants:
/// - ``submit(_:)`` returns only after the job is committed to the store (group commit).
/// - Every job that is not finished is in ``cache`` and in exactly one provider queue or running slot.
/// - A job's state changes only inside this actor and is persisted before the matching event is published.
/// - At most `concurrency` jobs of one provider run at once.
public actor Engine {
    /// Current job states for synchronous reads (the socket server's `job.get` fast path).
    public nonisolated let cache: JobCache
    /// Job events (socket subscriptions, waiters, delivery).
    public nonisolated let events: EventBus
    /// When the engine was created.
    public nonisolated let startedAt: ContinuousClock.Instant

    let configuration: EngineConfiguration
    let store: JobStore
    let batcher: SubmitBatcher
    let files: ResultFiles
    let references: ReferenceLoader
    let logger: Logger

    private(set) var catalog: Catalog
    private(set) var policy: RoutingPolicy
    private(set) var router: Router
    private(set) var registry: ProviderRegistry
    /// Models the registry cannot serve (no key, not configured), computed once per configuration.
    private var registryUnavailable: [String: Rejection]

    private var queues: [String: JobQueue] = [:]
    private var runningCount: [String: Int] = [:]
    private var running: [String: Task<Void, Never>] = [:]
    private var cancelRequested: Set<String> = []
    /// The same requests, for providers' synchronous ``GenerationContext/isCancelled`` checks.
    private nonisolated let cancelSignals = CancelSignals()
    private var breakers = CircuitBreakers()
    private var ledger = BudgetLedger()
    private var accepting = true
    private var draining = false
    /// When health may next try a probe write while the store is marked failing.
    private var nextStoreProbe = ContinuousClock.now

    /// Creates an engine over an opened store.
    public init(
        configuration: EngineConfiguration, store: JobStore, catalog: Catalog, policy: RoutingPolicy, registry: ProviderRegistry,
        transport: any HTTPTransport, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.batcher = SubmitBatcher(store: store)
        self.files = ResultFiles(root: configuration.dataDirectory)
        self.references = ReferenceLoader(transport: transport, files: files)
        self.logger = logger
        self.catalog = catalog
        self.policy = policy
        self.router = Router(catalog: catalog, policy: policy)
        self.registry = registry
        self.registryUnavailable = registry.unavailableModels(in: catalog)
        self.cache = JobCache(capacity: configuration.jobCacheCapacity)
        self.events = EventBus()
        self.startedAt = .now
    }

    // MARK: - Lifecycle

    /// Recovers unfinished jobs from the store and starts scheduling them.
    ///
    /// Jobs that were running when the daemon stopped get their attempt marked `interrupted`; an asynchronous
    /// provider call with a recorded handle is resumed by polling (never paid twice), anything else is run again.
    public func start() async throws {
        ledger = try await BudgetLedger.rebuild(store: store, budgets: policy.budgets, now: .now())
        let unfinished = try await store.unfinishedJobs()
        var recovered = 0
        for var job in unfinished {
            if let i = job.attempts.lastIndex(where: { $0.outcome == .running }) {
                job.attempts[i].outcome = .interrupted
                job.attempts[i].endedAt = .now()
                job.attempts[i].error = AtelierError(.unavailable, "the daemon stopped during this attempt", retryable: true)
            }
            if job.status == .running {
                job.status = .queued
                job.updatedAt = .now()
                do { try await store.update(job) } catch {
                    // The store cannot commit now: the job is queued in memory and its next state change is
                    // retried until it commits; if the daemon stops first, recovery sees it `running` again.
                    guard StoreFault(error, directory: store.database.directory) != nil else { throw error }
                    logger.warning("could not record a recovered job as queued", metadata: ["taskUUID": "\(job.taskUUID)", "error": "\(error)"])
                }
                recovered += 1
            }
            cache.put(job)
            enqueue(job)
        }
        if !unfinished.isEmpty {
            logger.info("recovered unfinished jobs", metadata: ["queued": "\(unfinished.count - recovered)", "interrupted": "\(recovered)"])
        }
        pump()
    }

    /// Stops taking work, lets running calls finish within the grace period, then interrupts the rest (their jobs
    /// stay queued in the store with their resume handles and continue at the next start).
    public func shutdown() async {
        accepting = false
        draining = true
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(configuration.shutdownGraceSeconds * 1000)))
        while !running.isEmpty && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = running
        if !left.isEmpty {
            logger.warning("interrupting running jobs at shutdown", metadata: ["count": "\(left.count)"])
            for (_, t) in left { t.cancel() }
            for (_, t) in left { await t.value }
        }
    }

    // MARK: - Submission

    /// Validates, routes and durably stores a task; returns the job as acknowledged.
    ///
    /// Resubmitting the same taskUUID with the same task returns the existing job and starts nothing; the same
    /// taskUUID with a different task fails with `conflict_task_uuid`.
    public func submit(_ task: ImageTask) async throws(AtelierError) -> Job {
        guard accepting else { throw AtelierError(.shuttingDown, "the daemon is shutting down; submit again after it restarts", retryable: true) }
        if cache.job(task.taskUUID) != nil {
            // A known id: answer from the stored request without routing (same task → the job; else conflict).
            if let existing = try await existingIfSame(task) { return existing }
        }
        if ledger.isStale(at: .now()), let fresh = try? await BudgetLedger.rebuild(store: store, budgets: policy.budgets, now: .now()) {
            ledger = fresh
        }
        let decision = router.decide(task, context: routingContext())
        guard let chosen = decision.chosen, let summary = decision.summary else {
            // A resubmission of an existing job must still be answered idempotently even if routing changed.
            if let existing = try await existingIfSame(task) { return existing }
            throw decision.error ?? AtelierError(.noRoute, "no model can serve this task")
        }
        let job = Job(task: task, createdAt: .now(), route: summary)
        // Reserve the estimate before suspending, so concurrent submissions see it; undone unless inserted.
        ledger.add(summary.estimatedCostUSD, task: task, createdAt: job.createdAt, budgets: policy.budgets)
        do throws(AtelierError) {
            let hasFiles = task.referenceImages.contains { if case .file = $0 { return true } else { return false } }
            if hasFiles {
                // Local reference files are checked (stat, header probe) on NIO's thread pool.
                try await Self.precheckOffPool(task.referenceImages, maxBytes: chosen.model.maxReferenceImageBytes)
            } else if !task.referenceImages.isEmpty {
                try ReferenceLoader.precheck(task.referenceImages, maxBytes: chosen.model.maxReferenceImageBytes)
            }
            try check(task)
        } catch {
            ledger.add(-summary.estimatedCostUSD, task: task, createdAt: job.createdAt, budgets: policy.budgets)
            throw error
        }
        let outcome: InsertOutcome
        do { outcome = try await batcher.submit(job) } catch {
            ledger.add(-summary.estimatedCostUSD, task: task, createdAt: job.createdAt, budgets: policy.budgets)
            if let e = error as? AtelierError { throw e }
            logger.error("store failed on submit", metadata: ["error": "\(error)"])
            if let fault = StoreFault(error, directory: store.database.directory) { throw fault.atelierError }
            throw AtelierError(.storeFailure, "the job could not be stored; nothing was accepted", retryable: true)
        }
        if case .inserted = outcome {} else {
            ledger.add(-summary.estimatedCostUSD, task: task, createdAt: job.createdAt, budgets: policy.budgets)
        }
        switch outcome {
        case .inserted(let j):
            cache.put(j)
            enqueue(j)
            events.publish(JobEvent(event: "queued", job: j))
            pump()
            return j
        case .existing(let j):
            return cache.job(j.taskUUID) ?? j
        case .conflict:
            throw conflict(task.taskUUID)
        }
    }

    /// ``ReferenceLoader/precheck(_:maxBytes:)`` (it stats local reference files) on NIO's thread pool, so a slow disk
    /// never blocks a Swift concurrency thread. Only tasks with references pay the hop.
    private static func precheckOffPool(_ refs: [ReferenceImage], maxBytes: Int) async throws(AtelierError) {
        let outcome: Result<Void, AtelierError>
        do {
            outcome = try await BlockingWork.run {
                do throws(AtelierError) { try ReferenceLoader.precheck(refs, maxBytes: maxBytes) } catch { return .failure(error) }
                return .success(())
            }
        } catch {
            throw AtelierError(.unavailable, "the daemon's file thread pool is not running", retryable: true)
        }
        try outcome.get()
    }

    private func conflict(_ id: String) -> AtelierError {
        AtelierError(.conflictTaskUUID, "taskUUID \(id) is already used by a different task", field: "/taskUUID")
    }

    /// The stored job when it was submitted with exactly this task; throws `conflict_task_uuid` when the task
    /// differs; nil when there is no such job.
    private func existingIfSame(_ task: ImageTask) async throws(AtelierError) -> Job? {
        let stored: (job: Job, request: String)?
        do { stored = try await store.jobWithRequest(task.taskUUID) } catch {
            throw AtelierError(.storeFailure, "store read failed", retryable: true)
        }
        guard let stored else { return nil }
        guard stored.request == JSONWriter.string(task.json) else { throw conflict(task.taskUUID) }
        return cache.job(task.taskUUID) ?? stored.job
    }

    /// Runs the configured ``EngineConfiguration/taskChecks`` (for callers that create tasks of their own and want
    /// to refuse a request before committing to it, like workflows).
    public nonisolated func check(_ task: ImageTask) throws(AtelierError) {
        for c in configuration.taskChecks { try c.check(task) }
    }

    // MARK: - Queries

    /// The job with this id.
    public func job(_ taskUUID: String) async throws(AtelierError) -> Job {
        if let j = cache.job(taskUUID) { return j }
        do {
            if let j = try await store.job(taskUUID) { return j }
        } catch { throw AtelierError(.storeFailure, "store read failed", retryable: true) }
        throw AtelierError(.notFound, "no job with taskUUID \(taskUUID)", field: "/taskUUID")
    }

    /// A page of jobs, newest first.
    public func list(status: JobStatus?, limit: Int, cursor: Int64?) async throws(AtelierError) -> (jobs: [Job], next: Int64?) {
        do {
            let page = try await store.list(status: status, limit: limit, before: cursor)
            return (page.jobs.map { cache.job($0.taskUUID) ?? $0 }, page.next)
        } catch { throw AtelierError(.storeFailure, "store read failed", retryable: true) }
    }

    /// The routing decision for `task`, without running anything.
    public func explain(_ task: ImageTask) -> RouteDecision {
        router.decide(task, context: routingContext())
    }

    /// The catalog with availability, for `models.list`.
    public func models() -> [ModelAvailability] {
        let unavailable = registryUnavailable
        let now = ContinuousClock.now
        return catalog.models.map { m in
            let reason: String? =
                m.status == .retired
                ? "retired" + (m.replacedBy.map { ": replaced by \($0)" } ?? "")
                : (unavailable[m.id] ?? breakers[m.id].rejection(model: m.id, at: Self.seconds(now)))?.description
            return ModelAvailability(card: m, unavailableReason: reason)
        }
    }

    /// What `daemon.health` reports about the engine. It is degraded when the store cannot commit or a model's
    /// breaker is open (`reasons` says which); `queued`/`running` are counted from the store, as `job.list` shows them.
    public func health() async -> EngineHealth {
        let uptime = ContinuousClock.now - startedAt
        let uptimeSeconds = Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18
        var queued = queuedCount
        var runningJobs = running.count
        if store.condition.databaseFault != nil, ContinuousClock.now >= nextStoreProbe {
            // Nothing else may be writing (only refused submits saw the fault): find out whether commits work again.
            nextStoreProbe = ContinuousClock.now.advanced(by: .milliseconds(250))
            try? await store.probeWrite()
        }
        let storeStatus = store.condition.status
        var reasons: [String] = []
        do {
            let counts = try await store.counts(of: [.queued, .running])
            queued = counts[.queued] ?? 0
            runningJobs = counts[.running] ?? 0
        } catch {
            reasons.append("the store cannot be read: \(StoreFault(error, directory: store.database.directory)?.message ?? "\(error)")")
        }
        if !storeStatus.ok { reasons.append("store: \(storeStatus.error ?? "failing")") }
        let open = breakers.unavailable(at: Self.seconds(.now)).sorted { $0.key < $1.key }
        for (model, _) in open { reasons.append("circuit breaker open for \(model)") }
        return EngineHealth(
            reasons: reasons, version: AtelierVersion.current, uptimeSeconds: (uptimeSeconds * 1000).rounded() / 1000, queued: queued,
            running: runningJobs, draining: draining, store: storeStatus,
            openBreakers: open.map { EngineHealth.OpenBreaker(model: $0.key, reason: $0.value.description) })
    }

    /// Counts for health/bench.
    public var queuedCount: Int { queues.values.reduce(0) { $0 + $1.count } }

    /// Waits until the job is finished or `timeoutSeconds` pass; returns it as it is then.
    public nonisolated func wait(_ taskUUID: String, timeoutSeconds: Double) async throws(AtelierError) -> Job {
        let current = try await job(taskUUID)
        if current.status.isTerminal || timeoutSeconds <= 0 { return current }
        let stream = AsyncStream<Job> { cont in
            let token = events.subscribe(taskUUID: taskUUID) { ev in
                if ev.job.status.isTerminal {
                    cont.yield(ev.job)
                    cont.finish()
                }
            }
            cont.onTermination = { [events] _ in events.unsubscribe(token) }
        }
        // Re-check after subscribing: the job may have finished in between.
        if let j = cache.job(taskUUID), j.status.isTerminal { return j }
        let result: Job? = await withTaskGroup(of: Job?.self) { group in
            group.addTask {
                for await j in stream { return j }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(timeoutSeconds * 1000)))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let result { return result }
        return try await job(taskUUID)
    }

    /// Per-group job statistics since `since`, and spend against budget caps.
    public func stats(by grouping: StatsGrouping, since: Timestamp) async throws(AtelierError) -> StatsReport {
        let groups: [StatsReport.Group]
        do { groups = try await store.stats(by: grouping, since: since) } catch {
            throw AtelierError(.storeFailure, "store read failed", retryable: true)
        }
        return StatsReport(since: since, groups: groups, budgets: ledger.report(budgets: policy.budgets))
    }

    // MARK: - Configuration

    /// Swaps in a new catalog, routing policy and provider set, all validated by the caller. Queued jobs keep
    /// their routes; new decisions use the new policy at once.
    public func reload(catalog: Catalog, policy: RoutingPolicy, registry: ProviderRegistry) async throws(AtelierError) {
        let fresh: BudgetLedger
        do { fresh = try await BudgetLedger.rebuild(store: store, budgets: policy.budgets, now: .now()) } catch {
            throw AtelierError(.storeFailure, "could not rebuild the budget ledger", retryable: true)
        }
        self.catalog = catalog
        self.policy = policy
        self.router = Router(catalog: catalog, policy: policy)
        self.registry = registry
        self.registryUnavailable = registry.unavailableModels(in: catalog)
        self.ledger = fresh
        logger.info("configuration reloaded", metadata: ["models": "\(catalog.models.count)", "rules": "\(policy.ruleNames.count)"])
        pump()
    }

    // MARK: - Cancellation

    /// Cancels a queued job, or a running one by abandoning its provider call.
    public func cancel(_ taskUUID: String) async throws(AtelierError) -> Job {
        var j = try await job(taskUUID)
        switch j.status {
        case .succeeded, .failed, .cancelled:
            throw AtelierError(
                .notCancellable, "job \(taskUUID) is already \(j.status.rawValue)", field: "/taskUUID", details: ["status": .string(j.status.rawValue)])
        case .queued where running[taskUUID] == nil:
            if let p = j.route?.provider { queues[p]?.remove(taskUUID) }
            j.status = .cancelled
            j.finishedAt = .now()
            j.updatedAt = .now()
            j.error = AtelierError(.cancelled, "cancelled by the caller")
            try await persist(j, event: "cancelled")
            events.publish(JobEvent(event: "cancelled", job: j))
            return j
        case .queued, .running:
            cancelRequested.insert(taskUUID)
            // Raised before the task is cancelled: a provider that does not observe task cancellation (a
            // request in flight, a clock that ignores it) still stops polling at its next safe point.
            cancelSignals.raise(taskUUID)
            defer { cancelSignals.lower(taskUUID) }
            running[taskUUID]?.cancel()
            if let t = running[taskUUID] { await t.value }
            return try await job(taskUUID)
        }
    }

    // MARK: - Scheduling

    private func enqueue(_ job: Job) {
        guard let provider = job.route?.provider else { return }
        queues[provider, default: JobQueue()].push(job.taskUUID)
    }

    private func pump() {
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
        cancelRequested.remove(id)
        runningCount[provider, default: 1] -= 1
        pump()
    }

    private func persist(_ job: Job, event: String? = nil, newResults: [JobResult] = []) async throws(AtelierError) {
        var j = job
        j.updatedAt = .now()
        let change = event.map { StateChange(event: $0, job: j, newResults: newResults) }
        if let event, ["succeeded", "failed", "cancelled"].contains(event) {
            // Replace the reserved estimate by what the job actually cost.
            ledger.add(BudgetLedger.charge(of: j) - (j.route?.estimatedCostUSD ?? 0), task: j.task, createdAt: j.createdAt, budgets: policy.budgets)
        }
        let store = self.store
        let snapshot = j
        try await untilStored("job state change", taskUUID: job.taskUUID) { try await store.update(snapshot, change: change) }
        cache.put(j)
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

    /// Monotonic seconds since the process started (the breaker's time base).
    static func seconds(_ t: ContinuousClock.Instant) -> Double {
        let c = (t - epoch).components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    private static let epoch = ContinuousClock.now

    func routingContext() -> RoutingContext {
        var unavailable = registryUnavailable
        for (id, r) in breakers.unavailable(at: Self.seconds(.now)) where unavailable[id] == nil { unavailable[id] = r }
        return RoutingContext(unavailable: unavailable, spend: ledger.spend)
    }

    // MARK: - Running a job

    private func execute(_ id: String, provider: String) async {
        defer { finishedSlot(id, provider: provider) }
        guard var job = cache.job(id), !job.status.isTerminal else { return }
        do {
            job = try await run(job)
        } catch {
            logger.error("job execution failed unexpectedly", metadata: ["taskUUID": "\(id)", "error": "\(error)"])
        }
    }

    /// Runs the job through its route's candidates with retries; returns the final state.
    ///
    /// Retryable failures are retried on the same model with backoff (or the provider's hint); when a model is
    /// exhausted, the next candidate comes from the router under the same hard constraints and with fresh
    /// availability (a refused job falls back only where the routing rules allow it).
    private func run(_ start: Job) async throws(AtelierError) -> Job {
        var job = start
        guard let route = job.route else { return job }
        var next: String? = route.model
        var lastError: AtelierError?
        var tried: Set<String> = []

        while let modelID = next {
            next = nil
            tried.insert(modelID)
            var refused = false
            if let model = catalog.model(modelID), let entry = registry.entry(model.provider), let impl = entry.provider, entry.unavailable == nil,
                case .success(let size) = model.check(job.task)
            {
                let retry = entry.config.retry
                var attemptOnModel = 0
                retryLoop: while attemptOnModel < retry.maxAttempts {
                    attemptOnModel += 1
                    if Task.isCancelled { return try await stopped(job) }
                    // Seed: generated and recorded when the model honours seeds and the task had none.
                    if model.seedHonored && job.task.seed == nil {
                        job.task.seed = Int64(configuration.random() * 2_147_483_646) + 1
                    }
                    let resumeHandle = job.attempts.last.flatMap { $0.outcome == .interrupted && $0.model == model.id ? $0.resumeHandle : nil }
                    job.status = .running
                    if job.startedAt == nil { job.startedAt = .now() }
                    if job.route?.model != model.id {
                        job.route?.provider = model.provider
                        job.route?.model = model.id
                        job.route?.reasons.append("fell back to \(model.id) after \(lastError?.code.rawValue ?? "a failure")")
                    }
                    job.attempts.append(Attempt(number: job.attempts.count + 1, provider: model.provider, model: model.id, startedAt: .now()))
                    try await persist(job, event: "running")
                    events.publish(JobEvent(event: "running", job: job))

                    let outcome = await attempt(
                        job: job, model: model, size: size, entry: entry, provider: impl, attemptKey: UUIDv4.generate(), resumeHandle: resumeHandle)
                    // The provider may have recorded a resume handle meanwhile: take the freshest attempts.
                    if let fresh = cache.job(job.taskUUID) { job.attempts = fresh.attempts }
                    let idx = job.attempts.count - 1
                    job.attempts[idx].endedAt = .now()
                    switch outcome {
                    case .success(let results):
                        job.attempts[idx].outcome = .succeeded
                        job.results = results
                        job.status = .succeeded
                        job.error = nil
                        job.finishedAt = .now()
                        let costs = results.compactMap(\.costUSD)
                        if model.price == .free {
                            job.costUSD = costs.reduce(0, +)
                        } else {
                            job.costUSD = costs.count == results.count ? costs.reduce(0, +) : model.estimatedCost(job.task, size: size)
                        }
                        try await persist(job, event: "succeeded", newResults: results)
                        recordBreaker(model.id, success: true)
                        for r in results { events.publish(JobEvent(event: "result", job: job, result: r)) }
                        events.publish(JobEvent(event: "succeeded", job: job))
                        return job
                    case .failure(let perr):
                        if perr.code == .cancelled || Task.isCancelled { return try await stopped(job) }
                        let err = perr.atelierError
                        lastError = err
                        job.attempts[idx].outcome = .failed
                        job.attempts[idx].error = err
                        job.error = err
                        try await persist(job)
                        if perr.code != .invalidRequest && perr.code != .refused { recordBreaker(model.id, success: false) }
                        logger.notice(
                            "attempt failed",
                            metadata: [
                                "taskUUID": "\(job.taskUUID)", "model": "\(model.id)", "code": "\(err.code)", "attempt": "\(job.attempts.count)",
                            ])
                        if !perr.allowsFallback { return try await failed(job, err) }
                        refused = perr.code == .refused
                        guard perr.retryable, attemptOnModel < retry.maxAttempts else { break retryLoop }
                        let wait = perr.retryAfterSeconds ?? retry.delay(beforeRetry: attemptOnModel, unitRandom: configuration.random())
                        do { try await configuration.sleep(min(wait, 3600)) } catch { return try await stopped(job) }
                    }
                }
            }
            // Next candidate under the same hard constraints, with fresh availability.
            let decision = router.decide(job.task, context: routingContext())
            next = decision.fallbacks(after: modelID, refused: refused).map(\.model.id).first { !tried.contains($0) }
        }
        return try await failed(job, lastError ?? AtelierError(.noRoute, "no model could serve this task"))
    }

    /// Stopped by cancellation: the caller's cancel, or the daemon's shutdown.
    private func stopped(_ job: Job) async throws(AtelierError) -> Job {
        if cancelRequested.contains(job.taskUUID) { return try await cancelled(job) }
        return try await interrupted(job)
    }

    private enum AttemptOutcome {
        case success([JobResult])
        case failure(ProviderError)
    }

    /// One provider call (or resumption), with results stored.
    private func attempt(
        job: Job, model: ModelCard, size: ResolvedSize, entry: ProviderEntry, provider: any Provider, attemptKey: String, resumeHandle: String?
    ) async -> AttemptOutcome {
        // Providers write into the shared scratch directory (files named after the attempt key): no directory per
        // attempt. Leftovers are removed after a failure, and reference downloads' own directory when there was one.
        let outcome = await attemptInScratch(
            job: job, model: model, size: size, entry: entry, provider: provider, attemptKey: attemptKey, resumeHandle: resumeHandle,
            scratch: files.scratchRoot)
        let failed: Bool
        if case .failure = outcome { failed = true } else { failed = false }
        let downloaded = job.task.referenceImages.contains { if case .url = $0 { return true } else { return false } }
        if failed || downloaded { await files.removeScratch(attemptKey: attemptKey, failed: failed) }
        return outcome
    }

    private func attemptInScratch(
        job: Job, model: ModelCard, size: ResolvedSize, entry: ProviderEntry, provider: any Provider, attemptKey: String, resumeHandle: String?,
        scratch: String
    ) async -> AttemptOutcome {
        let refs: [LoadedReference]
        do {
            refs = try await references.load(job.task, model: model, attemptKey: attemptKey, timeoutSeconds: entry.config.requestTimeoutSeconds)
        } catch {
            return .failure(ProviderError(error.code, error.message, field: error.field))
        }
        let request = GenerationRequest(
            task: job.task, model: model, size: size, seed: model.seedAccepted ? job.task.seed : nil, references: refs, scratchDirectory: scratch,
            attemptKey: attemptKey, credentials: entry.credentials, baseURL: entry.baseURL)
        let taskUUID = job.taskUUID
        let signals = cancelSignals
        let context = GenerationContext(
            recordResumeHandle: { [weak self] handle in
                guard let self else { return }
                try await self.recordHandle(taskUUID, handle)
            },
            isCancelled: { signals.isRaised(taskUUID) })
        let images: [GeneratedImage]
        do {
            if let resumeHandle {
                images = try await provider.resume(handle: resumeHandle, request: request, context: context)
            } else {
                images = try await provider.generate(request, context: context)
            }
        } catch {
            return .failure(error)
        }
        if images.isEmpty { return .failure(ProviderError(.noImage, "the provider returned no image")) }
        var results: [JobResult] = []
        for (i, img) in images.enumerated() {
            let seed: Int64? = model.seedHonored ? (img.seed ?? request.seed.map { $0 + Int64(i) }) : nil
            do {
                var stored = try await untilFilesWritten(taskUUID) {
                    try await files.store(img, taskUUID: taskUUID, imageUUID: UUIDv4.generate(), seed: seed, seedHonored: model.seedHonored)
                }
                // Seed-honouring models only: how to make this image again (model version, parameters sent, references).
                stored.recipe = Recipe.make(
                    model: model, seed: seed, parameters: img.sentParameters, referenceSHA256: refs.map(\.sha256), result: stored)
                results.append(stored)
            } catch {
                return .failure(ProviderError(error.code, error.message))
            }
        }
        // The files reach the disk before the row that names them commits: one syncfs shared by the jobs finishing
        // together (under synchronous = FULL; with NORMAL the store itself does not survive a power loss either).
        if configuration.durability == .full { await files.syncStored() }
        return .success(results)
    }

    /// Writes result files (or creates the scratch directory) until the disk takes them: a write that fails for
    /// the daemon's own storage (disk full, I/O error) marks the store's `files` part failing (health) and is
    /// retried with capped backoff while the images stay in memory, so a full disk never fails the job nor pays the
    /// provider again. Other errors (e.g. data that is not an image) are thrown at once; cancellation stops waiting.
    private func untilFilesWritten<T>(_ taskUUID: String, _ body: () async throws -> T) async throws(AtelierError) -> T {
        var delay = configuration.storeRetryInitialDelaySeconds
        var failures = 0
        while true {
            do {
                let value = try await body()
                store.condition.clear(.files)
                if failures > 0 { logger.notice("result files can be written again", metadata: ["taskUUID": "\(taskUUID)", "retries": "\(failures)"]) }
                return value
            } catch let e as AtelierError where e.code != .storeFailure {
                throw e
            } catch {
                let why = (error as? AtelierError)?.message ?? "\(error)"
                store.condition.record(.files, "cannot write result files under \(configuration.dataDirectory): \(why)")
                if failures == 0 {
                    logger.error("result files cannot be written; retrying", metadata: ["taskUUID": "\(taskUUID)", "error": "\(why)"])
                }
                failures += 1
                if Task.isCancelled { throw AtelierError(.cancelled, "stopped while waiting to write result files") }
                do { try await configuration.sleep(delay) } catch { throw AtelierError(.cancelled, "stopped while waiting to write result files") }
                delay = min(delay * 2, configuration.storeRetryMaxDelaySeconds)
            }
        }
    }

    /// Durably records an upstream handle on the job's current attempt.
    func recordHandle(_ taskUUID: String, _ handle: String) async throws {
        guard var job = cache.job(taskUUID), !job.attempts.isEmpty else { return }
        job.attempts[job.attempts.count - 1].resumeHandle = handle
        try await persist(job)
    }

    private func failed(_ start: Job, _ error: AtelierError) async throws(AtelierError) -> Job {
        var job = start
        job.status = .failed
        job.error = error
        job.finishedAt = .now()
        try await persist(job, event: "failed")
        events.publish(JobEvent(event: "failed", job: job))
        return job
    }

    private func cancelled(_ start: Job) async throws(AtelierError) -> Job {
        var job = start
        if let i = job.attempts.indices.last, job.attempts[i].outcome == .running {
            job.attempts[i].outcome = .cancelled
            job.attempts[i].endedAt = .now()
        }
        job.status = .cancelled
        job.error = AtelierError(.cancelled, "cancelled by the caller")
        job.finishedAt = .now()
        try await persist(job, event: "cancelled")
        events.publish(JobEvent(event: "cancelled", job: job))
        return job
    }

    /// The daemon is stopping: leave the job queued (with its resume handle) for the next start.
    private func interrupted(_ start: Job) async throws(AtelierError) -> Job {
        var job = start
        if let i = job.attempts.indices.last, job.attempts[i].outcome == .running {
            job.attempts[i].outcome = .interrupted
            job.attempts[i].endedAt = .now()
        }
        job.status = .queued
        try await persist(job, event: "interrupted")
        return job
    }

    private func recordBreaker(_ model: String, success: Bool) {
        breakers.record(model: model, success: success, at: Self.seconds(.now))
    }
}


// MARK: - Model verification (`models.verify`)

/// What `models.verify` found: whether each provider could be asked, and for each configured model whether its
/// provider still lists it today.
public struct ModelVerificationReport: Sendable {
    /// One provider's part.
    public struct ProviderResult: Sendable {
        public var provider: String
        /// `checked`, `skipped` (no key, not configured, built-in), `unsupported` (the API has no model list) or `failed`.
        public var status: String
        public var reason: String?
        public var error: AtelierError?
    }

    /// One configured model.
    public struct ModelResult: Sendable {
        public var id: String
        public var provider: String
        public var upstreamID: String
        public var catalogStatus: ModelStatus
        public var replacedBy: String?
        /// `present`, `missing`, `deprecated` (as the provider says), `unknown` (the provider did not say), or
        /// `skipped` / `unsupported` / `failed` (as its provider).
        public var upstream: String
    }

    public var providers: [ProviderResult]
    public var models: [ModelResult]

    /// Routable models (active or deprecated in the catalog) their provider no longer lists: jobs for them will fail.
    public var missing: [String] { models.filter { $0.upstream == "missing" && $0.catalogStatus != .retired }.map(\.id) }
    /// Models the provider flags as deprecated, or the catalog marks deprecated.
    public var deprecated: [String] { models.filter { $0.upstream == "deprecated" || $0.catalogStatus == .deprecated }.map(\.id) }
    /// Models the catalog marks retired (never routed), whatever the provider says.
    public var retired: [String] { models.filter { $0.catalogStatus == .retired }.map(\.id) }
    /// Retired in the catalog but still listed upstream (informational).
    public var retiredButListed: [String] { models.filter { $0.catalogStatus == .retired && $0.upstream == "present" }.map(\.id) }
    /// Providers not asked.
    public var skipped: [String] { providers.filter { $0.status == "skipped" }.map(\.provider) }

    public var json: JSONValue {
        let ps: [JSONValue] = providers.map { p in
            var o: JSONObject = ["provider": .string(p.provider), "status": .string(p.status)]
            o.append("reason", ifPresent: p.reason.map(JSONValue.string))
            o.append("error", ifPresent: p.error?.json)
            return .object(o)
        }
        let ms: [JSONValue] = models.map { m in
            var o: JSONObject = [
                "id": .string(m.id), "provider": .string(m.provider), "upstreamId": .string(m.upstreamID), "catalogStatus": .string(m.catalogStatus.rawValue),
                "upstream": .string(m.upstream),
            ]
            o.append("replacedBy", ifPresent: m.replacedBy.map(JSONValue.string))
            return .object(o)
        }
        func ids(_ a: [String]) -> JSONValue { .array(a.map(JSONValue.string)) }
        return [
            "providers": .array(ps), "models": .array(ms), "missing": ids(missing), "deprecated": ids(deprecated), "retired": ids(retired),
            "retiredButListed": ids(retiredButListed), "skipped": ids(skipped),
        ]
    }
}

extension Engine {
    /// The configured provider ids, in catalog order.
    public var providerIDs: [String] { catalog.providers.map(\.id) }

    /// Asks every provider that has a key (or needs none and is configured) which configured model ids exist
    /// today, concurrently. Providers without a key are reported as skipped; no job is affected.
    /// - Parameter only: restrict to these provider ids (nil: all).
    public func verifyModels(providers only: Set<String>? = nil) async -> ModelVerificationReport {
        let catalog = self.catalog
        let registry = self.registry
        let configs = catalog.providers.filter { only == nil || only!.contains($0.id) }
        let outcomes = await withTaskGroup(of: (Int, ModelVerificationReport.ProviderResult, [String: ModelVerification]).self) { group in
            for (i, config) in configs.enumerated() {
                let entry = registry.entry(config.id)
                group.addTask {
                    func result(_ status: String, _ reason: String?, _ error: AtelierError? = nil) -> ModelVerificationReport.ProviderResult {
                        .init(provider: config.id, status: status, reason: reason, error: error)
                    }
                    if config.kind == .local { return (i, result("skipped", "built-in renderer"), [:]) }
                    guard let entry, let provider = entry.provider else { return (i, result("skipped", "no implementation"), [:]) }
                    if let why = entry.unavailable { return (i, result("skipped", why.description), [:]) }
                    let ids = Array(Set(config.models.map(\.upstreamID))).sorted()
                    do throws(ProviderError) {
                        guard let found = try await provider.verifyModels(ids) else {
                            return (i, result("unsupported", "the provider's API cannot list models"), [:])
                        }
                        return (i, result("checked", nil), found)
                    } catch {
                        return (i, result("failed", error.message, error.atelierError), [:])
                    }
                }
            }
            var out: [(Int, ModelVerificationReport.ProviderResult, [String: ModelVerification])] = []
            for await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }
        }
        var report = ModelVerificationReport(providers: [], models: [])
        for (i, p, found) in outcomes {
            report.providers.append(p)
            for m in configs[i].models {
                let upstream: String
                if p.status == "checked" { upstream = found[m.upstreamID]?.rawValue ?? "unknown" } else { upstream = p.status }
                report.models.append(
                    .init(id: m.id, provider: m.provider, upstreamID: m.upstreamID, catalogStatus: m.status, replacedBy: m.replacedBy, upstream: upstream))
            }
        }
        return report
    }
}
