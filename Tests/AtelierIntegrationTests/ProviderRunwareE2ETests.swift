import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierTesting
import Foundation
import Testing

/// Jobs submitted over the socket to a real daemon whose Runware provider points at the loopback Runware fake.
@Suite("Runware end to end", .serialized)
struct ProviderRunwareE2ETests {
    /// Async submit, several `processing` polls, success; the exact task sent; the image downloaded without the
    /// key; seed, cost and bytes recorded; the same seed reproduces byte for byte; two results merge.
    @Test func asyncProcessingThenSuccessAndReproduction() async throws {
        try await FakeWorld.run("rw-ok", providers: ["runware"], runwarePolls: 2) { w in
            let m = E2E.marker()
            let prompt = "a ceramic mug on oak \(m)"
            let task = E2E.task(
                prompt, model: "runware-flux-2-klein-4b",
                ["negativePrompt": "text, watermark", "width": 512, "height": 512, "seed": 1234, "requirements": ["reproducible": true]])
            // Three jobs at once: A, A again (reproduction), and a two-image job.
            let a = try await w.submit(task)
            let b = try await w.submit(task)
            let c = try await w.submit(
                E2E.task("two mugs \(m)", model: "runware-flux-2-klein-4b", ["width": 512, "height": 384, "seed": 77, "numberResults": 2]))
            let ja = try await w.wait(a.taskUUID)
            let jb = try await w.wait(b.taskUUID)
            let jc = try await w.wait(c.taskUUID)
            for j in [ja, jb, jc] { #expect(j.status == .succeeded, "\(j.error?.description ?? "")") }

            // The submit: one imageInference task per job, exactly as documented.
            let submits = w.fakes.runware.tasks(ofType: "imageInference")
            try #require(submits.count == 3)
            let mine = submits.filter { $0["positivePrompt"]?.stringValue == prompt }
            try #require(mine.count == 2)
            let uuid = try #require(mine[0]["taskUUID"]?.stringValue)
            #expect(UUIDv4.canonical(uuid) != nil)
            let expected: JSONValue = [
                "taskType": "imageInference", "taskUUID": .string(uuid), "model": "runware:400@4", "positivePrompt": .string(prompt),
                "negativePrompt": "text, watermark", "width": 512, "height": 512, "seed": 1234, "numberResults": 1, "outputType": "URL",
                "outputFormat": "PNG", "includeCost": true, "deliveryMethod": "async", "steps": 4,
            ]
            #expect(mine[0] == expected)
            for r in w.fakes.runware.log.filter({ $0.host == "api" }) {
                #expect(E2E.header(r, "Authorization", is: "Bearer " + w.fakes.keys[.runware]!), "Bearer auth on every API call")
                #expect(r.method == "POST" && r.uri == "/v1")
            }
            // Polling: getResponse with the same taskUUID, processing twice, then success.
            let polls = w.fakes.runware.tasks(ofType: "getResponse").filter { $0["taskUUID"]?.stringValue == uuid }
            #expect(polls.count == 3, "two processing answers, then success")
            #expect(polls.allSatisfy { $0 == ["taskType": "getResponse", "taskUUID": .string(uuid)] })
            // Downloads: from the image host, without credentials.
            let downloads = w.fakes.runware.log.filter { $0.host == "images" }
            #expect(downloads.count == 4)
            #expect(downloads.allSatisfy { $0.header("Authorization") == nil && $0.method == "GET" })

            let ra = try #require(ja.results.first)
            let servedA = try #require(w.fakes.runware.served.first { $0.extra["taskUUID"] == uuid })
            #expect(ra.seed == 1234 && ra.seedHonored)
            #expect(ra.width == 512 && ra.height == 512 && ra.mimeType == "image/png")
            #expect(ra.sha256 == E2E.sha(servedA.bytes))
            #expect(ra.costUSD == servedA.reportedCostUSD, "the cost Runware reported")
            #expect(ja.costUSD == servedA.reportedCostUSD)
            #expect(try ResultFiles.sha256(ofFileAt: ra.path).0 == ra.sha256)
            #expect(jb.results.first?.sha256 == ra.sha256, "same seed and inputs: the same bytes")

            #expect(jc.results.count == 2)
            #expect(jc.results.map(\.seed) == [77, 78], "each result's own seed")
            #expect(Set(jc.results.map(\.sha256)).count == 2)
            let cCosts = w.fakes.runware.served.filter { $0.prompt.hasPrefix("two mugs") }.compactMap(\.reportedCostUSD)
            #expect(cCosts.count == 2)
            #expect(abs((jc.costUSD ?? 0) - cCosts.reduce(0, +)) < 1e-9)
        }
    }

    /// kill -9 while Runware is still processing: the restarted daemon resumes polling the same taskUUID and never
    /// submits again.
    @Test func restartWhileProcessingResumesWithoutResubmit() async throws {
        let dir = TempDir("rw-kill")
        defer { dir.cleanup() }
        try await FakeProviders.with(runwarePolls: 1) { fakes in
            let env = fakes.environment(for: ["runware"])
            let providers = try E2E.fastProviderFiles(in: dir)
            let first = try await DaemonProcess.start(in: dir, routing: E2E.routing(), extraArguments: ["--providers", providers], environment: env)
            let c1 = try await first.client()
            let m = E2E.marker()
            let job = try await c1.submit(
                E2E.task("a slow render \(m) [fake:hold]", model: "runware-flux-1-schnell", ["width": 512, "height": 512, "seed": 5]))
            // Wait until the task was submitted and polled at least once (the handle was committed before the submit).
            let submitted = try await fakes.runware.log.wait(for: 1, "imageInference submit") { r in
                r.json?.arrayValue?.first?["taskType"] == "imageInference"
            }
            let uuid = try #require(submitted[0].json?.arrayValue?.first?["taskUUID"]?.stringValue)
            try await fakes.runware.log.wait(for: 1, "a getResponse poll") { r in
                r.json?.arrayValue?.first?["taskType"] == "getResponse"
            }
            try? await c1.close()
            await first.kill9()
            let pollsBefore = fakes.runware.tasks(ofType: "getResponse").count
            fakes.runware.script.release()

            let second = try await DaemonProcess.start(
                in: dir, routing: E2E.routing(), extraArguments: ["--providers", providers], environment: env, dataDir: first.dataDir,
                socketPath: first.socketPath)
            let c2 = try await second.client()
            let done = try await c2.wait(job.taskUUID, timeoutSeconds: 120)
            #expect(done.status == .succeeded, "\(done.error?.description ?? "")")
            #expect(done.attempts.map(\.outcome) == [.interrupted, .succeeded])
            #expect(fakes.runware.tasks(ofType: "imageInference").count == 1, "never submitted (paid) twice")
            let polls = fakes.runware.tasks(ofType: "getResponse")
            #expect(polls.count > pollsBefore, "the restarted daemon polled")
            #expect(polls.allSatisfy { $0["taskUUID"]?.stringValue == uuid }, "the same upstream task")
            let r = try #require(done.results.first)
            #expect(r.seed == 5 && r.seedHonored)
            #expect(r.sha256 == E2E.sha(try #require(fakes.runware.served.first).bytes))
            await E2E.stopAndExpectNoSecrets(second, client: c2, secrets: fakes.keys.secretForms, texts: [first.log, JSONWriter.string(done.json)])
        }
    }

    /// Runware accepted the task but the answer was cut (reset) or garbled (malformed), or the image download was
    /// reset: the task is paid for, so the daemon looks it up and keeps polling, or downloads again — one submit
    /// per job, one attempt, never a second (paid) task.
    @Test func lostAnswersAndDownloadsNeverPayTwice() async throws {
        try await FakeWorld.run("rw-lost", providers: ["runware"], runwarePolls: 1) { w in
            w.fakes.runware.script.enqueue(.reset, .malformed, stage: .generate)
            w.fakes.runware.script.enqueue(.reset, stage: .download)
            var ids: [String] = []
            for i in 0..<3 {
                let j = try await w.submit(
                    E2E.task(
                        "a fragile line \(i) \(E2E.marker())", model: "runware-flux-1-schnell",
                        ["width": 256, "height": 256, "seed": .int(Int64(40 + i))]))
                ids.append(j.taskUUID)
            }
            for id in ids {
                let job = try await w.wait(id)
                #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
                #expect(job.attempts.count == 1, "no second attempt: \(job.attempts.map { $0.error?.code.rawValue ?? "ok" })")
            }
            #expect(w.fakes.runware.tasks(ofType: "imageInference").count == 3, "one submit per job")
            #expect(w.fakes.runware.log.filter { $0.host == "images" }.count == 4, "the reset download was fetched again")
        }
    }

    /// A refusal while processing (`contentPolicyViolation`) is terminal for the model: one submit, no retry.
    @Test func refusalWhileProcessingIsTerminal() async throws {
        try await FakeWorld.run("rw-blk", providers: ["runware"], runwarePolls: 1) { w in
            let job = try await w.run(
                E2E.task("forbidden \(E2E.marker()) [fake:blocked]", model: "runware-flux-1-schnell", ["width": 512, "height": 512]))
            #expect(job.status == .failed)
            #expect(job.error?.code == .refused)
            #expect(job.error?.details["upstreamCode"] == "contentPolicyViolation")
            #expect(w.fakes.runware.tasks(ofType: "imageInference").count == 1)
        }
    }

    /// Transient trouble while polling (503, then a malformed answer) is ridden out: the task is paid for.
    @Test func transientPollTroubleIsTolerated() async throws {
        try await FakeWorld.run("rw-tpt", providers: ["runware"], runwarePolls: 1) { w in
            w.fakes.runware.script.enqueue(.unavailable, .malformed, stage: .poll)
            let job = try await w.run(
                E2E.task("a patient render \(E2E.marker())", model: "runware-flux-1-schnell", ["width": 512, "height": 512, "seed": 9]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            #expect(job.attempts.count == 1, "no new (paid) attempt")
            #expect(w.fakes.runware.tasks(ofType: "imageInference").count == 1)
            #expect(w.fakes.runware.tasks(ofType: "getResponse").count == 4, "503, malformed, processing, success")
        }
    }

    /// `insufficientCredits` (402) is terminal for the provider; the key never leaks even when Runware echoes it.
    @Test func insufficientCreditsIsTerminal() async throws {
        try await FakeWorld.run("rw-402", providers: ["runware"]) { w in
            let job = try await w.run(
                E2E.task("a costly one \(E2E.marker()) [fake:no-credits]", model: "runware-flux-1-schnell", ["width": 512, "height": 512]))
            #expect(job.status == .failed)
            #expect(job.error?.code == .insufficientCredits)
            #expect(job.attempts.count == 1)
        }
    }
}
