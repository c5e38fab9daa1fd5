import AtelierCore
import AtelierTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import AtelierEngine

/// A delivery transport that records what it is asked to send and answers 200.
final class RecordingTransport: DeliveryTransport {
    private let sentIDs = Mutex<[String]>([])
    /// The `webhook-id` of every request, in order.
    var sent: [String] { sentIDs.withLock { $0 } }

    func send(_ request: DeliveryRequest, target: VettedTarget) async -> AttemptResult {
        let id = request.headers.first { $0.0 == "webhook-id" }?.1 ?? "?"
        sentIDs.withLock { $0.append(id) }
        return .http(status: 200, excerpt: "")
    }

    func shutdown() async {}
}

/// The delivery worker (``DeliveryService``) on a cluster's outbox (``PostgresOutbox``): a row claimed by a daemon
/// that dies is delivered by another daemon's worker once the lease runs out, exactly once by the survivor; per-host
/// limits hold; reads and `delivery.retry` answer like SQLite's.
@Suite struct PostgresDeliveryWorkerTests {
    static let configuration = DeliveryConfiguration(random: { 0.5 })

    /// A worker for daemon `owner` on `store`.
    static func worker(
        _ store: PostgresStore, owner: String, transport: RecordingTransport, leaseSeconds: Double = 1
    ) -> (
        DeliveryService, PostgresOutbox, DeliveryOutbox
    ) {
        let hook = DeliveryOutbox(configuration: configuration)
        let outbox = PostgresOutbox(store: store, owner: owner, configuration: configuration, leaseSeconds: leaseSeconds)
        let service = DeliveryService(
            outbox: hook, store: outbox, jobs: { try await store.job($0) }, secret: WebhookSecret(key: Array(0..<32)), transport: transport,
            resolver: { _ in [IPAddress("127.0.0.1")!] }, logger: quietLogger)
        return (service, outbox, hook)
    }

    /// A failed job with a webhook, committed with the rows the outbox hook says it owes.
    static func failedJob(
        _ store: PostgresStore, hook: DeliveryOutbox, url: String = "http://127.0.0.1:9/hook"
    ) async throws -> (Job, [DeliveryRecord]) {
        var job = makeJob()
        job.task.webhookURL = url
        _ = try await store.insert([JobSubmission(job: job)])
        job.status = .failed
        job.finishedAt = .now()
        let rows = hook.rows(for: StateChange(.failed, job: job))
        try await store.commit(job, change: .failed, lease: nil, deliveries: rows)
        return (job, rows)
    }

    @Test func aDeadDaemonsWebhookIsDeliveredByAnotherDaemon() async throws {
        try await withStore { store, _ in
            let deadTransport = RecordingTransport()
            // A's claim holds 10 s: long enough that B's first look surely falls inside it on a loaded machine (with
            // 1 s, a full parallel test run once let it run out before B looked).
            let (_, deadOutbox, hook) = Self.worker(store, owner: "daemon-a", transport: deadTransport, leaseSeconds: 10)
            let (job, rows) = try await Self.failedJob(store, hook: hook)
            #expect(rows.count == 1 && rows[0].kind == .webhook && rows[0].event == "job.failed")

            // Daemon A claims the row for an attempt and is killed before it records anything.
            let nowMs = Timestamp.now().milliseconds + 1
            let claimedByA = try await deadOutbox.step(outcomes: [], nowMs: nowMs, room: 8, inflight: [:], perHost: 4)
            #expect(claimedByA.claimed.map(\.id) == [rows[0].id])

            // Daemon B's worker sends nothing while A's lease runs, then takes the row over and delivers it once.
            let transport = RecordingTransport()
            let (survivor, _, _) = Self.worker(store, owner: "daemon-b", transport: transport)
            #expect(try await survivor.runDue() == 0, "A's lease still runs")
            let delivered = try await eventuallyValue(timeout: .seconds(60)) { () async -> DeliveryRecord? in
                _ = try? await survivor.runDue()
                guard let r = try? await store.delivery(rows[0].id), r.state.status == .delivered else { return nil }
                return r
            }
            let row = try #require(delivered, "the dead daemon's webhook was never delivered by the survivor")
            #expect(transport.sent == [rows[0].id], "sent once by the survivor, with the row's id as webhook-id")
            #expect(deadTransport.sent.isEmpty)
            #expect(row.state.attempts == 2, "A's unknown attempt counts, B's is the second")
            #expect(try await survivor.withDeliveries(job).deliveries.count == 1)
        }
    }

    @Test func aLateOutcomeOfATakenOverRowIsDroppedAndLeasesAreRenewed() async throws {
        try await withStore { store, _ in
            let transport = RecordingTransport()
            let (_, a, hook) = Self.worker(store, owner: "daemon-a", transport: transport, leaseSeconds: 60)
            let (_, rows) = try await Self.failedJob(store, hook: hook)
            let nowMs = Timestamp.now().milliseconds + 1
            let claimed = try await a.step(outcomes: [], nowMs: nowMs, room: 8, inflight: [:], perHost: 4).claimed
            #expect(claimed.count == 1)
            // A's lease runs out (set a second into the past instead of waited for) and B takes the row.
            #expect(try await store.renewDeliveryLeases(owner: "daemon-a", leaseSeconds: -1) == [rows[0].id])
            let b = PostgresOutbox(store: store, owner: "daemon-b", configuration: Self.configuration, leaseSeconds: 60)
            let taken = try await b.step(outcomes: [], nowMs: nowMs, room: 8, inflight: [:], perHost: 4).claimed
            #expect(taken.map(\.id) == [rows[0].id])
            // A's attempt comes back late: nothing is written.
            let late = DeliveryOutcome(record: claimed[0], result: .http(status: 200, excerpt: ""), finishedMs: nowMs + 10, unitRandom: 0.5)
            let step = try await a.step(outcomes: [late], nowMs: nowMs + 10, room: 0, inflight: [:], perHost: 4)
            #expect(step.written.isEmpty)
            #expect(try await store.delivery(rows[0].id)?.state.status == .sending)
            // B's outcome is recorded.
            let done = DeliveryOutcome(record: taken[0], result: .http(status: 200, excerpt: ""), finishedMs: nowMs + 20, unitRandom: 0.5)
            let recorded = try await b.step(outcomes: [done], nowMs: nowMs + 20, room: 0, inflight: [:], perHost: 4)
            #expect(recorded.written.map(\.state.status) == [.delivered])
        }
    }

    @Test func perHostLimitsHoldAndReadsMatchSQLitesAnswers() async throws {
        try await withStore { store, _ in
            let transport = RecordingTransport()
            let (service, outbox, hook) = Self.worker(store, owner: "daemon-a", transport: transport, leaseSeconds: 60)
            var all: [DeliveryRecord] = []
            for _ in 0..<3 { all += try await Self.failedJob(store, hook: hook, url: "http://127.0.0.1:9/one").1 }
            all += try await Self.failedJob(store, hook: hook, url: "http://127.0.0.1:10/two").1
            let nowMs = Timestamp.now().milliseconds + 1
            // One in flight per host: one row of each host now; the other two of the first host wait for room.
            let first = try await outbox.step(outcomes: [], nowMs: nowMs, room: 8, inflight: [:], perHost: 1)
            #expect(Set(first.claimed.map(\.hostKey)).count == 2 && first.claimed.count == 2)
            let busy = Dictionary(first.claimed.map { ($0.hostKey, 1) }) { a, _ in a }
            let none = try await outbox.step(outcomes: [], nowMs: nowMs, room: 8, inflight: busy, perHost: 1)
            #expect(none.claimed.isEmpty, "no host has room")
            let done = first.claimed.map { DeliveryOutcome(record: $0, result: .http(status: 200, excerpt: ""), finishedMs: nowMs, unitRandom: 0.5) }
            let next = try await outbox.step(outcomes: done, nowMs: nowMs, room: 8, inflight: [:], perHost: 1)
            #expect(next.written.count == 2 && next.claimed.count == 1)

            // delivery.list pages newest first, delivery.get, the backlog, delivery.retry.
            let (page1, cursor) = try await service.list(status: nil, taskUUID: nil, kind: nil, limit: 3, cursor: nil)
            #expect(page1.map(\.id) == all.reversed().prefix(3).map(\.id))
            let (page2, end) = try await service.list(status: nil, taskUUID: nil, kind: nil, limit: 3, cursor: cursor)
            #expect(page2.map(\.id) == [all[0].id] && end == nil)
            let delivered = try await service.list(status: .delivered, taskUUID: nil, kind: nil, limit: 10, cursor: nil).0
            #expect(delivered.count == 2)
            #expect(try await service.get(all[0].id).taskUUID == all[0].taskUUID)
            // The first step claimed the first host's three rows at once: one started, two wait here (sending) for room.
            let backlog = try await outbox.backlog(nowMs: nowMs, overdueAfterMs: 60_000)
            #expect(backlog.open == 2 && backlog.due == 0)
            let again = await #expect(throws: AtelierError.self) { _ = try await service.retry(id: delivered[0].id, taskUUID: nil) }
            #expect(again?.code == .alreadyDelivered)
            let missing = await #expect(throws: AtelierError.self) { _ = try await service.retry(id: "msg_missing", taskUUID: nil) }
            #expect(missing?.code == .notFound)
        }
    }
}
