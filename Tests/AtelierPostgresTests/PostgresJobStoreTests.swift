import AtelierCore
import PostgresNIO
import Testing

@testable import AtelierEngine

/// Migrations, global idempotency and state changes against a real PostgreSQL.
@Suite struct PostgresJobStoreTests {
    @Test func migrationsRunOnceEvenWhenDaemonsStartTogether() async throws {
        try await withPostgres { cluster in
            let location = try cluster.location()
            let stores = (0..<4).map { _ in PostgresStore(location: location, callTimeout: .seconds(60), logger: quietLogger) }
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for store in stores {
                    group.addTask {
                        await store.run()
                        return []
                    }
                }
                let runs = try await concurrently(stores.count) { i in try await stores[i].migrate() }
                group.cancelAll()
                return runs
            }
            let all = PostgresStore.migrations.map(\.version)
            #expect(applied.filter { !$0.isEmpty } == [all], "exactly one daemon applies the migrations: \(applied)")
            #expect(applied.filter(\.isEmpty).count == stores.count - 1)

            // A schema newer than this build is refused, not used.
            try await PostgresStore.withStore(location, callTimeout: .seconds(60), logger: quietLogger) { store in
                #expect(try await store.migrate() == [])
                try await store.execute("INSERT INTO atelier_schema (version, name) VALUES (999, 'from the future')")
                await #expect {
                    try await store.migrate()
                } throws: { error in
                    (error as? AtelierError)?.message.contains("newer than this daemon knows") == true
                }
            }
        }
    }

    @Test func idempotencyIsGlobal() async throws {
        try await withStore { store, _ in
            let job = makeJob()
            guard case .inserted = try await store.insert([JobSubmission(job: job)]).first else {
                Issue.record("first insert not inserted")
                return
            }
            guard case .existing(let existing)? = try await store.insert([JobSubmission(job: job)]).first else {
                Issue.record("the same task again is not the existing job")
                return
            }
            #expect(existing.taskUUID == job.taskUUID && existing.status == .queued && existing.task == job.task)
            let other = makeJob(job.taskUUID, prompt: "something else")
            guard case .conflict? = try await store.insert([JobSubmission(job: other)]).first else {
                Issue.record("a different task under the same taskUUID is not a conflict")
                return
            }
            // In one batch: the first wins, the repeat is existing, the different one a conflict.
            let fresh = makeJob()
            let batch = try await store.insert([
                JobSubmission(job: fresh), JobSubmission(job: fresh), JobSubmission(job: makeJob(fresh.taskUUID, prompt: "x")),
            ])
            #expect(batch.map(Self.kind) == ["inserted", "existing", "conflict"])
            #expect(try await store.job(fresh.taskUUID)?.task == fresh.task)
            #expect(try await store.job("not-there") == nil)
        }
    }

    @Test func concurrentSubmitsOfOneTaskUUIDMakeOneJob() async throws {
        try await withStore { store, _ in
            // 24 daemons' worth of inserts at once: the same task (idempotent) ...
            let same = makeJob()
            let outcomes = try await concurrently(24) { _ in try await store.insert([JobSubmission(job: same)]).map(Self.kind) }.flatMap { $0 }
            #expect(outcomes.filter { $0 == "inserted" }.count == 1)
            #expect(outcomes.filter { $0 == "existing" }.count == 23)
            // ... and different tasks under one id: exactly one wins, every other one is a conflict.
            let id = UUIDv4.generate()
            let mixed = try await concurrently(24) { i in
                try await store.insert([JobSubmission(job: makeJob(id, prompt: "variant \(i)"))]).map(Self.kind)
            }
            .flatMap { $0 }
            #expect(mixed.filter { $0 == "inserted" }.count == 1)
            #expect(mixed.filter { $0 == "conflict" }.count == 23)
            let rows = try await store.rows("SELECT count(*) AS n FROM job WHERE task_uuid IN (\(same.taskUUID), \(id))") {
                try $0.get("n", as: Int.self)
            }
            #expect(rows == [2])
        }
    }

    @Test func overlappingBatchesFromManyDaemonsNeitherDeadlockNorDuplicate() async throws {
        try await withStore { store, _ in
            let jobs = (0..<40).map { _ in makeJob() }
            // Each "daemon" submits the same 40 jobs in its own order, in one batch.
            let outcomes = try await concurrently(6) { d in
                try await store.insert((d % 2 == 0 ? jobs : jobs.reversed()).map { JobSubmission(job: $0) }).map(Self.kind)
            }
            #expect(outcomes.flatMap { $0 }.filter { $0 == "inserted" }.count == 40)
            #expect(outcomes.flatMap { $0 }.filter { $0 == "existing" }.count == 200)
        }
    }

    @Test func stateChangesWriteTheWholeJobAndTheirOutboxRows() async throws {
        try await withStore { store, _ in
            var job = makeJob()
            _ = try await store.insert([JobSubmission(job: job)])
            let claim = try #require(try await store.claimJobs(owner: "d1", limit: 1, providers: nil, leaseSeconds: 30).first)
            job.status = .running
            job.startedAt = .now()
            job.attempts = [Attempt(number: 1, provider: "local", model: "local-render", startedAt: .now(), resumeHandle: "handle-1")]
            try await store.commit(job, change: .running, lease: claim.lease, deliveries: [])
            #expect(try await store.job(job.taskUUID)?.attempts.first?.resumeHandle == "handle-1")

            job.status = .succeeded
            job.finishedAt = .now()
            job.costUSD = 0.04
            job.error = nil
            let rows = [Self.delivery(job.taskUUID, event: "job.succeeded"), Self.delivery(job.taskUUID, event: "job.result")]
            try await store.commit(job, change: .succeeded, lease: claim.lease, deliveries: rows)
            let stored = try #require(try await store.job(job.taskUUID))
            #expect(stored.status == .succeeded && stored.costUSD == 0.04 && stored.finishedAt != nil)
            #expect(try await store.deliveries(forTask: job.taskUUID).map(\.event) == ["job.succeeded", "job.result"])
            // The finished job's lease is released, and a finished job stays as its holder finished it: writing it
            // again without a lease (a daemon acting on a stale copy) is refused.
            await #expect(throws: StoreLeaseLost.self) { try await store.commit(stored, change: nil, lease: nil, deliveries: []) }
            // A job nobody stored cannot be written.
            await #expect(throws: AtelierError.self) { try await store.commit(makeJob(), change: nil, lease: nil, deliveries: []) }
        }
    }

    static func kind(_ outcome: SubmissionOutcome) -> String {
        switch outcome {
        case .inserted: return "inserted"
        case .existing: return "existing"
        case .conflict: return "conflict"
        case .overBudget: return "overBudget"
        }
    }

    static func delivery(_ task: String, event: String, host: String = "http://127.0.0.1:9") -> DeliveryRecord {
        let now = Timestamp.now().milliseconds
        return DeliveryRecord(
            seq: 0, id: "msg_" + UUIDv4.generate().replacingOccurrences(of: "-", with: ""), kind: .webhook, taskUUID: task, event: event,
            imageUUID: event == "job.result" ? UUIDv4.generate() : nil, resultIndex: nil, url: host + "/hook", hostKey: host,
            state: DeliveryState(
                status: .pending, held: false, attempts: 0, cycleAttempts: 0, nextAttemptMs: now, lastHTTPStatus: nil, lastError: nil,
                deliveredMs: nil),
            createdMs: now, updatedMs: now, eventMs: now, payload: nil, body: "{}")
    }
}
