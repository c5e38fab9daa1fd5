import AtelierCore
import Testing

@testable import AtelierEngine

/// The shared outbox (claims with leases, takeover of a dead daemon's attempts) and shared budgets (no overshoot).
@Suite struct PostgresOutboxBudgetTests {
    @Test func outboxRowsAreClaimedOnceAcrossConcurrentWorkers() async throws {
        try await withStore { store, _ in
            var job = makeJob()
            _ = try await store.insert([JobSubmission(job: job)])
            job.status = .succeeded
            let hosts = ["http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003"]
            let rows = (0..<60).map { i in PostgresJobStoreTests.delivery(job.taskUUID, event: "job.result", host: hosts[i % 3]) }
            try await store.commit(job, change: .succeeded, lease: nil, deliveries: rows)
            let now = Timestamp.now().milliseconds + 1
            let claimed = try await concurrently(6) { w in
                var mine: [ClaimedDelivery] = []
                while true {
                    let batch = try await store.claimDeliveries(owner: "w\(w)", limit: 4, nowMs: now, excludingHosts: [], leaseSeconds: 60)
                    if batch.isEmpty { break }
                    mine += batch
                }
                return mine
            }.flatMap { $0 }
            #expect(claimed.count == 60 && Set(claimed.map(\.record.id)).count == 60)
            #expect(claimed.allSatisfy { $0.record.state.status == .sending && $0.record.state.attempts == 1 && !$0.takenOver })
            #expect(try await store.delivery(rows[0].id)?.state.status == .sending)

            // A host can be left out (it has no room on this daemon).
            var other = makeJob()
            _ = try await store.insert([JobSubmission(job: other)])
            other.status = .succeeded
            let more = (0..<4).map { i in PostgresJobStoreTests.delivery(other.taskUUID, event: "job.result", host: hosts[i % 2]) }
            try await store.commit(other, change: .succeeded, lease: nil, deliveries: more)
            let some = try await store.claimDeliveries(owner: "w", limit: 10, nowMs: now + 10_000, excludingHosts: [hosts[0]], leaseSeconds: 60)
            #expect(some.count == 2 && some.allSatisfy { $0.record.hostKey == hosts[1] })
        }
    }

    @Test func aDeadWorkersAttemptIsTakenOverAndItsLateOutcomeIgnored() async throws {
        try await withStore { store, _ in
            var job = makeJob()
            _ = try await store.insert([JobSubmission(job: job)])
            job.status = .failed
            let row = PostgresJobStoreTests.delivery(job.taskUUID, event: "job.failed")
            try await store.commit(job, change: .failed, lease: nil, deliveries: [row])
            let now = Timestamp.now().milliseconds + 1
            let a = try #require(try await store.claimDeliveries(owner: "A", limit: 1, nowMs: now, excludingHosts: [], leaseSeconds: 60).first)
            #expect(try await store.claimDeliveries(owner: "B", limit: 1, nowMs: now, excludingHosts: [], leaseSeconds: 60).isEmpty)
            #expect(try await store.renewDeliveryLeases(owner: "A", leaseSeconds: 120) == [row.id])

            // A dies mid-attempt; its lease runs out (set to a second ago rather than waited for).
            #expect(try await store.renewDeliveryLeases(owner: "A", leaseSeconds: -1) == [row.id])
            let takeover = try await store.claimDeliveries(owner: "B", limit: 1, nowMs: now, excludingHosts: [], leaseSeconds: 60).first
            let b = try #require(takeover)
            #expect(b.takenOver && b.record.id == row.id && b.record.state.attempts == 2 && b.lease.token == a.lease.token + 1)

            var late = a.record
            late.state.status = .delivered
            late.state.deliveredMs = now
            #expect(try await store.recordDelivery(late, lease: a.lease).recorded == false, "A's late outcome must not overwrite B's attempt")
            var done = b.record
            done.state.status = .delivered
            done.state.deliveredMs = now + 5
            done.updatedMs = now + 5
            #expect(try await store.recordDelivery(done, lease: b.lease) == DeliveryRecording(recorded: true))
            let stored = try #require(try await store.delivery(row.id))
            #expect(stored.state.status == .delivered && stored.state.deliveredMs == now + 5)
            #expect(try await store.claimDeliveries(owner: "C", limit: 1, nowMs: now + 60_000, excludingHosts: [], leaseSeconds: 60).isEmpty)
        }
    }

    @Test func aFinalUploadReleasesTheHeldWebhooksWithItsOutcome() async throws {
        try await withStore { store, _ in
            var job = makeJob()
            _ = try await store.insert([JobSubmission(job: job)])
            job.status = .succeeded
            let now = Timestamp.now().milliseconds
            let image = UUIDv4.generate()
            let upload = DeliveryRecord(
                seq: 0, id: "upl_1", kind: .upload, taskUUID: job.taskUUID, event: "upload", imageUUID: image, resultIndex: 0,
                url: "http://127.0.0.1:9/bucket/a.png?X-Amz-Signature=secret", hostKey: "http://127.0.0.1:9",
                state: DeliveryStateMachine.initial(nowMs: now, held: false, schedule: .uploadDefault, unitRandom: 0.5), createdMs: now,
                updatedMs: now, eventMs: now, payload: "{}", body: nil)
            func held(_ id: String, _ event: WebhookEvent, _ data: JSONValue) -> DeliveryRecord {
                DeliveryRecord(
                    seq: 0, id: id, kind: .webhook, taskUUID: job.taskUUID, event: event.rawValue, imageUUID: event == .result ? image : nil,
                    resultIndex: event == .result ? 0 : nil, url: "http://127.0.0.1:9/hook", hostKey: "http://127.0.0.1:9",
                    state: DeliveryStateMachine.initial(nowMs: now, held: true, schedule: .webhookDefault, unitRandom: 0.5), createdMs: now,
                    updatedMs: now, eventMs: now, payload: JSONWriter.string(data), body: nil)
            }
            let rows = [
                upload,
                held("msg_result", .result, ["taskUUID": .string(job.taskUUID), "index": 0, "imageUUID": .string(image)]),
                held("msg_done", .succeeded, ["taskUUID": .string(job.taskUUID), "results": [["imageUUID": .string(image)]]]),
            ]
            try await store.commit(job, change: .succeeded, lease: nil, deliveries: rows)
            // Held webhooks are not claimable; the upload is.
            let claimed = try await store.claimDeliveries(owner: "A", limit: 10, nowMs: now + 1, excludingHosts: [], leaseSeconds: 60)
            #expect(claimed.map(\.record.id) == ["upl_1"])
            var done = try #require(claimed.first).record
            done.state.status = .delivered
            done.state.deliveredMs = now + 2
            done.updatedMs = now + 2
            let recording = try await store.recordDelivery(done, lease: claimed[0].lease)
            #expect(recording.recorded && Set(recording.released.map(\.id)) == ["msg_result", "msg_done"])
            for id in ["msg_result", "msg_done"] {
                let row = try #require(try await store.delivery(id))
                #expect(!row.state.held && row.state.status == .pending && row.state.nextAttemptMs == now + 2)
                #expect(row.body?.contains("uploadURL") == true && row.body?.contains("secret") == false, "\(row.body ?? "")")
            }
            let next = try await store.claimDeliveries(owner: "A", limit: 10, nowMs: now + 3, excludingHosts: [], leaseSeconds: 60)
            #expect(Set(next.map(\.record.id)) == ["msg_result", "msg_done"])
        }
    }

    @Test func concurrentSpendsNeverOvershootACap() async throws {
        try await withStore { store, _ in
            let daily = BudgetCounter(tag: "client", value: "acme", period: .daily, periodNumber: 20_000)
            let monthly = BudgetCounter(tag: "client", value: "acme", period: .monthly, periodNumber: 24_323)
            let hold = BudgetHold(amountUSD: 0.1, caps: [daily: 1.0, monthly: 50])
            let outcomes = try await concurrently(40) { _ in try await store.spend(hold) }
            #expect(outcomes.filter { $0 == .accepted }.count == 10, "exactly cap / amount spends fit")
            let spent = try await store.spent([daily, monthly])
            #expect(abs((spent[daily] ?? 0) - 1.0) < 1e-9 && abs((spent[monthly] ?? 0) - 1.0) < 1e-9)
            guard case .refused(let refusal)? = outcomes.first(where: { $0 != .accepted }) else {
                Issue.record("no spend was refused")
                return
            }
            #expect(refusal.counter == daily && refusal.capUSD == 1.0)

            // The actual cost below the estimate gives room back.
            try await store.adjust([daily, monthly], deltaUSD: -0.25)
            #expect(abs((try await store.spent([daily])[daily] ?? 0) - 0.75) < 1e-9)
            #expect(try await store.spend(BudgetHold(amountUSD: 0.25, caps: [daily: 1.0])) == .accepted)
            #expect(try await store.spend(BudgetHold(amountUSD: 0.01, caps: [daily: 1.0])) != .accepted)
        }
    }

    @Test func submissionsChargeTheirHoldOnceAndNeverPassTheCap() async throws {
        try await withStore { store, _ in
            let counter = BudgetCounter(tag: "client", value: "acme", period: .daily, periodNumber: 20_001)
            let hold = BudgetHold(amountUSD: 0.5, caps: [counter: 5])
            let jobs = (0..<30).map { _ in makeJob(tags: ["client": "acme"]) }
            let outcomes = try await concurrently(30) { i in try await store.insert([JobSubmission(job: jobs[i], hold: hold)]) }.flatMap { $0 }
            #expect(outcomes.map(PostgresJobStoreTests.kind).filter { $0 == "inserted" }.count == 10)
            #expect(outcomes.map(PostgresJobStoreTests.kind).filter { $0 == "overBudget" }.count == 20)
            #expect(abs((try await store.spent([counter])[counter] ?? 0) - 5) < 1e-9)
            let stored = try await store.rows("SELECT count(*) AS n FROM job") { try $0.get("n", as: Int.self) }
            #expect(stored == [10], "refused submissions leave no job behind")

            // Resubmitting an accepted job finds it and charges nothing (even with the budget spent).
            let accepted = zip(jobs, outcomes).first { PostgresJobStoreTests.kind($0.1) == "inserted" }!.0
            #expect(try await store.insert([JobSubmission(job: accepted, hold: hold)]).map(PostgresJobStoreTests.kind) == ["existing"])
            #expect(abs((try await store.spent([counter])[counter] ?? 0) - 5) < 1e-9)
        }
    }
}
