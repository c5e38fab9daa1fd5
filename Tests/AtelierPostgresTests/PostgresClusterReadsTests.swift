import AtelierCore
import Foundation
import Testing

@testable import AtelierEngine

/// What the faces read in PostgreSQL mode answers like SQLite (stats, counts, workflow pages), workflow webhooks
/// commit with the change, shared budgets use the rules' counters, and `atelier store migrate` copies a SQLite store
/// idempotently and refuses a conflicting target.
@Suite struct PostgresClusterReadsTests {
    /// A temporary directory for a SQLite store.
    static func sqliteDirectory() throws -> String {
        let dir = "/tmp/pg-reads-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Jobs of several models and outcomes, the same in both stores.
    static func mixedJobs() -> [Job] {
        var out: [Job] = []
        for i in 0..<12 {
            var job = makeJob(provider: i % 3 == 0 ? "runware" : "local", tags: ["client": i % 2 == 0 ? "acme" : "zeta"])
            job.route?.model = i % 3 == 0 ? "runware-flux" : "local-render"
            out.append(job)
        }
        return out
    }

    static func finish(_ job: Job, _ i: Int) -> Job {
        var j = job
        j.status = i % 4 == 3 ? .failed : i % 5 == 4 ? .queued : .succeeded
        if j.status != .queued {
            j.startedAt = Timestamp(milliseconds: j.createdAt.milliseconds + 10)
            j.finishedAt = Timestamp(milliseconds: j.createdAt.milliseconds + 10 + Int64(100 * (i + 1)))
            j.costUSD = j.status == .succeeded ? 0.01 * Double(i + 1) : nil
        }
        j.updatedAt = .now()
        return j
    }

    @Test func statsAndCountsMatchSQLite() async throws {
        let dir = try Self.sqliteDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sqlite = try JobStore(path: dir + "/atelier.sqlite", durability: .normal)
        let jobs = Self.mixedJobs()
        _ = try await sqlite.insert(jobs)
        for (i, job) in jobs.enumerated() { try await sqlite.update(Self.finish(job, i)) }
        try await withStore { store, _ in
            _ = try await store.insert(jobs.map { JobSubmission(job: $0) })
            for (i, job) in jobs.enumerated() { try await store.commit(Self.finish(job, i), change: nil, lease: nil, deliveries: []) }
            let since = Timestamp(milliseconds: 0)
            for grouping in [StatsGrouping.model, .provider, .arm, .tag("client"), .tag("missing")] {
                let expected = try await sqlite.stats(by: grouping, since: since)
                let got = try await store.stats(by: grouping, since: since)
                #expect(got == expected, "stats by \(grouping)")
                #expect(!got.isEmpty)
            }
            #expect(try await store.counts() == sqlite.counts())
        }
    }

    @Test func workflowsPageAndOweTheirWebhooksInTheSameCommit() async throws {
        try await withStore { store, _ in
            let hook = DeliveryOutbox(configuration: DeliveryConfiguration(random: { 0.5 }))
            let workflows = PostgresWorkflowStore(store: store, outbox: hook)
            var ids: [String] = []
            for i in 0..<5 {
                let id = UUIDv4.generate()
                let spec = try WorkflowSpec(
                    json: try JSONParser.parse(#"{"workflowUUID":"\#(id)","positivePrompt":"kite \#(i)","webhookURL":"http://127.0.0.1:9/wf"}"#))
                let w = Workflow(spec: spec, finalSeed: 7, createdAt: .now())
                guard case .inserted = try await workflows.insert(w, events: [.created]) else {
                    Issue.record("workflow \(i) not inserted")
                    return
                }
                ids.append(id)
            }
            let (first, cursor) = try await workflows.list(state: nil, limit: 2, before: nil)
            #expect(first.map(\.workflowUUID) == [ids[4], ids[3]])
            let (second, _) = try await workflows.list(state: nil, limit: 2, before: cursor)
            #expect(second.map(\.workflowUUID) == [ids[2], ids[1]])

            var w = try #require(try await workflows.workflow(ids[0]))
            w.state = .cancelled
            w.updatedAt = .now()
            try await workflows.update(w, events: [.cancelled])
            let rows = try await store.deliveries(forTasks: [ids[0]])
            #expect(rows.count == 1 && rows[0].event == "workflow.cancelled", "the webhook row commits with the change")
            #expect(try await workflows.unfinished().count == 4)
            #expect(try await workflows.list(state: .cancelled, limit: 10, before: nil).workflows.map(\.workflowUUID) == [ids[0]])
        }
    }

    @Test func budgetHoldsNameTheRulesCountersAndNeverOvershootAcrossDaemons() async throws {
        let budgets = [
            BudgetRule(tag: "client", value: nil, dailyUSD: 1.0, monthlyUSD: nil),
            BudgetRule(tag: "client", value: "vip", dailyUSD: 5.0, monthlyUSD: 20.0),
        ]
        let now = Timestamp.now()
        var task = ImageTask(positivePrompt: "x", tags: ["client": "acme"])
        let hold = try #require(BudgetLedger.hold(for: task, amountUSD: 0.3, createdAt: now, budgets: budgets))
        #expect(hold.caps == [BudgetCounter(tag: "client", value: "acme", period: .daily, periodNumber: BudgetLedger.dayNumber(now)): 1.0])
        task.tags = ["client": "vip"]
        #expect(
            BudgetLedger.hold(for: task, amountUSD: 0.3, createdAt: now, budgets: budgets)?.caps.count == 2, "the value's rule replaces the catch-all"
        )
        task.tags = [:]
        #expect(BudgetLedger.hold(for: task, amountUSD: 0.3, createdAt: now, budgets: budgets) == nil)

        try await withStore { store, _ in
            // Three daemons' submits at once, 0.3 USD each against a 1 USD day: exactly three fit.
            let outcomes = try await concurrently(12) { i in
                var job = makeJob(tags: ["client": "acme"])
                job.createdAt = now
                return try await store.insert([JobSubmission(job: job, hold: hold)])[0]
            }
            let inserted = outcomes.filter { if case .inserted = $0 { true } else { false } }.count
            #expect(inserted == 3)
            let counter = try #require(hold.caps.keys.first)
            let spent = try await store.spent([counter])[counter] ?? 0
            #expect(spent <= 1.0 + 1e-9 && abs(spent - 0.9) < 1e-9)
        }
    }

    @Test func migrateCopiesOnceAndRefusesAConflictingTarget() async throws {
        let dir = try Self.sqliteDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let configuration = DeliveryConfiguration(random: { 0.5 })
        let hook = DeliveryOutbox(configuration: configuration)
        let sqlite = try JobStore(path: dir + "/atelier.sqlite", durability: .normal, hooks: [hook])
        var made = Self.mixedJobs()
        made[0].task.webhookURL = "http://127.0.0.1:9/hook"
        let jobs = made
        _ = try await sqlite.insert(jobs)
        for (i, job) in jobs.enumerated() {
            let done = Self.finish(job, i)
            try await sqlite.update(
                done, change: done.status.isTerminal ? StateChange(done.status == .failed ? .failed : .succeeded, job: done) : nil)
        }
        let workflowStore = WorkflowStore(jobs: sqlite, hooks: [hook])
        let spec = try WorkflowSpec(json: try JSONParser.parse(#"{"workflowUUID":"\#(UUIDv4.generate())","positivePrompt":"a kite"}"#))
        _ = try await workflowStore.insert(Workflow(spec: spec, finalSeed: 3, createdAt: .now()))
        let owed = try await DeliveryStore(pool: sqlite.database, configuration: configuration).rows(forTasks: [jobs[0].taskUUID])
        #expect(owed.count >= 1)

        try await withPostgres { cluster in
            let migration = StoreMigration(sqlitePath: dir + "/atelier.sqlite", target: try cluster.location())
            let first = try await migration.run()
            #expect(first.jobsCopied == jobs.count && first.workflowsCopied == 1 && first.deliveriesCopied == owed.count)
            #expect(first.budgetCounters > 0)
            let again = try await migration.run()
            #expect(again.jobsCopied == 0 && again.jobsPresent == jobs.count && again.deliveriesCopied == 0 && again.budgetCounters == 0)

            try await PostgresStore.withStore(try cluster.location(), logger: quietLogger) { store in
                for job in jobs {
                    let copied = try #require(try await store.job(job.taskUUID))
                    let original = try #require(try await sqlite.job(job.taskUUID))
                    #expect(copied.status == original.status && copied.costUSD == original.costUSD && copied.finishedAt == original.finishedAt)
                    #expect(JSONWriter.string(copied.json) == JSONWriter.string(original.json))
                }
                #expect(try await store.workflow(spec.workflowUUID)?.spec.positivePrompt == "a kite")
                #expect(try await store.deliveries(forTasks: [jobs[0].taskUUID]).map(\.id) == owed.map(\.id))
                #expect(
                    try await store.stats(by: .model, since: Timestamp(milliseconds: 0))
                        == sqlite.stats(by: .model, since: Timestamp(milliseconds: 0)))

                // Another task under one of the source's ids: refused before anything is written.
                let otherDir = try Self.sqliteDirectory()
                defer { try? FileManager.default.removeItem(atPath: otherDir) }
                let other = try JobStore(path: otherDir + "/atelier.sqlite", durability: .normal)
                _ = try await other.insert([makeJob(jobs[1].taskUUID, prompt: "something else"), makeJob()])
                let error = await #expect(throws: AtelierError.self) {
                    _ = try await StoreMigration(sqlitePath: otherDir + "/atelier.sqlite", target: try cluster.location()).run()
                }
                #expect(error?.message.contains(jobs[1].taskUUID) == true)
                #expect(error?.message.contains(cluster.password) == false, "the password is never shown")
                #expect(try await store.counts().values.reduce(0, +) == jobs.count, "nothing of the refused source was copied")
            }
            await #expect(throws: AtelierError.self) {
                _ = try await StoreMigration(sqlitePath: dir + "/missing.sqlite", target: try cluster.location()).run()
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/missing.sqlite"), "a missing source is not created")
    }

    @Test func eachDaemonHasItsOwnScratchDirectoryAndAWriteCheck() async throws {
        let dir = try Self.sqliteDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = ResultFiles(root: dir, daemonID: "host-1-a")
        let b = ResultFiles(root: dir, daemonID: "host/../2")
        try a.prepare()
        try b.prepare()
        #expect(a.scratchRoot == dir + "/tmp/host-1-a" && b.scratchRoot == dir + "/tmp/host_.._2")
        #expect(a.imagesDirectory == b.imagesDirectory, "results are shared")
        // A file in b's scratch survives a's start (a lone daemon's start empties the whole tmp/).
        let inFlight = b.scratchRoot + "/attempt-0.png"
        #expect(FileManager.default.createFile(atPath: inFlight, contents: Data([1, 2, 3])))
        try a.prepare()
        #expect(FileManager.default.fileExists(atPath: inFlight))
        try a.checkWritable()
        #expect(try FileManager.default.contentsOfDirectory(atPath: a.imagesDirectory + "/00").isEmpty, "the check leaves nothing behind")
        // A directory where results cannot be renamed into fails the check with its reason.
        try FileManager.default.removeItem(atPath: a.imagesDirectory + "/00")
        #expect(FileManager.default.createFile(atPath: a.imagesDirectory + "/00", contents: Data()))
        let error = #expect(throws: AtelierError.self) { try a.checkWritable() }
        #expect(error?.message.contains("not writable") == true)
    }
}
