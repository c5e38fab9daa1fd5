import AtelierClient
import AtelierCore
import AtelierRPC
import AtelierTestSupport
import AtelierTesting
import Foundation
import Synchronization
import Testing

@testable import AtelierEngine

/// Three real `atelierd` processes on one PostgreSQL database and one data directory behave as one Atelier: every
/// job runs exactly once even when one daemon is killed with SIGKILL in the middle, Runware is paid once per task,
/// webhooks are delivered, `job.wait` on one daemon sees results of the others, one taskUUID is one job cluster-wide,
/// and a budget cap holds under concurrent submits to all three.
@Suite(.serialized) struct ThreeDaemonTests {
    /// A task for the built-in renderer.
    static func localTask(_ prompt: String, seed: Int64, webhook: String? = nil, uuid: String? = nil) -> JSONValue {
        var o: JSONObject = [
            "positivePrompt": .string(prompt), "model": "local-render", "width": 128, "height": 128, "seed": .int(seed),
        ]
        if let webhook { o["webhookURL"] = .string(webhook) }
        if let uuid { o["taskUUID"] = .string(uuid) }
        return .object(o)
    }

    /// A task for Runware (the loopback fake).
    static func runwareTask(_ prompt: String, seed: Int64, tags: [String: String] = [:]) -> JSONValue {
        var o: JSONObject = [
            "positivePrompt": .string(prompt), "model": "runware-flux-1-schnell", "width": 512, "height": 512, "seed": .int(seed),
        ]
        if !tags.isEmpty {
            var t = JSONObject()
            for (k, v) in tags.sorted(by: { $0.key < $1.key }) { t[k] = .string(v) }
            o["tags"] = .object(t)
        }
        return .object(o)
    }

    /// A webhook receiver on 127.0.0.1 that answers 200 and records every `webhook-id`.
    final class Receiver: Sendable {
        let log: FakeRequestLog
        let server: FakeHTTPServer

        private init(server: FakeHTTPServer, log: FakeRequestLog) {
            self.server = server
            self.log = log
        }

        static func start() async throws -> Receiver {
            let log = FakeRequestLog()
            let server = try await FakeHTTPServer.start(host: "hooks", log: log) { _ in .respond(status: 200, headers: [], body: []) }
            return Receiver(server: server, log: log)
        }

        var url: String { server.baseURL + "/hook" }
        var ids: [String] { log.all.compactMap { $0.header("webhook-id") } }
    }

    @Test func threeHundredJobsRunExactlyOnceThroughAKillNine() async throws {
        try await withPostgres(timeout: .seconds(900)) { cluster in
            try await FakeProviders.with(runwarePolls: 1) { fakes in
                let receiver = try await Receiver.start()
                defer { Task { await receiver.server.shutdown() } }
                // The full read of unfinished jobs every 60 s instead of 5: an answer within 20 s of a job's end can then only
                // come from the relayed notice, however busy the machine (a 3 s lag was once seen under a loaded CI run).
                try await DaemonCluster.with(
                    cluster, fakes: fakes, routing: DaemonCluster.routing(), leaseSeconds: 2, extraArguments: ["--reconcile-seconds", "60"]
                ) { c in
                    var clients: [AtelierClient] = []
                    for d in c.daemons { clients.append(try await d.client()) }
                    let marker = UUIDv4.generate().prefix(8)
                    // 300 tasks, a third on Runware, 30 local ones with a webhook; submitted round-robin to the three.
                    let tasks: [(JSONValue, Bool)] = (0..<300).map { i in
                        if i % 3 == 0 { return (Self.runwareTask("runware \(marker) #\(i)", seed: Int64(i)), true) }
                        return (Self.localTask("local \(marker) #\(i)", seed: Int64(i), webhook: i % 10 == 1 ? receiver.url : nil), false)
                    }
                    let snapshot = clients
                    let ids: [String] = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                        for (i, t) in tasks.enumerated() {
                            group.addTask { (i, try await snapshot[i % 3].submit(t.0).taskUUID) }
                        }
                        var out = [String](repeating: "", count: tasks.count)
                        for try await (i, id) in group { out[i] = id }
                        return out
                    }
                    #expect(Set(ids).count == 300)

                    // Kill daemon 1 while it holds running jobs (its leases then run out and the others take them over).
                    try await PostgresStore.withStore(try cluster.location(), maximumConnections: 2, logger: quietLogger) { store in
                        let holding = try await eventually(timeout: .seconds(120), "daemon d1 never held a running job") {
                            let n = try await store.rows("SELECT count(*) AS n FROM job WHERE lease_owner = 'd1' AND status = 'running'") {
                                try $0.get("n", as: Int64.self)
                            }
                            return (n.first ?? 0) > 0
                        }
                        try #require(holding)
                    }
                    try? await clients[1].close()
                    await c.daemons[1].kill9()

                    // job.wait on daemon 0 answers for every job, whichever daemon ran it, promptly once it finished: the
                    // time from the job's end (or from the call, for a job already finished) to the answer stays far
                    // under the reconcile period (60 s here), so it is the relayed notice that answers, not a periodic read.
                    // (How long a job queued before running is not measured: submissions arrive concurrently and a
                    // batch is inserted in taskUUID order, so queue order is not index order.)
                    var lags: [(id: String, ms: Int64)] = []
                    for id in ids {
                        let called = Timestamp.now().milliseconds
                        let job = try await clients[0].wait(id, timeoutSeconds: 90)
                        let answered = Timestamp.now().milliseconds
                        if let finished = job.finishedAt?.milliseconds { lags.append((id, answered - max(called, finished))) }
                        #expect(job.status == .succeeded, "\(id): \(job.status) \(job.error?.description ?? "")")
                        #expect(job.results.count == 1)
                        #expect(job.attempts.filter { $0.outcome == .succeeded }.count == 1, "\(id) succeeded exactly once")
                        if let r = job.results.first {
                            let (sha, size) = try ResultFiles.sha256(ofFileAt: r.path)
                            #expect(sha == r.sha256 && size == r.bytes, "the shared data directory holds the recorded file")
                        }
                    }
                    let slowest = lags.sorted { $0.ms > $1.ms }.prefix(3)
                    #expect(lags.count == 300)
                    #expect(
                        (slowest.first?.ms ?? 0) < 20000,
                        "job.wait on d0 answered late after the job's end: \(slowest.map { "\($0.id) \($0.ms) ms" })"
                    )
                    // Runware: exactly one submit per Runware task, never a second (paid) one after the takeover.
                    let submits = fakes.runware.tasks(ofType: "imageInference").compactMap { $0["positivePrompt"]?.stringValue }
                        .filter { $0.contains(String(marker)) }
                    #expect(submits.count == 100, "one submit per Runware task, \(submits.count) seen")
                    #expect(Set(submits).count == 100)
                    // Every webhook delivered (at least once; by whichever daemon), every row settled.
                    let hooked = ids.enumerated().filter { $0.offset % 10 == 1 && $0.offset % 3 != 0 }.map(\.element)
                    try await PostgresStore.withStore(try cluster.location(), maximumConnections: 2, logger: quietLogger) { store in
                        #expect(try await store.counts()[.succeeded] == 300, "300 jobs in the store, all succeeded")
                        let delivered = try await eventually(timeout: .seconds(120), "webhooks still pending") {
                            let rows = try await store.deliveries(forTasks: hooked)
                            // Two messages per job: job.result and job.succeeded.
                            return rows.count == 2 * hooked.count && rows.allSatisfy { $0.state.status == .delivered }
                        }
                        let rows = try await store.deliveries(forTasks: hooked)
                        let states = Dictionary(grouping: rows) { "\($0.state.status.rawValue) \($0.state.lastError?.message ?? "")" }.mapValues(
                            \.count)
                        #expect(delivered, "outbox rows of the webhook jobs: \(states)")
                        #expect(Set(receiver.ids).isSuperset(of: rows.map(\.id)), "the receiver saw every message")
                    }
                    for client in [clients[0], clients[2]] { try? await client.close() }
                }
            }
        }
    }

    @Test func oneTaskUUIDSentToAllThreeAtOnceIsOneJob() async throws {
        try await withPostgres(timeout: .seconds(300)) { cluster in
            try await FakeProviders.with { fakes in
                try await DaemonCluster.with(cluster, fakes: fakes, routing: DaemonCluster.routing()) { c in
                    var clients: [AtelierClient] = []
                    for d in c.daemons { clients.append(try await d.client()) }
                    let snapshot = clients
                    for round in 0..<5 {
                        let uuid = UUIDv4.generate()
                        let task = Self.localTask("the same lighthouse \(round)", seed: 7, uuid: uuid)
                        let answers = try await concurrently(3) { i in try await snapshot[i].submit(task) }
                        #expect(answers.allSatisfy { $0.taskUUID == uuid })
                        #expect(Set(answers.map { $0.createdAt.milliseconds }).count == 1, "the same job from every daemon")
                        let done = try await concurrently(3) { i in try await snapshot[i].wait(uuid, timeoutSeconds: 120) }
                        #expect(done.allSatisfy { $0.status == .succeeded && $0.results.count == 1 })
                        #expect(Set(done.map { $0.results.first?.sha256 ?? "" }).count == 1)
                        // Another task under that id is a conflict on every daemon.
                        for client in snapshot {
                            let error = await #expect(throws: RPCError.self) {
                                _ = try await client.submit(Self.localTask("another task", seed: 8, uuid: uuid))
                            }
                            #expect(error?.data?["code"]?.stringValue == "conflict_task_uuid")
                        }
                    }
                    let stored = try await PostgresStore.withStore(try cluster.location(), maximumConnections: 2, logger: quietLogger) { store in
                        try await store.counts().values.reduce(0, +)
                    }
                    #expect(stored == 5, "five taskUUIDs, five jobs")
                    for client in clients { try? await client.close() }
                }
            }
        }
    }

    @Test func aBudgetCapHoldsUnderConcurrentSubmitsToThreeDaemons() async throws {
        try await withPostgres(timeout: .seconds(300)) { cluster in
            try await FakeProviders.with(runwarePolls: 1) { fakes in
                // The cap fits a handful of Runware estimates; 36 submits at once across three daemons.
                let routing = DaemonCluster.routing(budgets: [["tag": "client", "value": "acme", "dailyUSD": 0.02]])
                try await DaemonCluster.with(cluster, fakes: fakes, routing: routing) { c in
                    var clients: [AtelierClient] = []
                    for d in c.daemons { clients.append(try await d.client()) }
                    let snapshot = clients
                    let outcomes: [Job?] = try await concurrently(36) { i in
                        do {
                            return try await snapshot[i % 3].submit(Self.runwareTask("budgeted \(i)", seed: Int64(i), tags: ["client": "acme"]))
                        } catch {
                            #expect((error as? RPCError)?.data?["code"]?.stringValue == "budget_exceeded", "refused for the budget, not \(error)")
                            return nil
                        }
                    }
                    let accepted = outcomes.compactMap { $0 }
                    #expect(!accepted.isEmpty && accepted.count < 36, "some fit, the cap stopped the rest (\(accepted.count) accepted)")
                    let estimated = accepted.map { $0.route?.estimatedCostUSD ?? 0 }.reduce(0, +)
                    #expect(estimated <= 0.02 + 1e-9, "accepted estimates \(estimated) USD pass the 0.02 USD cap")
                    var spent = 0.0
                    for job in accepted {
                        let done = try await snapshot[0].wait(job.taskUUID, timeoutSeconds: 120)
                        #expect(done.status == .succeeded)
                        spent += done.costUSD ?? 0
                    }
                    #expect(spent <= 0.02 + 1e-9, "actual spend \(spent) USD passes the cap")
                    for client in clients { try? await client.close() }
                }
            }
        }
    }
}
