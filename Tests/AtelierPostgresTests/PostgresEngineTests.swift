import AtelierCore
import Foundation
import Testing

@testable import AtelierEngine

/// The engine on PostgreSQL: daemons (engines, each with its own connection pool) sharing one database run jobs end
/// to end, hand work to each other, take over a job whose daemon stopped renewing its lease, relay each other's
/// events, and cancel each other's jobs.
@Suite(.serialized) struct PostgresEngineTests {
    @Test func oneDaemonRunsAJobEndToEnd() async throws {
        try await withPostgres { cluster in
            let dir = sharedDataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let a = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-a")
            let task = clusterTask()
            let accepted = try await a.engine.submit(task)
            #expect(accepted.status == .queued)
            // 60 s: a loaded CI machine once left this job unfinished after 20 s; if it happens again, the failure
            // says what the store holds (status, holder, lease) rather than only the status seen here.
            let done = try await a.engine.wait(task.taskUUID, timeoutSeconds: 60)
            let row = try await a.store.rows(
                "SELECT status, lease_owner, lease_token, lease_expires > clock_timestamp() AS live FROM job WHERE task_uuid = \(task.taskUUID)"
            ) {
                "\(try $0.get("status", as: String.self)) held by \(try $0.get("lease_owner", as: String?.self) ?? "nobody") token \(try $0.get("lease_token", as: Int64.self)) live \(try $0.get("live", as: Bool?.self).map(String.init) ?? "-")"
            }
            #expect(done.status == .succeeded, "in the store: \(row)")
            #expect(done.results.count == 1)
            if let path = done.results.first?.path { #expect(FileManager.default.fileExists(atPath: path)) }
            let stored = try await a.store.job(task.taskUUID)
            #expect(stored?.status == .succeeded)
            #expect(a.provider.generated == [task.taskUUID])
            // The same task again: the same job, nothing run twice; another task under the same id: a conflict.
            let again = try await a.engine.submit(task)
            #expect(again.status == .succeeded)
            await #expect(throws: AtelierError.self) { try await a.engine.submit(clusterTask("another prompt", uuid: task.taskUUID)) }
            let health = await a.engine.health()
            #expect(health.storeKind == .postgres)
            #expect(health.cluster?.daemonID == "daemon-a")
            #expect(health.cluster?.others == [])
            #expect(a.events(task.taskUUID).map(\.event).contains(.succeeded))
            await a.stop()
            let daemons = try await withStoreOnly(cluster) { try await $0.liveDaemons(within: 60) }
            #expect(daemons.isEmpty, "a daemon that shut down cleanly is forgotten")
        }
    }

    @Test func aJobAcceptedByOneDaemonRunsOnAnotherAndTheFirstSeesItsResult() async throws {
        try await withPostgres { cluster in
            let dir = sharedDataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // A accepts but never runs anything; B runs.
            let a = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-a", hold: true)
            let b = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-b")
            let tasks = (0..<6).map { _ in clusterTask() }
            for task in tasks { _ = try await a.engine.submit(task) }
            for task in tasks {
                let done = try await a.engine.wait(task.taskUUID, timeoutSeconds: 60)
                #expect(done.status == .succeeded, "job.wait on the accepting daemon sees the other's result")
                #expect(a.engine.cache.job(task.taskUUID)?.status == .succeeded)
                // The waiter may wake before every subscriber of the same publication has been called.
                #expect(
                    try await eventually(timeout: .seconds(60), "relayed as a remote event") {
                        a.events(task.taskUUID).contains { $0.event == .succeeded && $0.remote }
                    })
            }
            #expect(Set(b.provider.generated) == Set(tasks.map(\.taskUUID)))
            #expect(b.provider.generated.count == tasks.count, "each job ran exactly once")
            #expect(a.provider.generated.isEmpty)
            let health = await a.engine.health()
            #expect(health.cluster?.others?.map(\.id) == ["daemon-b"], "the other live daemon is listed")
            await b.stop()
            await a.stop()
        }
    }

    @Test func aJobWhoseDaemonStopsRenewingItsLeaseIsResumedElsewhereAndTheOldHolderWritesNothing() async throws {
        try await Self.withGatedJobOnADaemonThatNeverRenews { cluster, dir, a, task, handle in
            // A's leases run out (2 s) because it never renews them in time; B takes the job over.
            #expect(handle == "h-\(task.taskUUID)")
            let b = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-b", leaseSeconds: 2)
            let done = try await Self.takenOverFromHandle(by: b, task, "B takes the job over and finishes it")
            // A's provider call now answers: its write is refused (fenced) and A publishes nothing of its own.
            a.provider.gate.open()
            let shown = try await eventuallyValue(timeout: .seconds(60), "A shows B's result") { () -> Job? in
                let j = a.engine.cache.job(task.taskUUID)
                return j?.status == .succeeded ? j : nil
            }
            #expect(shown?.results.first?.path == done?.results.first?.path)
            #expect(!a.events(task.taskUUID).contains { $0.event == .succeeded && !$0.remote }, "the old holder published nothing")
            let stored = try await b.store.job(task.taskUUID)
            #expect(stored?.results.first?.path == done?.results.first?.path, "the old holder overwrote nothing")
            await b.stop()
            await a.stop()
        }
    }

    /// Runs `body` on a fresh database and shared data directory with a daemon ("daemon-a") that never renews its 2 s
    /// leases, running a job whose provider call waits on its gate, once the call's resume handle is recorded.
    static func withGatedJobOnADaemonThatNeverRenews(
        _ body: @escaping @Sendable (PostgresCluster, String, EngineNode, ImageTask, String?) async throws -> Void
    ) async throws {
        try await withPostgres { cluster in
            let dir = sharedDataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let a = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-a", leaseSeconds: 2, heartbeatSeconds: 3600)
            let task = clusterTask("gated")
            _ = try await a.engine.submit(task)
            // The provider records its handle before waiting on its gate.
            let handle = try await eventuallyValue(timeout: .seconds(60), "the handle is recorded") {
                try await a.store.job(task.taskUUID)?.attempts.last?.resumeHandle
            }
            try await body(cluster, dir, a, task, handle)
        }
    }

    /// Waits until `node` finished `task`, taken over from the handle the gated call recorded (never submitted again),
    /// and returns the job.
    static func takenOverFromHandle(by node: EngineNode, _ task: ImageTask, _ comment: Comment) async throws -> Job? {
        let done = try await eventuallyValue(timeout: .seconds(60), comment) { () -> Job? in
            let j = try await node.store.job(task.taskUUID)
            return j?.status == .succeeded ? j : nil
        }
        #expect(node.provider.resumed[task.taskUUID] == "h-\(task.taskUUID)", "resumed from the recorded handle")
        #expect(!node.provider.generated.contains(task.taskUUID), "never submitted again")
        #expect(done?.attempts.contains { $0.outcome == .interrupted } == true)
        return done
    }

    @Test func aDaemonWhoseOwnLeaseRanOutKeepsItsJobWithoutClaimingItAgainAndFinishesIt() async throws {
        try await Self.withGatedJobOnADaemonThatNeverRenews { _, _, a, task, _ in
            // One daemon and no heartbeats: its lease (2 s) runs out while the provider call waits (a heartbeat late
            // on a loaded machine does the same). Its claim loop does not take its own job again (that raced a daemon
            // taking the job over); the call in progress goes on under the lease it has, which nobody else took.
            #expect(
                try await eventually(timeout: .seconds(60), "the daemon's lease on its job runs out") {
                    try await !a.store.rows(
                        "SELECT 1 AS x FROM job WHERE task_uuid = \(task.taskUUID) AND lease_expires < clock_timestamp()"
                    ) { try $0.get("x", as: Int.self) }.isEmpty
                })
            // A claim round after that: a second job, submitted now, is claimed and run by the same claim loop.
            let later = clusterTask("image")
            _ = try await a.engine.submit(later)
            #expect(try await a.engine.wait(later.taskUUID, timeoutSeconds: 60).status == .succeeded)
            let token = try await a.store.rows("SELECT lease_token FROM job WHERE task_uuid = \(task.taskUUID)") {
                try $0.get("lease_token", as: Int64.self)
            }.first
            #expect(token == 1, "its own job was not claimed again")
            a.provider.gate.open()
            let done = try await a.engine.wait(task.taskUUID, timeoutSeconds: 60)
            #expect(done.status == .succeeded)
            #expect(a.provider.generated.filter { $0 == task.taskUUID }.count == 1, "run once")
            #expect(a.provider.resumed.isEmpty, "not recovered as if another daemon had died")
            #expect(try await a.store.job(task.taskUUID)?.status == .succeeded)
            #expect(a.events(task.taskUUID).contains { $0.event == .succeeded && !$0.remote })
            await a.stop()
        }
    }

    @Test func aDaemonStartedAgainUnderTheSameIdRecoversThePreviousRunsJob() async throws {
        try await Self.withGatedJobOnADaemonThatNeverRenews { cluster, dir, first, task, _ in
            // The first run of "daemon-a" holds a running job (its handle recorded), then loses the database for good
            // (as if killed): it renews and claims nothing any more.
            first.pool.cancel()
            // The daemon starts again under the same id (`--daemon-id a` after a restart). Its heartbeats renew only
            // what it works on, so the old run's lease runs out and the new run takes the job over from its handle.
            let second = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-a", leaseSeconds: 2)
            _ = try await Self.takenOverFromHandle(by: second, task, "the new run takes the job over and finishes it")
            await second.stop()
            first.provider.gate.open()
            await first.engine.shutdown()
        }
    }

    @Test func aJobRunningOnAnotherDaemonIsCancelledFromThisOne() async throws {
        try await withPostgres { cluster in
            let dir = sharedDataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let a = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-a", hold: true)
            let b = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-b")
            let task = clusterTask("hang")
            _ = try await a.engine.submit(task)
            #expect(try await eventually(timeout: .seconds(60), "B runs it") { b.provider.generated.contains(task.taskUUID) })
            let cancelled = try await a.engine.cancel(task.taskUUID)
            #expect(cancelled.status == .cancelled)
            let stored = try await a.store.job(task.taskUUID)
            #expect(stored?.status == .cancelled)
            #expect(b.events(task.taskUUID).contains { $0.event == .cancelled && !$0.remote }, "the holder cancelled it")
            await b.stop()
            await a.stop()
        }
    }

    @Test func aQueuedJobNobodyHoldsIsCancelledAtOnce() async throws {
        try await withPostgres { cluster in
            let dir = sharedDataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let a = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-a", hold: true)
            let task = clusterTask()
            _ = try await a.engine.submit(task)
            let cancelled = try await a.engine.cancel(task.taskUUID)
            #expect(cancelled.status == .cancelled)
            #expect(try await a.store.job(task.taskUUID)?.status == .cancelled)
            // A daemon that starts now finds nothing to run.
            let b = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-b")
            let health = await b.engine.health()
            #expect(health.queued == 0)
            #expect(b.provider.generated.isEmpty)
            await b.stop()
            await a.stop()
        }
    }

    @Test func aWriteWithoutALeaseNeverReopensAFinishedJob() async throws {
        try await withStore { store, _ in
            let job = makeJob()
            _ = try await store.insert([JobSubmission(job: job)])
            let claim = try #require(try await store.claimJobs(owner: "b", limit: 1, providers: nil, leaseSeconds: 30).first)
            var done = claim.job
            done.status = .succeeded
            done.finishedAt = .now()
            try await store.commit(done, change: .succeeded, lease: claim.lease, deliveries: [])
            // A daemon acting on a stale copy (it still shows the job queued) cancels it without a lease: refused.
            var stale = job
            stale.status = .cancelled
            await #expect(throws: StoreLeaseLost.self) { try await store.commit(stale, change: .cancelled, lease: nil, deliveries: []) }
            #expect(try await store.job(job.taskUUID)?.status == .succeeded)
        }
    }

    @Test func submitsAnswerARetryableStoreFailureWhilePostgresIsAwayAndWorkAgainAfter() async throws {
        try await withPostgres { cluster in
            let dir = sharedDataDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let a = try await EngineNode.start(on: cluster, dataDirectory: dir, id: "daemon-a", callTimeout: .seconds(3))
            let before = clusterTask()
            _ = try await a.engine.submit(before)
            #expect(try await a.engine.wait(before.taskUUID, timeoutSeconds: 60).status == .succeeded)
            try await PostgresHarness.kill(cluster)
            do throws(AtelierError) {
                _ = try await a.engine.submit(clusterTask())
                Issue.record("a submit was accepted while the store was away")
            } catch {
                #expect(error.code == .storeFailure)
                #expect(error.retryable)
                #expect(!error.message.contains(cluster.password), "no credential in the answer")
            }
            try await PostgresHarness.resume(cluster)
            let after = clusterTask()
            let accepted = try await eventuallyValue(timeout: .seconds(30), "submits work again") { try? await a.engine.submit(after) }
            #expect(accepted != nil)
            // The pool reconnects with its own backoff after the outage; a failure here shows where the job stopped.
            let done = try await a.engine.wait(after.taskUUID, timeoutSeconds: 60)
            if done.status != .succeeded {
                let row = try await withStoreOnly(cluster) { store in
                    try await store.rows(
                        "SELECT status, coalesce(lease_owner, '-') AS owner FROM job WHERE task_uuid = \(after.taskUUID)"
                    ) { "\(try $0.get("status", as: String.self)) held by \(try $0.get("owner", as: String.self))" }
                }
                Issue.record("after the outage the job is \(done.status.rawValue) here and \(row) in the store")
            }
            await a.stop()
        }
    }
}

/// Runs `body` with a plain store on the cluster's database (no engine).
func withStoreOnly<T: Sendable>(_ cluster: PostgresCluster, _ body: @escaping @Sendable (PostgresStore) async throws -> T) async throws -> T {
    try await PostgresStore.withStore(try cluster.location(), callTimeout: .seconds(60), logger: quietLogger, body)
}
