import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierTesting
import Foundation
import Testing

/// Jobs submitted over the socket to a real daemon whose BFL provider points at the loopback BFL fake (global API,
/// regional polling host, and blob-storage delivery host).
@Suite("BFL end to end", .serialized)
struct ProviderBFLE2ETests {
    /// Submit → Pending → Ready; the polling URL's host is polled (with x-key), the sample is fetched from a second
    /// host without x-key; seed, cost (credits / 100) and bytes recorded; the same seed reproduces byte for byte.
    @Test func pendingThenReadyWithSampleOnASecondHost() async throws {
        try await FakeWorld.run("bfl-ok", providers: ["bfl"], bflPolls: 2) { w in
            let m = E2E.marker()
            let prompt = "a glass teapot, studio light \(m)"
            let task = E2E.task(
                prompt, model: "flux-2-pro",
                ["width": 768, "height": 512, "seed": 99, "negativePrompt": "dropped by BFL", "requirements": ["reproducible": true]])
            let first = try await w.run(task)
            let second = try await w.run(task)
            for j in [first, second] { #expect(j.status == .succeeded, "\(j.error?.description ?? "")") }

            let submits = w.fakes.bfl.log.filter { $0.method == "POST" }
            try #require(submits.count == 2)
            #expect(submits.allSatisfy { $0.host == "api" && $0.uri == "/v1/flux-2-pro" })
            #expect(submits.allSatisfy { E2E.header($0, "x-key", is: w.fakes.keys[.bfl]!) })
            let expected: JSONValue = [
                "prompt": .string(prompt), "width": 768, "height": 512, "seed": 99, "output_format": "png", "safety_tolerance": 2,
                "disable_pup": true,
            ]
            #expect(submits[0].json == expected)

            let polls = w.fakes.bfl.log.filter { $0.path == "/v1/get_result" }
            #expect(polls.count == 6, "Pending twice, then Ready, for each job")
            #expect(polls.allSatisfy { $0.host == "regional" }, "the polling_url's host is polled, not the global one")
            #expect(polls.allSatisfy { E2E.header($0, "x-key", is: w.fakes.keys[.bfl]!) })
            let downloads = w.fakes.bfl.log.filter { $0.host == "delivery" }
            #expect(downloads.count == 2)
            #expect(downloads.allSatisfy { $0.header("x-key") == nil && $0.header("Authorization") == nil }, "no key to blob storage")
            #expect(downloads.allSatisfy { $0.query["sig"] != nil }, "the signed URL is used as given")

            let r = try #require(first.results.first)
            let served = try #require(w.fakes.bfl.served(containing: m).first)
            #expect(r.width == 768 && r.height == 512 && r.mimeType == "image/png")
            #expect(r.seed == 99 && r.seedHonored)
            #expect(r.sha256 == E2E.sha(served.bytes))
            #expect(r.costUSD == served.reportedCostUSD && r.costUSD == 0.03, "3 credits for one megapixel")
            #expect(first.costUSD == 0.03)
            #expect(second.results.first?.sha256 == r.sha256, "same seed, same endpoint: the same bytes")
        }
    }

    /// A sample download reset mid-body is fetched again (the signed URL lives ~10 minutes): no second submit.
    @Test func resetSampleDownloadIsFetchedAgain() async throws {
        try await FakeWorld.run("bfl-dl", providers: ["bfl"], bflPolls: 1) { w in
            w.fakes.bfl.script.enqueue(.reset, stage: .download)
            let job = try await w.run(
                E2E.task("a fragile download \(E2E.marker())", model: "flux-2-klein-4b", ["width": 512, "height": 512, "seed": 3]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            #expect(job.attempts.count == 1, "no second (paid) submit")
            #expect(w.fakes.bfl.log.filter { $0.method == "POST" }.count == 1)
            #expect(w.fakes.bfl.log.filter { $0.host == "delivery" }.count == 2)
            #expect(job.results.first?.sha256 == w.fakes.bfl.served.first.map { E2E.sha($0.bytes) })
        }
    }

    /// kill -9 while BFL is Pending: the restarted daemon polls the recorded polling URL and never submits again.
    @Test func restartWhilePendingResumesWithoutResubmit() async throws {
        let dir = TempDir("bfl-kill")
        defer { dir.cleanup() }
        try await FakeProviders.with(bflPolls: 1) { fakes in
            let env = fakes.environment(for: ["bfl"])
            let providers = try E2E.fastProviderFiles(in: dir)
            let first = try await DaemonProcess.start(in: dir, routing: E2E.routing(), extraArguments: ["--providers", providers], environment: env)
            let c1 = try await first.client()
            let job = try await c1.submit(
                E2E.task(
                    "a slow flux \(E2E.marker()) [fake:hold]", model: "flux-2-klein-4b",
                    ["width": 512, "height": 512, "seed": 21, "numberResults": 2]))
            // Both submits recorded (the handle is committed after each), and a poll seen.
            try await fakes.bfl.log.wait(for: 2, "two submits") { $0.method == "POST" }
            try await fakes.bfl.log.wait(for: 1, "a poll") { $0.path == "/v1/get_result" }
            try? await c1.close()
            await first.kill9()
            fakes.bfl.script.release()
            let second = try await DaemonProcess.start(
                in: dir, routing: E2E.routing(), extraArguments: ["--providers", providers], environment: env, dataDir: first.dataDir,
                socketPath: first.socketPath)
            let c2 = try await second.client()
            let done = try await c2.wait(job.taskUUID, timeoutSeconds: 120)
            #expect(done.status == .succeeded, "\(done.error?.description ?? "")")
            #expect(done.attempts.map(\.outcome) == [.interrupted, .succeeded])
            #expect(fakes.bfl.log.filter { $0.method == "POST" }.count == 2, "never submitted (paid) again")
            // Image i of a batch uses seed + i (as everywhere in Atelier): two different images, both reproducible.
            let seedsSent = fakes.bfl.log.filter { $0.method == "POST" }.compactMap { $0.json?["seed"]?.intValue }
            #expect(seedsSent == [21, 22])
            #expect(done.results.map(\.seed) == [21, 22], "each BFL submit reports the seed it used")
            #expect(Set(done.results.map(\.sha256)).count == 2, "two different images")
            #expect(Set(fakes.bfl.log.filter { $0.path == "/v1/get_result" }.map(\.host)) == ["regional"])
            #expect(done.costUSD == 0.028, "two submits of 1.4 credits")
            await E2E.stopAndExpectNoSecrets(second, client: c2, secrets: fakes.keys.secretForms, texts: [first.log, JSONWriter.string(done.json)])
        }
    }

    /// `Request Moderated` while polling is `refused`, with BFL's status as the upstream code.
    @Test func moderationIsRefused() async throws {
        try await FakeWorld.run("bfl-mod", providers: ["bfl"], bflPolls: 1) { w in
            let job = try await w.run(
                E2E.task("moderate me \(E2E.marker()) [fake:blocked]", model: "flux-2-klein-4b", ["width": 512, "height": 512]))
            #expect(job.status == .failed)
            #expect(job.error?.code == .refused)
            #expect(job.error?.details["upstreamCode"] == "Request Moderated")
            #expect(job.error?.message.contains("Derivative Works Filter") == true, "the moderation reasons are quoted")
            #expect(w.fakes.bfl.log.filter { $0.method == "POST" }.count == 1)
        }
    }

    /// 402 is `insufficient_credits`; 422 names the field; neither is retried.
    @Test func creditsAndValidationErrors() async throws {
        try await FakeWorld.run("bfl-err", providers: ["bfl"]) { w in
            let broke = try await w.run(
                E2E.task("no money \(E2E.marker()) [fake:no-credits]", model: "flux-2-klein-4b", ["width": 512, "height": 512]))
            #expect(broke.status == .failed)
            #expect(broke.error?.code == .insufficientCredits)
            #expect(broke.error?.details["httpStatus"] == 402)
            let invalid = try await w.run(
                E2E.task("bad width \(E2E.marker()) [fake:invalid]", model: "flux-2-klein-4b", ["width": 512, "height": 512]))
            #expect(invalid.status == .failed)
            #expect(invalid.error?.code == .invalidRequest)
            #expect(invalid.error?.field == "/width")
            #expect(w.fakes.bfl.log.filter { $0.method == "POST" }.count == 2, "no retries")
        }
    }
}
