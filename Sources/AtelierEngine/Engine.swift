import AtelierCore
import AtelierProviders
import Foundation
import Logging

/// The engine: accepts tasks, stores them durably, schedules them on providers, retries and falls back, stores
/// results, and publishes events.
///
/// Invariants:
/// - ``submit(_:)`` returns only after the job is committed to the store (group commit).
/// - Every job that is not finished is in ``cache``, has a ``JobLifecycle``, and is in exactly one provider queue or
///   running slot.
/// - A job's state changes only inside this actor and is persisted before the matching event is published.
/// - At most `concurrency` jobs of one provider run at once.
public actor Engine {
    /// Current job states for synchronous reads (the socket server's `job.get` fast path).
    public nonisolated let cache: JobCache
    /// Job events (socket subscriptions, waiters, delivery).
    public nonisolated let events: EventBus<JobEvent>
    /// When the engine was created, on its clock (``EngineConfiguration/clock``).
    public nonisolated let startedAt: AtelierClock.Instant

    /// This daemon's id in a cluster (PostgreSQL mode); nil in SQLite mode.
    public nonisolated let daemonID: String?

    let configuration: EngineConfiguration
    /// The jobs path: SQLite's ``JobStore`` (one daemon) or ``PostgresJobStore`` (a cluster).
    let store: any JobStoring
    /// The cluster side in PostgreSQL mode (claims, leases, notices, heartbeats); nil in SQLite mode.
    let cluster: Cluster?
    let batcher: SubmitBatcher
    let files: ResultFiles
    let references: ReferenceLoader
    let logger: Logger

    private(set) var catalog: Catalog
    private(set) var policy: RoutingPolicy
    private(set) var router: Router
    private(set) var registry: ProviderRegistry
    /// Models the registry cannot serve (no key, not configured), computed once per configuration.
    var registryUnavailable: [String: Rejection]

    var queues: [String: JobQueue] = [:]
    var runningCount: [String: Int] = [:]
    var running: [String: Task<Void, Never>] = [:]
    /// The lifecycle of every unfinished job: the one copy of its state (``JobLifecycle``). The engine feeds it what
    /// happens and executes the actions it answers; the provider's callback (``recordHandle(_:_:)``) and `job.cancel`
    /// apply their inputs to the same value. The cache only mirrors what was persisted; nothing reads a job's state
    /// back out of it.
    var lifecycles: [String: JobLifecycle] = [:]
    /// The same requests, for providers' synchronous ``GenerationContext/isCancelled`` checks.
    nonisolated let cancelSignals = CancelSignals()
    var breakers = CircuitBreakers()
    var ledger = BudgetLedger()
    var accepting = true
    var draining = false
    /// When health may next try a probe write while the store is marked failing.
    var nextStoreProbe = ContinuousClock.now
    /// PostgreSQL mode: the lease under which this daemon holds each job it claimed.
    var leases: [String: StoreLease] = [:]
    /// PostgreSQL mode: providers whose claim loop is running, and those asked to claim again when it ends.
    var claiming: Set<String> = []
    var claimAgain: Set<String> = []
    /// PostgreSQL mode: heartbeats, lease renewal, notices and reconciliation, until shutdown.
    var clusterTask: Task<Void, Never>?

    /// Creates an engine over an opened store: SQLite's ``JobStore``, or a ``PostgresJobStore`` (then the engine
    /// runs as one daemon of a cluster, with the daemon id of that store).
    public init(
        configuration: EngineConfiguration, store: any JobStoring, catalog: Catalog, policy: RoutingPolicy, registry: ProviderRegistry,
        transport: any HTTPTransport, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        if let shared = store as? PostgresJobStore {
            self.cluster = Cluster(store: shared.store, daemonID: shared.daemonID, configuration: configuration.cluster)
            self.daemonID = shared.daemonID
        } else {
            self.cluster = nil
            self.daemonID = nil
        }
        self.batcher = SubmitBatcher(store: store)
        self.files = ResultFiles(root: configuration.dataDirectory, daemonID: self.daemonID)
        self.references = ReferenceLoader(transport: transport, files: files)
        self.logger = logger
        self.catalog = catalog
        self.policy = policy
        self.router = Router(catalog: catalog, policy: policy)
        self.registry = registry
        self.registryUnavailable = registry.unavailableModels(in: catalog)
        self.cache = JobCache(capacity: configuration.jobCacheCapacity)
        self.events = EventBus()
        self.startedAt = configuration.clock.now
    }

    // MARK: - Lifecycle

    /// Recovers unfinished jobs from the store and starts scheduling them.
    ///
    /// Jobs that were running when the daemon stopped get their attempt marked `interrupted`; an asynchronous
    /// provider call with a recorded handle is resumed by polling (never paid twice), anything else is run again.
    public func start() async throws {
        if cluster != nil {
            // A cluster's unfinished jobs belong to no daemon in particular: the claim loops take them (queued ones
            // at once, running ones once their holder's lease ran out).
            try await startCluster()
            return
        }
        if let sqlite = store as? JobStore { ledger = try await BudgetLedger.rebuild(store: sqlite, budgets: policy.budgets, now: .now()) }
        let unfinished = try await store.unfinishedJobs()
        var recovered = 0
        for job in unfinished {
            var lifecycle = JobLifecycle(job: job)
            let actions = lifecycle.apply(.recovered(now: .now()))
            lifecycles[job.taskUUID] = lifecycle
            cache.put(lifecycle.job)
            for action in actions {
                guard case .persist(let queued, _, _) = action else {
                    try await perform([action], job.taskUUID)
                    continue
                }
                recovered += 1
                do { try await store.commit(queued, change: nil, lease: nil) } catch {
                    // The store cannot commit now: the job is queued in memory and its next state change is
                    // retried until it commits; if the daemon stops first, recovery sees it `running` again.
                    guard store.fault(error) != nil else { throw error }
                    logger.warning("could not record a recovered job as queued", metadata: ["taskUUID": "\(job.taskUUID)", "error": "\(error)"])
                }
            }
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
        let left = running
        guard !left.isEmpty else {
            await stopCluster()
            return
        }
        let grace = Duration.milliseconds(Int64(configuration.shutdownGraceSeconds * 1000))
        let clock = configuration.clock
        await withTaskGroup(of: Bool.self) { group in
            // Whichever ends first: every running job, or the grace period (then the jobs still running are
            // interrupted and the group waits for them to record it).
            group.addTask {
                for (_, t) in left { await t.value }
                return true
            }
            group.addTask {
                try? await clock.sleep(for: grace)
                return false
            }
            if await group.next() == false, !running.isEmpty {
                logger.warning("interrupting running jobs at shutdown", metadata: ["count": "\(running.count)"])
                for (_, t) in running { t.cancel() }
            }
            group.cancelAll()
        }
        await stopCluster()
    }

    // MARK: - Submission

    /// Validates, routes and durably stores a task; returns the job as acknowledged.
    ///
    /// Resubmitting the same taskUUID with the same task returns the existing job and starts nothing; the same
    /// taskUUID with a different task fails with `conflict_task_uuid`.
    public func submit(_ task: ImageTask) async throws(AtelierError) -> Job {
        guard accepting else { throw AtelierError(.shuttingDown, "the daemon is shutting down; submit again after it restarts", retryable: true) }
        try await Self.precheckConsistency(task)
        if cache.job(task.taskUUID) != nil {
            // A known id: answer from the stored request without routing (same task → the job; else conflict).
            if let existing = try await existingIfSame(task) { return existing }
        }
        if let sqlite = store as? JobStore, ledger.isStale(at: .now()),
            let fresh = try? await BudgetLedger.rebuild(store: sqlite, budgets: policy.budgets, now: .now())
        {
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
        let outcome: SubmissionOutcome
        do { outcome = try await batcher.submit(JobSubmission(job: job, hold: budgetHold(for: job))) } catch {
            ledger.add(-summary.estimatedCostUSD, task: task, createdAt: job.createdAt, budgets: policy.budgets)
            if let e = error as? AtelierError { throw e }
            logger.error("store failed on submit", metadata: ["error": "\(error)"])
            if let fault = store.fault(error) { throw fault.atelierError }
            throw AtelierError(.storeFailure, "the job could not be stored; nothing was accepted", retryable: true)
        }
        if case .inserted = outcome {
        } else {
            ledger.add(-summary.estimatedCostUSD, task: task, createdAt: job.createdAt, budgets: policy.budgets)
        }
        switch outcome {
        case .inserted(let j) where cluster != nil:
            // Any daemon of the cluster may run it: the claim loops take it (this one first, when it has room).
            cache.put(j)
            events.publish(JobEvent(.queued, job: j))
            if let provider = j.route?.provider { requestClaim(provider) }
            return j
        case .inserted(let j):
            var lifecycle = JobLifecycle(job: j)
            let actions = lifecycle.apply(.accepted)
            lifecycles[j.taskUUID] = lifecycle
            cache.put(j)
            try await perform(actions, j.taskUUID)
            pump()
            return j
        case .existing(let j):
            return cache.job(j.taskUUID) ?? j
        case .conflict:
            throw conflict(task.taskUUID)
        case .overBudget(let refusal):
            throw AtelierError(
                .budgetExceeded,
                "the estimate of \(summary.estimatedCostUSD) USD would pass the \(refusal.counter.period.rawValue) budget of \(refusal.counter.tag)=\(refusal.counter.value) (\(refusal.spentUSD) of \(refusal.capUSD) USD spent)",
                field: "/tags/\(refusal.counter.tag)")
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
            if let j = try await store.job(taskUUID) {
                // Cluster: a job another daemon runs is kept here from now on, so its notices refresh it (waiters).
                if cluster != nil { cache.put(j) }
                return j
            }
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

    /// Waits until the job is finished or `timeoutSeconds` pass; returns it as it is then.
    public nonisolated func wait(_ taskUUID: String, timeoutSeconds: Double) async throws(AtelierError) -> Job {
        let current = try await job(taskUUID)
        if current.status.isTerminal || timeoutSeconds <= 0 { return current }
        let finished = await events.first(
            of: taskUUID, timeout: .milliseconds(Int64(timeoutSeconds * 1000)), where: { $0.job.status.isTerminal },
            unlessSettled: { cache.job(taskUUID)?.status.isTerminal == true })  // it may have finished before the subscription
        if let finished { return finished.job }
        return try await job(taskUUID)
    }

    // MARK: - Configuration

    /// Swaps in a new catalog, routing policy and provider set, all validated by the caller. Queued jobs keep
    /// their routes; new decisions use the new policy at once.
    public func reload(catalog: Catalog, policy: RoutingPolicy, registry: ProviderRegistry) async throws(AtelierError) {
        var fresh = BudgetLedger()
        if let sqlite = store as? JobStore {
            do { fresh = try await BudgetLedger.rebuild(store: sqlite, budgets: policy.budgets, now: .now()) } catch {
                throw AtelierError(.storeFailure, "could not rebuild the budget ledger", retryable: true)
            }
        }
        self.catalog = catalog
        self.policy = policy
        self.router = Router(catalog: catalog, policy: policy)
        self.registry = registry
        self.registryUnavailable = registry.unavailableModels(in: catalog)
        self.ledger = fresh
        logger.info("configuration reloaded", metadata: ["models": "\(catalog.models.count)", "rules": "\(policy.ruleNames.count)"])
        pump()
        if cluster != nil { claimAll() }
    }

    // MARK: - Cancellation

    /// Cancels a queued job, or a running one by abandoning its provider call.
    public func cancel(_ taskUUID: String) async throws(AtelierError) -> Job {
        let j = try await job(taskUUID)
        if j.status.isTerminal {
            throw AtelierError(
                .notCancellable, "job \(taskUUID) is already \(j.status.rawValue)", field: "/taskUUID",
                details: ["status": .string(j.status.rawValue)])
        }
        if cluster != nil, lifecycles[taskUUID] == nil, running[taskUUID] == nil {
            // Another daemon holds it, or nobody does yet.
            return try await cancelElsewhere(j)
        }
        if let actions = lifecycles[taskUUID]?.apply(.cancelRequested(now: .now())) {
            try await perform(actions, taskUUID)
            retireIfFinished(taskUUID)
        } else if let t = running[taskUUID] {
            // Finishing right now: its end is being recorded.
            await t.value
        }
        return try await job(taskUUID)
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

}
