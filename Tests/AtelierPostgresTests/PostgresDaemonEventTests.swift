import AtelierCore
import Testing

@testable import AtelierEngine

/// Daemon heartbeats, job events across connections (LISTEN/NOTIFY), and a PostgreSQL restart.
@Suite struct PostgresDaemonEventTests {
    @Test func heartbeatsListTheLiveDaemons() async throws {
        try await withStore { store, _ in
            let started = Timestamp.now()
            try await store.heartbeat(daemon: "d1", startedAt: started, info: "atelierd 1 on host-a")
            try await store.heartbeat(daemon: "d2", startedAt: started, info: "atelierd 1 on host-b")
            try await store.heartbeat(daemon: "d1", startedAt: started, info: "atelierd 1 on host-a")
            let live = try await store.liveDaemons(within: 60)
            #expect(live.map(\.id) == ["d1", "d2"], "most recently seen first")
            #expect(live.first?.info == "atelierd 1 on host-a" && live.first?.startedAt == started)
            #expect(live.allSatisfy { abs($0.lastSeen.milliseconds - Timestamp.now().milliseconds) < 60_000 })

            try await store.removeDaemon("d2")
            #expect(try await store.liveDaemons(within: 60).map(\.id) == ["d1"])
            // A daemon that stops beating drops out of the live list once the window passes.
            try await eventually(timeout: .seconds(20), "d1 drops out of a 0.2 s window") {
                try await store.liveDaemons(within: 0.2).isEmpty
            }
            #expect(try await store.liveDaemons(within: 60).map(\.id) == ["d1"], "it is still known within a wider window")
        }
    }

    @Test func aListenerOnAnotherConnectionHearsCommittedChangesPromptly() async throws {
        try await withStore { store, cluster in
            // The writer is a second store (another daemon's pool) on the same database.
            try await PostgresStore.withStore(try cluster.location(), callTimeout: .seconds(60), logger: quietLogger) { writer in
                var job = makeJob()
                _ = try await writer.insert([JobSubmission(job: job)])
                let lease = try #require(try await writer.claimJobs(owner: "B", limit: 1, providers: nil, leaseSeconds: 60).first?.lease)
                try await store.withJobNotices { notices in
                    job.status = .succeeded
                    job.finishedAt = .now()
                    let sent = ContinuousClock.now
                    try await writer.commit(job, change: .succeeded, lease: lease, deliveries: [])
                    let id = job.taskUUID
                    let notice = try await first(notices, within: .seconds(10), "the committed change is announced") { $0.taskUUID == id }
                    #expect(notice == JobNotice(taskUUID: id, status: .succeeded, event: .succeeded, daemon: "B", provider: "local"))
                    #expect(ContinuousClock.now - sent < .seconds(5), "promptly, not by polling")
                }
                // A change that rolls back (lease lost) is never announced: the next notice is the next commit's.
                try await store.withJobNotices { notices in
                    await #expect(throws: StoreLeaseLost.self) { try await writer.commit(job, change: .failed, lease: lease, deliveries: []) }
                    let other = makeJob()
                    _ = try await writer.insert([JobSubmission(job: other)])
                    try await writer.commit(other, change: .queued, lease: nil, deliveries: [])
                    let notice = try await first(notices, within: .seconds(10), "the next commit is announced") { _ in true }
                    #expect(notice?.taskUUID == other.taskUUID, "the rolled-back change was not announced")
                }
            }
        }
    }

    @Test func theStoreReconnectsAfterPostgreSQLRestarts() async throws {
        try await withStore { store, cluster in
            let job = makeJob()
            _ = try await store.insert([JobSubmission(job: job)])
            try await PostgresHarness.restart(cluster)
            // The pooled connections died with the server: the first queries may fail as a store fault (retryable),
            // never as anything else; then the pool reconnects by itself and the committed job is there.
            var faults = 0
            var unclassified: [String] = []
            try await eventually(timeout: .seconds(30), "the pool reconnects after the restart") {
                do {
                    return try await store.job(job.taskUUID)?.taskUUID == job.taskUUID
                } catch {
                    if StoreFault.postgres(error, location: store.location) == nil { unclassified.append(String(reflecting: error)) }
                    faults += 1
                    return false
                }
            }
            #expect(unclassified.isEmpty, "not classified as store faults: \(unclassified.prefix(2))")
            #expect(faults < 20, "reconnected after \(faults) failed queries")
        }
    }

    @Test func whilePostgreSQLIsAwayCallsFailAsStoreFaultsAndResumeAfterwards() async throws {
        try await withPostgres { cluster in
            try await PostgresStore.withStore(try cluster.location(), callTimeout: .seconds(15), logger: quietLogger) { store in
                // The call timeout is generous: under a full parallel test run the first calls (before the kill) must not
                // be the ones that time out.
                let job = makeJob()
                // The insert before the kill is set-up, not what is tested: retried (the same job, idempotent) if a
                // loaded machine makes it miss the call timeout.
                try await eventually(timeout: .seconds(120), "the store takes the first job") {
                    (try? await store.insert([JobSubmission(job: job)])) != nil
                }
                try await PostgresHarness.kill(cluster)
                let started = ContinuousClock.now
                do {
                    _ = try await withDeadline(.seconds(60)) { try await store.insert([JobSubmission(job: makeJob())]) }
                    Issue.record("an insert succeeded while the server was down")
                } catch let error as DeadlinePassed {
                    Issue.record("an insert neither failed nor succeeded while the server was down: \(error)")
                } catch {
                    #expect(StoreFault.postgres(error, location: store.location) != nil, "\(String(reflecting: error))")
                }
                let failedAfter = ContinuousClock.now - started
                #expect(failedAfter < .seconds(45), "failed after \(failedAfter) (call timeout 15 s)")
                try await PostgresHarness.resume(cluster)
                try await eventually(timeout: .seconds(30), "calls succeed again once the server is back") {
                    (try? await store.job(job.taskUUID))?.taskUUID == job.taskUUID
                }
            }
        }
    }
}
