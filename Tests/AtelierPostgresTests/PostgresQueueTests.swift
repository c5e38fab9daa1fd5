import AtelierCore
import Testing

@testable import AtelierEngine

/// The shared queue: claims with leases, many claimers, expiry and takeover, renewal, fencing.
@Suite struct PostgresQueueTests {
    @Test func manyConcurrentClaimersNeverClaimTheSameJobTwice() async throws {
        try await withStore { store, _ in
            let jobs = (0..<300).map { _ in makeJob() }
            for chunk in stride(from: 0, to: jobs.count, by: 100) {
                _ = try await store.insert(jobs[chunk..<min(chunk + 100, jobs.count)].map { JobSubmission(job: $0) })
            }
            // 12 claimers ("daemons"), each claiming small batches until the queue is empty.
            let claimed = try await concurrently(12) { d in
                var mine: [String] = []
                while true {
                    let batch = try await store.claimJobs(owner: "daemon-\(d)", limit: 7, providers: nil, leaseSeconds: 60)
                    if batch.isEmpty { break }
                    #expect(batch.allSatisfy { $0.lease.owner == "daemon-\(d)" && !$0.takenOver && $0.lease.token == 1 })
                    mine += batch.map(\.job.taskUUID)
                }
                return mine
            }
            let all = claimed.flatMap { $0 }
            #expect(all.count == 300, "every job claimed exactly once (claimed \(all.count) times)")
            #expect(Set(all) == Set(jobs.map(\.taskUUID)))
            #expect(claimed.filter { !$0.isEmpty }.count > 1, "the claims were spread over several claimers")
            // While the leases run, nobody else gets anything.
            #expect(try await store.claimJobs(owner: "late", limit: 50, providers: nil, leaseSeconds: 60).isEmpty)
        }
    }

    @Test func claimsAreOldestFirstAndFilteredByProvider() async throws {
        try await withStore { store, _ in
            let a = (0..<3).map { i in makeJob(prompt: "a\(i)", provider: "runware") }
            let b = (0..<3).map { i in makeJob(prompt: "b\(i)", provider: "local") }
            for job in [a[0], b[0], a[1], b[1], a[2], b[2]] { _ = try await store.insert([JobSubmission(job: job)]) }
            let runware = try await store.claimJobs(owner: "d", limit: 10, providers: ["runware"], leaseSeconds: 60)
            #expect(runware.map(\.job.taskUUID) == a.map(\.taskUUID))
            #expect(try await store.claimJobs(owner: "d", limit: 10, providers: [], leaseSeconds: 60).isEmpty)
            #expect(
                try await store.claimJobs(owner: "d", limit: 2, providers: nil, leaseSeconds: 60).map(\.job.taskUUID)
                    == Array(b.prefix(2)).map(\.taskUUID))
        }
    }

    @Test func anExpiredLeaseIsTakenOverAndTheOldHolderIsFencedOff() async throws {
        try await withStore { store, _ in
            var job = makeJob()
            _ = try await store.insert([JobSubmission(job: job)])
            // Daemon A claims, starts the job, records a provider handle, then "dies".
            let a = try #require(try await store.claimJobs(owner: "A", limit: 1, providers: nil, leaseSeconds: 60).first)
            job.status = .running
            job.attempts = [Attempt(number: 1, provider: "runware", model: "m", startedAt: .now(), resumeHandle: "upstream-task-1")]
            try await store.commit(job, change: .running, lease: a.lease, deliveries: [])
            #expect(try await store.claimJobs(owner: "B", limit: 1, providers: nil, leaseSeconds: 60).isEmpty, "the lease still runs")

            // Its lease runs out (set to a second ago: the test does not wait for the clock) ...
            #expect(try await store.renewLeases(owner: "A", taskUUIDs: [job.taskUUID], leaseSeconds: -1) == [job.taskUUID])
            // ... and B takes the job over, with the handle to resume from and a newer token.
            let takeover = try await store.claimJobs(owner: "B", limit: 1, providers: nil, leaseSeconds: 60).first
            let b = try #require(takeover)
            #expect(b.takenOver && b.job.status == .running && b.lease.token == a.lease.token + 1)
            #expect(b.job.attempts.first?.resumeHandle == "upstream-task-1")

            // A comes back: its writes and renewals no longer count.
            await #expect(throws: StoreLeaseLost.self) { try await store.commit(job, change: .succeeded, lease: a.lease, deliveries: []) }
            #expect(try await store.renewLeases(owner: "A", taskUUIDs: [job.taskUUID], leaseSeconds: 60).isEmpty)
            #expect(try await store.releaseJob(job.taskUUID, lease: a.lease) == false)
            // Without a lease, a job another daemon holds cannot be written either.
            await #expect(throws: StoreLeaseLost.self) { try await store.commit(job, change: nil, lease: nil, deliveries: []) }

            // B finishes it: the lease is released and nobody claims a finished job.
            job.status = .succeeded
            try await store.commit(job, change: .succeeded, lease: b.lease, deliveries: [])
            #expect(try await store.job(job.taskUUID)?.status == .succeeded)
            #expect(try await store.claimJobs(owner: "C", limit: 1, providers: nil, leaseSeconds: 60).isEmpty)
        }
    }

    @Test func renewalKeepsALeaseAndReleaseGivesTheJobBack() async throws {
        try await withStore { store, _ in
            let jobs = (0..<3).map { _ in makeJob() }
            _ = try await store.insert(jobs.map { JobSubmission(job: $0) })
            let claims = try await store.claimJobs(owner: "A", limit: 3, providers: nil, leaseSeconds: 1)
            #expect(claims.count == 3)
            let renewed = try await store.renewLeases(owner: "A", taskUUIDs: jobs.map(\.taskUUID), leaseSeconds: 120)
            #expect(Set(renewed) == Set(jobs.map(\.taskUUID)))
            let expiry = try await store.rows("SELECT (min(extract(epoch FROM lease_expires)) * 1000)::float8 AS ms FROM job") {
                try $0.get("ms", as: Double.self)
            }
            #expect((expiry.first ?? 0) > Double(claims[0].lease.expiresAt.milliseconds) + 60_000, "renewal moved the expiry ~2 minutes out")

            // Giving one back (e.g. a shutdown before it started) makes it claimable at once by another daemon.
            #expect(try await store.releaseJob(jobs[0].taskUUID, lease: claims[0].lease))
            let again = try await store.claimJobs(owner: "B", limit: 3, providers: nil, leaseSeconds: 60)
            #expect(again.map(\.job.taskUUID) == [jobs[0].taskUUID] && again.first?.takenOver == false)
            #expect(again.first?.lease.token == claims[0].lease.token + 1)
        }
    }

    @Test func aProvidersConcurrencyLimitHoldsForTheWholeCluster() async throws {
        try await withStore { store, _ in
            let runware = (0..<30).map { i in makeJob(prompt: "r\(i)", provider: "runware") }
            _ = try await store.insert(runware.map { JobSubmission(job: $0) })
            _ = try await store.insert([JobSubmission(job: makeJob(provider: "local"))])
            // Eight daemons each ask for three Runware jobs at once; the account allows five in flight.
            let claims = try await concurrently(8) { d in
                try await store.claimJobs(owner: "d\(d)", provider: "runware", clusterLimit: 5, limit: 3, leaseSeconds: 60)
            }
            let held = claims.flatMap { $0 }
            #expect(held.count == 5 && Set(held.map(\.job.taskUUID)).count == 5, "claimed \(held.count)")
            #expect(try await store.claimJobs(owner: "x", provider: "runware", clusterLimit: 5, limit: 3, leaseSeconds: 60).isEmpty)
            // Another provider's jobs are not held back.
            #expect(try await store.claimJobs(owner: "x", provider: "local", clusterLimit: 5, limit: 3, leaseSeconds: 60).count == 1)

            // Two finish: exactly two more can start, wherever they are asked for.
            for claim in held.prefix(2) {
                var job = claim.job
                job.status = .succeeded
                try await store.commit(job, change: .succeeded, lease: claim.lease, deliveries: [])
            }
            let next = try await concurrently(4) { d in
                try await store.claimJobs(owner: "e\(d)", provider: "runware", clusterLimit: 5, limit: 3, leaseSeconds: 60)
            }.flatMap { $0 }
            #expect(next.count == 2)
        }
    }
}
