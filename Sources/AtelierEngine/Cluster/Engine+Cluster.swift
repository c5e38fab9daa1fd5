import AtelierCore
import Foundation
import Logging

/// PostgreSQL mode: the engine as one daemon of a cluster sharing one queue (docs/operations.md, "PostgreSQL mode").
///
/// - Claims: one claim loop per provider takes queued jobs (and jobs whose holder's lease ran out) while this daemon
///   has free slots for that provider, within the provider's concurrency limit for the whole cluster (the store's
///   claim counts every daemon's live leases). A loop runs when woken — a notice of a new, re-queued or finished job,
///   a slot freed here, a submit here — and every ``ClusterConfiguration/reconcileSeconds`` (notices lost while the
///   listener was disconnected, leases that ran out without a notice).
/// - Leases: every state change of a claimed job is written under its lease; a refused write
///   (``StoreLeaseLost``) or a lease missing from a renewal means another daemon took the job over: this daemon
///   stops working on it and publishes nothing (``abandon(_:)``). A job taken over is recovered as after a crash:
///   an asynchronous provider call resumes from its recorded handle, a synchronous one runs again.
/// - Events: a notice of a change made by another daemon refreshes the job in ``cache`` and is published on
///   ``events`` (marked ``JobEvent/remote``) when this daemon shows the job (cached, or someone here waits for it).
/// - Cancel: a job another daemon holds is cancelled by a request its holder acts on (``cancelElsewhere(_:)``).
extension Engine {
    /// The cluster side of an engine in PostgreSQL mode.
    struct Cluster: Sendable {
        /// Claims, leases, notices, heartbeats.
        var store: any EngineStore
        /// This daemon's id (the owner of its leases).
        var daemonID: String
        /// Lease, heartbeat and reconcile timing.
        var configuration: ClusterConfiguration
    }

    // MARK: - Start and stop

    /// Records the first heartbeat (a store that cannot be reached stops the start here), starts the background
    /// loops, and claims work for every provider.
    func startCluster() async throws {
        guard let cluster, clusterTask == nil else { return }
        try await cluster.store.heartbeat(daemon: cluster.daemonID, startedAt: startedAtTimestamp, info: Self.daemonInfo)
        logger.info(
            "joined the cluster", metadata: ["daemon": "\(cluster.daemonID)", "leaseSeconds": "\(cluster.configuration.leaseSeconds)"])
        clusterTask = Task { await self.runClusterLoops(cluster) }
        claimAll()
    }

    /// What a heartbeat says about this daemon (never credentials).
    static var daemonInfo: String {
        "atelierd \(AtelierVersion.current) pid \(getpid()) host \(ProcessInfo.processInfo.hostName)"
    }

    /// When the engine started, as a wall-clock time.
    var startedAtTimestamp: Timestamp {
        Timestamp(milliseconds: Timestamp.now().milliseconds - Int64(startedAt.duration(to: configuration.clock.now).inSeconds * 1000))
    }

    /// After the running jobs stopped (their leases released by their last commit): gives back the jobs claimed but
    /// not started, stops the loops and forgets this daemon, so that the others take its work at once.
    func stopCluster() async {
        guard let cluster else { return }
        clusterTask?.cancel()
        if let task = clusterTask { await task.value }
        clusterTask = nil
        for (id, lease) in leases where running[id] == nil {
            _ = try? await cluster.store.releaseJob(id, lease: lease)
            leases[id] = nil
        }
        try? await cluster.store.removeDaemon(cluster.daemonID)
    }

    /// The heartbeat, listener and reconcile loops, until cancelled.
    private nonisolated func runClusterLoops(_ cluster: Cluster) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listen(cluster) }
            group.addTask { await self.beat(cluster) }
            group.addTask { await self.reconcileLoop(cluster) }
        }
    }

    // MARK: - Heartbeats and leases

    /// Every ``ClusterConfiguration/heartbeatSeconds``: records this daemon alive and renews its leases.
    private nonisolated func beat(_ cluster: Cluster) async {
        var failing = false
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(cluster.configuration.heartbeatSeconds))
            if Task.isCancelled { return }
            do {
                try await cluster.store.heartbeat(daemon: cluster.daemonID, startedAt: startedAtTimestampNonisolated, info: Self.daemonInfo)
                let asked = await heldLeaseIDs()
                let held = try await cluster.store.renewLeases(
                    owner: cluster.daemonID, taskUUIDs: asked.sorted(), leaseSeconds: cluster.configuration.leaseSeconds)
                await leasesRenewed(asked: asked, held: Set(held))
                if failing { logger.notice("heartbeats reach the store again", metadata: ["daemon": "\(cluster.daemonID)"]) }
                failing = false
            } catch {
                if Task.isCancelled { return }  // stopping: the renewal was cut short, nothing failed
                if !failing { logger.warning("heartbeat failed; retrying", metadata: ["error": "\(store.fault(error)?.message ?? "\(error)")"]) }
                failing = true
            }
        }
    }

    /// The start time for heartbeats (read once; outside the actor).
    private nonisolated var startedAtTimestampNonisolated: Timestamp {
        Timestamp(milliseconds: Timestamp.now().milliseconds - Int64(startedAt.duration(to: configuration.clock.now).inSeconds * 1000))
    }

    /// The jobs this daemon holds now.
    private func heldLeaseIDs() -> Set<String> { Set(leases.keys) }

    /// After a renewal: a job held when it was asked for and missing from its answer was taken over by another
    /// daemon (this one's lease ran out) — unless it is finishing (its final commit released the lease).
    private func leasesRenewed(asked: Set<String>, held: Set<String>) {
        for id in asked where !held.contains(id) && leases[id] != nil {
            if lifecycles[id]?.phase == .finished { continue }
            abandon(id)
        }
    }

    /// Stops working on a job another daemon holds now: forgets it, stops its run, and shows the holder's state.
    /// Nothing about it is published from here.
    func abandon(_ id: String) {
        guard lifecycles[id] != nil || leases[id] != nil else { return }
        logger.warning("another daemon took this job over; stopping work on it here", metadata: ["taskUUID": "\(id)"])
        if let provider = lifecycles[id]?.job.route?.provider { queues[provider]?.remove(id) }
        lifecycles[id] = nil
        leases[id] = nil
        if let task = running[id] {
            cancelSignals.raise(id)
            task.cancel()
        }
        Task { await self.refresh(id, event: nil) }
    }

    // MARK: - Claims

    /// The providers this daemon can run (configured, available), with their lanes (e.g. `gemini.batch`: batched
    /// jobs are queued under the lane's id, with its own concurrency).
    private var runnableProviders: [String] {
        registry.entries.filter { $0.value.provider != nil && $0.value.unavailable == nil }.keys.sorted()
    }

    /// Wakes the claim loop of every provider this daemon can run.
    func claimAll() {
        for provider in runnableProviders { requestClaim(provider) }
    }

    /// Wakes `provider`'s claim loop (or asks the running one to go round once more).
    func requestClaim(_ provider: String) {
        guard cluster != nil, !draining, !configuration.hold else { return }
        if claiming.contains(provider) {
            claimAgain.insert(provider)
            return
        }
        claiming.insert(provider)
        Task { await self.claimLoop(provider) }
    }

    /// Claims jobs of `provider` while this daemon has free slots for it and the cluster's limit allows.
    private func claimLoop(_ provider: String) async {
        defer { claiming.remove(provider) }
        while true {
            claimAgain.remove(provider)
            guard let cluster, !draining, !configuration.hold, let entry = registry.entry(provider), entry.provider != nil,
                entry.unavailable == nil
            else { return }
            let limit = max(1, entry.config.concurrency)
            let free = limit - runningCount[provider, default: 0] - (queues[provider]?.count ?? 0)
            guard free > 0 else { return }  // a freed slot wakes the loop again
            // Never this daemon's own jobs: one whose lease ran out (a late heartbeat) goes on under that lease until
            // another daemon takes it, rather than being claimed again here in a race with that daemon.
            let held = lifecycles.compactMap { $0.value.job.route?.provider == provider ? $0.key : nil }
            let claims: [ClaimedJob]
            do {
                claims = try await cluster.store.claimJobs(
                    owner: cluster.daemonID, provider: provider, clusterLimit: limit, limit: free,
                    leaseSeconds: cluster.configuration.leaseSeconds, excluding: held)
            } catch {
                // The reconcile loop tries again.
                logger.warning(
                    "claiming jobs failed", metadata: ["provider": "\(provider)", "error": "\(store.fault(error)?.message ?? "\(error)")"])
                return
            }
            for claim in claims { await adopt(claim) }
            pump()
            if claims.count < free && !claimAgain.contains(provider) { return }
        }
    }

    /// Takes a claimed job into this daemon: a queued job waits for its slot; one taken over from a daemon whose
    /// lease ran out is recovered as after a crash (its running attempt marked interrupted; an asynchronous call
    /// resumes from the recorded handle).
    private func adopt(_ claim: ClaimedJob) async {
        let id = claim.job.taskUUID
        leases[id] = claim.lease
        // Already held here (claims exclude such jobs; a defence): it continues under the new lease.
        guard lifecycles[id] == nil else { return }
        var lifecycle = JobLifecycle(job: claim.job)
        let actions = lifecycle.apply(.recovered(now: .now()))
        lifecycles[id] = lifecycle
        cache.put(lifecycle.job)
        if claim.takenOver {
            logger.notice("took over a job whose daemon stopped renewing its lease", metadata: ["taskUUID": "\(id)"])
        }
        do { try await perform(actions, id) } catch {
            logger.error("could not take a claimed job", metadata: ["taskUUID": "\(id)", "error": "\(error)"])
        }
        if claim.cancelRequested { await cancelHeld(id) }
    }

    // MARK: - Notices

    /// Listens for the cluster's job notices, reconnecting with a capped backoff; each (re)connection reconciles
    /// first (what happened while nobody listened).
    private nonisolated func listen(_ cluster: Cluster) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await cluster.store.withJobNotices { notices in
                    if failures > 0 { logger.notice("listening for job notices again", metadata: ["daemon": "\(cluster.daemonID)"]) }
                    failures = 0
                    await self.reconcile()
                    for try await notice in notices { await self.handle(notice, cluster: cluster) }
                }
            } catch {
                if Task.isCancelled { return }
                if failures == 0 {
                    logger.warning("lost the job notices; reconnecting", metadata: ["error": "\(store.fault(error)?.message ?? "\(error)")"])
                }
            }
            failures += 1
            try? await Task.sleep(for: .milliseconds(min(5000, 100 << min(failures, 6))))
        }
    }

    /// Acts on one notice: a cancel request for a job held here; a new, re-queued or finished job wakes the claim
    /// loops; another daemon's change to a job shown here is relayed.
    private nonisolated func handle(_ notice: JobNotice, cluster: Cluster) async {
        if notice.cancelRequested {
            await cancelHeld(notice.taskUUID)
            return
        }
        guard notice.daemon != cluster.daemonID else { return }
        if notice.status == .queued || notice.status.isTerminal {
            // Only the claimers of the job's provider: a new job there, or a slot of the cluster's limit freed.
            if let provider = notice.provider { await requestClaim(provider) } else { await claimAll() }
        }
        guard let event = notice.event, event != .interrupted else { return }
        if cache.job(notice.taskUUID) != nil || events.hasSubscribers(for: notice.taskUUID) {
            await refresh(notice.taskUUID, event: event)
        }
    }

    /// Reads the job from the store and shows it here (unless this daemon runs it); publishes `event` — or, with no
    /// event, the final event when the job finished since it was last shown.
    nonisolated func refresh(_ id: String, event: JobEventKind?) async {
        guard let job = try? await store.job(id) else { return }
        await showRemote(job, event: event)
    }

    /// Puts another daemon's job state into the cache and publishes what changed, marked remote.
    private func showRemote(_ job: Job, event: JobEventKind?) {
        let id = job.taskUUID
        guard lifecycles[id] == nil else { return }
        let before = cache.job(id)
        // An older read than what is shown, or the very state shown already (this daemon's own cancel, a second
        // notice answered by the same read): nothing new.
        if let before, before.updatedAt > job.updatedAt || (before.updatedAt == job.updatedAt && before.status == job.status) { return }
        cache.put(job)
        var kind = event
        if job.status.isTerminal {
            // The read may be newer than the notice (it ran, then finished): publish what the job is now.
            kind = job.status == .succeeded ? .succeeded : job.status == .failed ? .failed : .cancelled
        }
        guard let kind else { return }
        if kind == .succeeded {
            for result in job.results { events.publish(JobEvent(.result, job: job, result: result, remote: true)) }
        }
        events.publish(JobEvent(kind, job: job, remote: true))
    }

    /// Every ``ClusterConfiguration/reconcileSeconds``: see ``reconcile()``. In between, every half lease, the claim
    /// loops look for jobs whose holder's lease ran out: a dead daemon's leases expire without any notice, and when
    /// it held every slot the cluster has for a provider nothing else would wake the others until the reconcile.
    private nonisolated func reconcileLoop(_ cluster: Cluster) async {
        let full = cluster.configuration.reconcileSeconds
        let tick = min(full, max(0.25, cluster.configuration.leaseSeconds / 2))
        var sinceFull = 0.0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(tick))
            if Task.isCancelled { return }
            sinceFull += tick
            if sinceFull >= full {
                sinceFull = 0
                await reconcile()
            } else {
                await claimAll()
            }
        }
    }

    /// Catches up without notices: claims (expired leases, jobs whose notice was lost), cancel requests for jobs
    /// held here, and the state of other daemons' unfinished jobs shown here.
    func reconcile() async {
        guard let cluster, !draining else { return }
        claimAll()
        let held = Array(lifecycles.keys)
        if !held.isEmpty, let asked = try? await cluster.store.cancelRequested(held) {
            for id in asked.sorted() { await cancelHeld(id) }
        }
        for id in cache.unfinishedIDs() where lifecycles[id] == nil {
            await refresh(id, event: nil)
        }
    }

    // MARK: - Cancel

    /// Cancels a job this daemon holds (a request from another daemon); nothing when it is not held here.
    func cancelHeld(_ id: String) async {
        guard let actions = lifecycles[id]?.apply(.cancelRequested(now: .now())) else { return }
        do { try await perform(actions, id) } catch {
            logger.error("cancelling a job failed", metadata: ["taskUUID": "\(id)", "error": "\(error)"])
        }
        retireIfFinished(id)
    }

    /// Cancels a job this daemon does not hold: when nobody holds it, it is cancelled here at once (a write that
    /// succeeds only while no lease runs on it); else its holder is asked and the answer is the job once it finished
    /// (or as it is after a short wait).
    func cancelElsewhere(_ shown: Job) async throws(AtelierError) -> Job {
        guard let cluster else { return shown }
        let id = shown.taskUUID
        // The store's copy, not the cache's: another daemon may have moved it on since.
        let read: Job?
        do { read = try await store.job(id) } catch { throw AtelierError(.storeFailure, "store read failed", retryable: true) }
        let job = read ?? shown
        if job.status.isTerminal {
            showRemote(job, event: nil)
            throw AtelierError(
                .notCancellable, "job \(id) is already \(job.status.rawValue)", field: "/taskUUID", details: ["status": .string(job.status.rawValue)])
        }
        var lifecycle = JobLifecycle(job: job)
        for action in lifecycle.apply(.cancelRequested(now: .now())) {
            guard case .persist(let cancelled, let event, _) = action, let event else { continue }
            let store = self.store
            let committed = try await untilStored("job cancel", taskUUID: id) { () async throws -> Bool in
                do { try await store.commit(cancelled, change: StateChange(event, job: cancelled), lease: nil) } catch is StoreLeaseLost {
                    return false
                }
                return true
            }
            if committed {
                cache.put(cancelled)
                events.publish(JobEvent(event, job: cancelled))
                return cancelled
            }
        }
        do { try await cluster.store.requestCancel(id) } catch {
            throw store.fault(error)?.atelierError ?? AtelierError(.storeFailure, "the cancel request could not be stored", retryable: true)
        }
        let cache = self.cache
        let finished = await events.first(
            of: id, timeout: .seconds(10), where: { @Sendable in $0.job.status.isTerminal },
            unlessSettled: { @Sendable in cache.job(id)?.status.isTerminal == true })
        if let finished { return finished.job }
        do {
            if let current = try await store.job(id) { return current }
        } catch { throw AtelierError(.storeFailure, "store read failed", retryable: true) }
        return job
    }

    // MARK: - Budgets

    /// The budget hold of a new job in a cluster (charged by the store in the insert's transaction); nil in SQLite
    /// mode, whose ledger is in memory.
    func budgetHold(for job: Job) -> BudgetHold? {
        guard cluster != nil else { return nil }
        return BudgetLedger.hold(
            for: job.task, amountUSD: job.route?.estimatedCostUSD ?? 0, createdAt: job.createdAt, budgets: policy.budgets)
    }

    /// Replaces a finished job's hold by what it cost, in the store's counters (cluster mode). Written after the
    /// job's final commit, not in its transaction: a daemon that dies in between leaves the estimate counted
    /// (the counters err on the side of the cap).
    func settleBudget(of job: Job) async {
        guard let cluster else { return }
        let counters = BudgetLedger.counters(for: job, budgets: policy.budgets)
        let delta = BudgetLedger.charge(of: job) - (job.route?.estimatedCostUSD ?? 0)
        guard !counters.isEmpty, delta != 0 else { return }
        do { try await cluster.store.adjust(counters, deltaUSD: delta) } catch {
            logger.warning(
                "could not settle a finished job's budget hold",
                metadata: ["taskUUID": "\(job.taskUUID)", "error": "\(store.fault(error)?.message ?? "\(error)")"])
        }
    }
}
