import AtelierCore
import Foundation
import Logging

/// Runs hybrid workflows on the engine: ideation variants as ordinary jobs, a selection, and a reproducible final.
///
/// The decisions are ``WorkflowMachine``'s (pure); this service stores every state change before acting on it,
/// listens to the engine's job events, and at ``start()`` reconciles every unfinished workflow against the jobs'
/// stored states, so a restart at any step continues correctly. Stage jobs have taskUUIDs derived from the
/// workflowUUID, so a job submitted just before a crash is found again (or resubmitted idempotently), never doubled.
///
/// Invariants:
/// - Changes to one workflow are serialised (a per-workflow lock), and each is committed before its actions run
///   and before its events are published.
/// - The final job is submitted only after the selection is committed.
/// - In a cluster (PostgreSQL mode) every daemon runs this service on the same workflow rows. A stage job's end
///   reaches the daemon that ran it (a local event) and the daemons that show the job (the same end relayed, marked
///   ``JobEvent/remote``); each applies it through ``WorkflowStorage/modify(_:_:)``, which serialises the daemons'
///   changes to one workflow on its row, so the first applies it and performs its actions (the final's submission,
///   the webhooks' outbox rows) and the others find it applied and only show the new state to their own waiters.
///   A daemon therefore never acts twice on one end, and a workflow whose jobs finish on another daemon — even one
///   that died right after finishing the job — continues exactly once. Reads answer from the store, not from this
///   daemon's memory, which another daemon's change makes stale.
/// - A store fault never loses a change the daemon makes by itself (a stage job finished, reconciliation, a
///   submission's outcome): like the engine's job state changes, it is retried with backoff (``StoreRetry``) until
///   it commits, and the workflow moves on by itself once the store accepts writes. A caller's change (`select`,
///   `cancel`) is refused with a retryable `store_failure` saying why instead, so the caller decides.
public actor WorkflowService {
    /// Workflow events (`workflow.wait`, the webhook sender).
    public nonisolated let events = EventBus<WorkflowEvent>()

    let engine: Engine
    let store: any WorkflowStorage
    let logger: Logger
    let random: @Sendable () -> Double

    /// Unfinished workflows (finished ones are read from the store).
    private var active: [String: Workflow] = [:]
    private var locked: Set<String> = []
    private var lockWaiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    private var retries: [String: Int] = [:]
    /// Set by ``stop()``: store retries give up (the next start reconciles from the last committed state).
    private var stopping = false
    private var subscription: EventBus<JobEvent>.Token?
    private var consumer: Task<Void, Never>?
    private var feed: AsyncStream<Job>.Continuation?
    /// Cluster: the periodic catch-up (``catchUp()``).
    private var catchUpTask: Task<Void, Never>?

    /// PostgreSQL mode: other daemons change the same workflows (see the type's invariants).
    private nonisolated var clustered: Bool { engine.daemonID != nil }

    /// - Parameter random: a uniform value in [0, 1) for generated final seeds.
    public init(engine: Engine, store: any WorkflowStorage, logger: Logger, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.engine = engine
        self.store = store
        self.logger = logger
        self.random = random
    }

    // MARK: - Lifecycle

    /// Starts listening to job events and reconciles unfinished workflows. Call after `Engine.start()`.
    public func start() async throws {
        guard subscription == nil else { return }
        let (stream, continuation) = AsyncStream.makeStream(of: Job.self)
        feed = continuation
        subscription = engine.events.subscribe(taskUUID: nil) { ev in
            guard ev.job.task.tags[WorkflowSpec.Tag.workflow] != nil, ev.job.status.isTerminal, ev.event != .result else { return }
            continuation.yield(ev.job)
        }
        let unfinished = try await store.unfinished()
        for w in unfinished { active[w.workflowUUID] = w }
        for w in unfinished { await reconcile(w.workflowUUID) }
        if !unfinished.isEmpty { logger.info("reconciled unfinished workflows", metadata: ["count": "\(unfinished.count)"]) }
        consumer = Task { [weak self] in
            for await job in stream {
                guard let self else { return }
                await self.jobFinished(job)
            }
        }
        if clustered {
            // Real time, like the cluster's other loops (ClusterConfiguration).
            let every = Duration.milliseconds(Int64(engine.configuration.cluster.workflowCatchUpSeconds * 1000))
            catchUpTask = Task { [weak self] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: every) } catch { return }
                    guard let self else { return }
                    await self.catchUp()
                }
            }
        }
    }

    /// Stops listening (the store keeps everything for the next start). Events already received are still applied
    /// (the consumer drains, it is not cancelled: a cancelled task cannot write to the store).
    public func stop() async {
        stopping = true
        catchUpTask?.cancel()
        if let task = catchUpTask { await task.value }
        catchUpTask = nil
        if let subscription { engine.events.unsubscribe(subscription) }
        subscription = nil
        feed?.finish()
        feed = nil
        let c = consumer
        consumer = nil
        await c?.value
    }

    // MARK: - API

    /// `workflow.submit`: checks the request, routes both stages up front (a final that no model can serve is refused
    /// now, with every model's reason, before anything is spent), stores the workflow, submits the variants, and
    /// returns the workflow with the job of each variant. The same workflowUUID with the same request returns the
    /// existing workflow.
    public func submit(_ spec: WorkflowSpec) async throws(AtelierError) -> WorkflowView {
        if let existing = try await stored(spec.workflowUUID) {
            guard JSONWriter.string(existing.spec.json) == JSONWriter.string(spec.json) else { throw conflict(spec.workflowUUID) }
            return await view(existing)
        }
        let seed = spec.finalSeed ?? Int64(random() * 2_147_483_646) + 1

        let variant = spec.variantTask(0)
        try engine.check(variant)
        try engine.check(spec.finalProbeTask(seed: seed))
        let variantDecision = await engine.explain(variant)
        guard let variantChosen = variantDecision.chosen else {
            throw Self.stageError(variantDecision.error, stage: "ideation", spec: spec)
        }
        let finalProbe = spec.finalProbeTask(seed: seed)
        let finalDecision = await engine.explain(finalProbe)
        guard let finalChosen = finalDecision.chosen else {
            throw Self.stageError(finalDecision.error, stage: "final", spec: spec)
        }
        var autoVariant = variant
        autoVariant.model = "auto"
        var autoFinal = finalProbe
        autoFinal.model = "auto"
        let candidates =
            [variantChosen.model, finalChosen.model] + (await engine.explain(autoVariant)).eligible.map(\.model)
            + (await engine.explain(autoFinal)).eligible.map(\.model)
        let baseline = CostBaseline.mostExpensive(candidates: candidates, variant: variant, count: spec.ideationCount, final: finalProbe)

        var w = Workflow(spec: spec, finalSeed: seed, createdAt: .now(), baseline: baseline)
        for i in w.variants.indices { w.variants[i].estimatedCostUSD = variantChosen.estimatedCostUSD }
        w.final.estimatedCostUSD = finalChosen.estimatedCostUSD
        let outcome: WorkflowInsertOutcome
        do { outcome = try await store.insert(w, events: [.created]) } catch { throw storeError(error) }
        switch outcome {
        case .existing(let e): return await view(e)
        case .conflict: throw conflict(spec.workflowUUID)
        case .inserted: break
        }
        let id = w.workflowUUID
        active[id] = w
        events.publish(WorkflowEvent(event: .created, workflow: w))
        logger.info("workflow submitted", metadata: ["workflowUUID": "\(id)", "variants": "\(spec.ideationCount)", "mode": "\(spec.selectionMode)"])
        await lock(id)
        await perform(id, WorkflowMachine.start(w).filter { $0 != .emit(.created) })
        unlock(id)
        return try await get(id)
    }

    /// `workflow.get`.
    public func get(_ id: String) async throws(AtelierError) -> WorkflowView {
        await view(try await load(id))
    }

    /// The workflow value (tests, the CLI's typed helpers).
    public func workflow(_ id: String) async throws(AtelierError) -> Workflow { try await load(id) }

    /// `workflow.select`: finishes this variant's image.
    public func select(_ id: String, imageUUID: String) async throws(AtelierError) -> WorkflowView {
        _ = try await mutate(id, .select(imageUUID: imageUUID), byCaller: true)
        return try await get(id)
    }

    /// `workflow.cancel`: cancels the unfinished stage jobs and the workflow.
    public func cancel(_ id: String) async throws(AtelierError) -> WorkflowView {
        _ = try await mutate(id, .cancel, byCaller: true)
        return try await get(id)
    }

    /// `workflow.list`: a page of summaries, newest first.
    public func list(state: WorkflowState?, limit: Int, cursor: Int64?) async throws(AtelierError) -> WorkflowPage {
        let page: (workflows: [Workflow], next: Int64?)
        do { page = try await store.list(state: state, limit: limit, before: cursor) } catch { throw storeError(error) }
        return WorkflowPage(workflows: clustered ? page.workflows : page.workflows.map { active[$0.workflowUUID] ?? $0 }, nextCursor: page.next)
    }

    /// `workflow.wait`: the workflow once it needs the caller (`awaiting_selection`) or is finished, or as it is when
    /// the timeout passes.
    public nonisolated func wait(_ id: String, timeoutSeconds: Double) async throws(AtelierError) -> WorkflowView {
        let current = try await workflow(id)
        if current.state.isResting || timeoutSeconds <= 0 { return await view(current) }
        // Cluster: the stage jobs may run (and the final be submitted) on other daemons. Watching their taskUUIDs
        // on the engine's bus makes it relay their notices here, and their ends move the workflow on this daemon's
        // listeners too (``modifyShared(_:_:byCaller:)``).
        let watched = clustered ? current.taskUUIDs.map { engine.events.subscribe(taskUUID: $0) { _ in } } : []
        defer { for token in watched { engine.events.unsubscribe(token) } }
        _ = try await events.first(
            of: id, timeout: .milliseconds(Int64(timeoutSeconds * 1000)), where: { $0.workflow.state.isResting },
            unlessSettled: { () async throws(AtelierError) -> Bool in try await workflow(id).state.isResting })
        return try await get(id)
    }

    // MARK: - Driving

    /// A stage job finished (job events).
    func jobFinished(_ job: Job) async {
        guard let id = job.task.tags[WorkflowSpec.Tag.workflow] else { return }
        do throws(AtelierError) { _ = try await mutate(id, .job(job), byCaller: false) } catch {
            if error.code != .notFound {
                logger.error("workflow update failed", metadata: ["workflowUUID": "\(id)", "taskUUID": "\(job.taskUUID)", "error": "\(error)"])
            }
        }
    }

    /// Cluster: catches every unfinished workflow up with its stage jobs' stored ends. A stage job's end normally
    /// reaches the service of the daemon that ran it and of the daemons that show the job; when its runner died right
    /// after committing it and no other daemon showed the job, nobody applied it, and this (every
    /// ``ClusterConfiguration/workflowCatchUpSeconds``, on every daemon) does — once, under the workflow's row lock.
    func catchUp() async {
        guard !stopping else { return }
        let unfinished: [Workflow]
        do { unfinished = try await store.unfinished() } catch {
            logger.warning("workflow catch-up could not read the unfinished workflows", metadata: ["error": "\(error)"])
            return
        }
        for w in unfinished where !stopping { await reconcile(w.workflowUUID, stored: w, finishedOnly: true) }
    }

    /// Brings a workflow up to date with its jobs' stored states: records jobs that finished while nobody listened
    /// (in the order they finished), and resubmits stage jobs that were never stored.
    /// - Parameters:
    ///   - stored: the workflow as just read from the store (the cluster's catch-up), kept as the one shown here when
    ///     this daemon showed none.
    ///   - finishedOnly: only records finished stage jobs (the catch-up: a job still running or not yet stored is
    ///     another daemon's business at this moment).
    func reconcile(_ id: String, stored: Workflow? = nil, finishedOnly: Bool = false) async {
        await lock(id)
        defer { unlock(id) }
        if active[id] == nil, let stored { active[id] = stored }
        // The stages to look at: the store's copy when given (another daemon may have moved the workflow on since
        // this one showed it); applying an end that was applied meanwhile changes nothing.
        guard let w = stored ?? active[id] else { return }
        var finished: [Job] = []
        var inputs: [WorkflowInput] = []
        var stages = w.variants
        if w.state == .finalizing || w.final.isSubmitted { stages.append(w.final) }
        for s in stages where !s.isFinished {
            do throws(AtelierError) {
                let job = try await engine.job(s.taskUUID)
                if job.status.isTerminal { finished.append(job) } else if !finishedOnly { inputs.append(.job(job)) }
            } catch {
                if error.code == .notFound {
                    if finishedOnly { continue }
                    inputs.append(.jobMissing(taskUUID: s.taskUUID))
                } else {
                    logger.error("cannot read a workflow job", metadata: ["taskUUID": "\(s.taskUUID)", "error": "\(error)"])
                }
            }
        }
        finished.sort { ($0.finishedAt ?? $0.updatedAt, $0.taskUUID) < ($1.finishedAt ?? $1.updatedAt, $1.taskUUID) }
        for input in finished.map(WorkflowInput.job) + inputs {
            do { try await applyLocked(id, input) } catch {
                logger.error("workflow reconciliation failed", metadata: ["workflowUUID": "\(id)", "error": "\(error)"])
            }
        }
    }

    /// Applies one input under the workflow's lock.
    /// - Parameter byCaller: the input is a caller's request (its store fault is answered, not retried).
    private func mutate(_ id: String, _ input: WorkflowInput, byCaller: Bool) async throws(AtelierError) -> Workflow {
        await lock(id)
        defer { unlock(id) }
        try await applyLocked(id, input, byCaller: byCaller)
        return try await load(id)
    }

    /// Applies `input`, stores the result, publishes its events and performs its actions. Caller holds the lock.
    /// - Parameter byCaller: a caller's request: a store fault throws `store_failure` at once; otherwise (the
    ///   daemon's own change) the commit is retried until it succeeds or the service stops.
    private func applyLocked(_ id: String, _ input: WorkflowInput, byCaller: Bool = false) async throws(AtelierError) {
        if clustered {
            let actions = try await modifyShared(id, input, byCaller: byCaller)
            await perform(id, actions)
            return
        }
        var w = try await load(id)
        let actions = try WorkflowMachine.apply(input, to: &w, now: .now())
        try await commit(w, actions: actions, untilStored: !byCaller)
        await perform(id, actions)
    }

    /// Cluster: applies `input` to the stored workflow in one step no other daemon interleaves with
    /// (``WorkflowStorage/modify(_:_:)``), publishes its events, and returns its actions for this daemon to perform.
    /// When another daemon applied the same input first, nothing is left to do here: the actions are empty, and a
    /// state this daemon had not shown yet is published to its own listeners (no webhook: the daemon that made the
    /// change owes it).
    private func modifyShared(_ id: String, _ input: WorkflowInput, byCaller: Bool) async throws(AtelierError) -> [WorkflowAction] {
        let store = self.store
        let now = Timestamp.now()
        let change: @Sendable () async throws -> (workflow: Workflow, value: [WorkflowAction])? = {
            try await store.modify(id) { (w: inout Workflow) throws -> (events: [WorkflowEventKind], value: [WorkflowAction]) in
                let actions = try WorkflowMachine.apply(input, to: &w, now: now)
                return (actions.compactMap { if case .emit(let e) = $0 { return e } else { return nil } }, actions)
            }
        }
        let answer: (workflow: Workflow, value: [WorkflowAction])?
        if byCaller {
            do { answer = try await withoutCancellation(change) } catch { throw storeError(error) }
        } else {
            // Store faults are retried until the change commits; the machine's refusals throw as they are.
            answer = try await StoreRetry(configuration: engine.configuration, logger: logger).untilStored(
                "workflow state change", metadata: ["workflowUUID": "\(id)"], stopping: { stopping }, change)
        }
        guard let (w, actions) = answer else {
            throw AtelierError(.notFound, "no workflow with workflowUUID \(id)", field: "/workflowUUID")
        }
        let shown = active[id]
        if w.state.isTerminal {
            active[id] = nil
            retries[id] = nil
        } else {
            active[id] = w
        }
        let emitted = actions.compactMap { if case .emit(let e) = $0 { return e } else { return nil } }
        for e in emitted {
            events.publish(WorkflowEvent(event: e, workflow: w))
            logger.info("workflow event", metadata: ["workflowUUID": "\(id)", "event": "\(e.rawValue)", "state": "\(w.state.rawValue)"])
        }
        if emitted.isEmpty, let relayed = Self.event(entering: w.state), shown?.state != w.state || (shown == nil && w.state.isResting) {
            events.publish(WorkflowEvent(event: relayed, workflow: w, remote: true))
        }
        return actions
    }

    /// The event a workflow publishes when it enters `state` (nil for the first state).
    private static func event(entering state: WorkflowState) -> WorkflowEventKind? {
        switch state {
        case .ideating: return nil
        case .awaitingSelection: return .awaitingSelection
        case .finalizing: return .finalizing
        case .succeeded: return .succeeded
        case .failed: return .failed
        case .cancelled: return .cancelled
        }
    }

    /// Stores `w` (with its events, for write hooks) unless nothing changed, then publishes the events.
    /// - Parameter untilStored: retry through store faults (``StoreRetry``) instead of throwing.
    private func commit(_ w: Workflow, actions: [WorkflowAction], untilStored: Bool) async throws(AtelierError) {
        let emitted = actions.compactMap { if case .emit(let e) = $0 { return e } else { return nil } }
        let before = active[w.workflowUUID]
        if before == w && emitted.isEmpty { return }
        let store = self.store
        let write: @Sendable () async throws -> Void = { try await store.update(w, events: emitted) }
        if untilStored {
            // Committed even when the calling task was cancelled (StoreRetry runs it through withoutCancellation).
            try await StoreRetry(configuration: engine.configuration, logger: logger).untilStored(
                "workflow state change", metadata: ["workflowUUID": "\(w.workflowUUID)"], stopping: { stopping }, write)
        } else {
            // Committed even when the calling task was cancelled.
            do { try await withoutCancellation(write) } catch { throw storeError(error) }
        }
        if w.state.isTerminal {
            active[w.workflowUUID] = nil
            retries[w.workflowUUID] = nil
        } else {
            active[w.workflowUUID] = w
        }
        for e in emitted {
            events.publish(WorkflowEvent(event: e, workflow: w))
            logger.info("workflow event", metadata: ["workflowUUID": "\(w.workflowUUID)", "event": "\(e.rawValue)", "state": "\(w.state.rawValue)"])
        }
    }

    /// Performs actions (submissions in parallel: they share one group commit), then applies what they report.
    /// Caller holds the lock.
    private func perform(_ id: String, _ actions: [WorkflowAction]) async {
        var submits: [ImageTask] = []
        for a in actions {
            switch a {
            case .submit(let t): submits.append(t)
            case .cancelJobs(let ids):
                for job in ids {
                    do throws(AtelierError) { _ = try await engine.cancel(job) } catch  where error.code != .notCancellable && error.code != .notFound
                    {
                        logger.warning("cannot cancel a workflow job", metadata: ["taskUUID": "\(job)", "error": "\(error)"])
                    } catch {}
                }
            case .emit: break
            }
        }
        guard !submits.isEmpty else { return }
        let engine = self.engine
        let outcomes = await withTaskGroup(of: (Int, Result<Job, AtelierError>).self) { group in
            for (i, t) in submits.enumerated() {
                group.addTask {
                    do throws(AtelierError) { return (i, .success(try await engine.submit(t))) } catch { return (i, .failure(error)) }
                }
            }
            var out: [(Int, Result<Job, AtelierError>)] = []
            for await o in group { out.append(o) }
            return out.sorted { $0.0 < $1.0 }
        }
        var retryLater = false
        var storeTrouble = false
        for (i, outcome) in outcomes {
            let input: WorkflowInput
            switch outcome {
            case .success(let job): input = .job(job)
            case .failure(let e) where e.retryable:
                // Transient (shutting down, store trouble): leave the stage unsubmitted; reconciliation resubmits it.
                logger.warning("workflow job not submitted yet", metadata: ["taskUUID": "\(submits[i].taskUUID)", "error": "\(e)"])
                if e.code != .shuttingDown { retryLater = true }
                if e.code == .storeFailure { storeTrouble = true }
                continue
            case .failure(let e): input = .submitFailed(taskUUID: submits[i].taskUUID, error: e)
            }
            do { try await applyLocked(id, input) } catch {
                logger.error("workflow update failed", metadata: ["workflowUUID": "\(id)", "error": "\(error)"])
            }
        }
        if retryLater { scheduleRetry(id, storeFault: storeTrouble) }
    }

    /// Reconciles the workflow again after a wait, to resubmit stage jobs whose submission failed retryably. Other
    /// transient refusals are tried 5 times; a store that cannot commit is waited out for as long as it lasts (the
    /// workflow was acknowledged: it must not be stranded until a restart), the wait capped at 30 s.
    private func scheduleRetry(_ id: String, storeFault: Bool) {
        guard !stopping else { return }
        let n = retries[id, default: 0] + 1
        retries[id] = n
        guard n <= 5 || storeFault else {
            logger.error("giving up resubmitting workflow jobs until the next start", metadata: ["workflowUUID": "\(id)"])
            return
        }
        let waitMs = min(Int64(250) << Int64(min(n, 7)), 30_000)
        // A backoff, not a wait for an event: nothing announces that the store takes writes again. It sleeps on the
        // engine's injected clock (EngineConfiguration.clock), so tests drive it like the engine's own retries.
        let clock = engine.configuration.clock
        Task { [weak self] in
            try? await clock.sleep(for: .milliseconds(waitMs))
            await self?.reconcile(id)
        }
    }

    // MARK: - Helpers

    private func load(_ id: String) async throws(AtelierError) -> Workflow {
        if let w = try await stored(id) { return w }
        throw AtelierError(.notFound, "no workflow with workflowUUID \(id)", field: "/workflowUUID")
    }

    /// The workflow: this daemon's copy of an unfinished one, else the store's (in a cluster always the store's:
    /// another daemon may have moved it on).
    private func stored(_ id: String) async throws(AtelierError) -> Workflow? {
        if !clustered, let w = active[id] { return w }
        do { return try await store.workflow(id) } catch { throw storeError(error) }
    }

    /// The workflow with each submitted stage's live job.
    private nonisolated func view(_ w: Workflow) async -> WorkflowView {
        var jobs: [String: Job] = [:]
        for id in w.taskUUIDs {
            if let j = engine.cache.job(id) {
                jobs[id] = j
            } else if w.variants.contains(where: { $0.taskUUID == id && $0.isSubmitted }) || (id == w.final.taskUUID && w.final.isSubmitted) {
                jobs[id] = try? await engine.job(id)
            }
        }
        return WorkflowView(workflow: w, jobs: jobs)
    }

    private func lock(_ id: String) async {
        if locked.insert(id).inserted { return }
        await withCheckedContinuation { lockWaiters[id, default: []].append($0) }
    }

    /// Hands the lock to the next waiter, or releases it.
    private func unlock(_ id: String) {
        if var waiters = lockWaiters[id], !waiters.isEmpty {
            let next = waiters.removeFirst()
            lockWaiters[id] = waiters.isEmpty ? nil : waiters
            next.resume()
        } else {
            locked.remove(id)
        }
    }

    private func conflict(_ id: String) -> AtelierError {
        AtelierError(.conflictWorkflowUUID, "workflowUUID \(id) is already used by a different request", field: "/workflowUUID")
    }

    private func storeError(_ error: any Error) -> AtelierError {
        if let e = error as? AtelierError { return e }
        logger.error("workflow store failed", metadata: ["error": "\(error)"])
        if let fault = StoreFault(error, directory: engine.configuration.dataDirectory) {
            return AtelierError(.storeFailure, "the store cannot commit (\(fault.message)); nothing was changed, try again later", retryable: true)
        }
        return AtelierError(.storeFailure, "the workflow store failed; nothing was changed", retryable: true)
    }

    /// A stage's routing error, with its fields pointed into the workflow request.
    static func stageError(_ error: AtelierError?, stage: String, spec: WorkflowSpec) -> AtelierError {
        var e = error ?? AtelierError(.noRoute, "no model can serve the \(stage) stage")
        let base = "/\(stage)"
        let sizeFields: Set<String> = ["/aspectRatio", "/resolution", "/width", "/height"]
        switch e.field {
        case "/model"?, "/requirements/reproducible"?: e.field = base + "/model"
        case "/referenceImages"?: e.field = stage == "final" ? "/final/useSelectedAsReference" : base
        case "/seed"?: e.field = base + "/seed"
        case "/positivePrompt"? where stage == "final" && spec.promptOverride != nil: e.field = "/final/promptOverride"
        case let f? where sizeFields.contains(f) && stage == "final" && spec.finalResolution != nil: e.field = "/final/resolution"
        default: break
        }
        if stage == "final" {
            e.message =
                "the final stage (seed-honouring, reproducible" + (spec.useSelectedAsReference ? ", anchored on the selected variant" : "")
                + ") cannot run: " + e.message
        } else {
            e.message = "the ideation stage cannot run: " + e.message
        }
        e.details["stage"] = .string(stage)
        return e
    }
}
