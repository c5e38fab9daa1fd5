import AtelierClient
import AtelierCore
import AtelierRPC
import AtelierTesting
import Foundation
import Testing

/// Deadline routing through a real daemon whose Gemini provider points at the loopback fake: a batched job survives
/// `kill -9` while its batch runs and is resumed from the recorded batch name without a second
/// `batchGenerateContent`; bad deadlines are -32602 with the field.
@Suite("Gemini Batch end to end", .serialized)
struct GeminiBatchE2ETests {
    /// The repository's provider files with fast retries and a fast batch lane: 0.3 s collection window, polls every
    /// 0.1 s, a 1 h turnaround (so a "2h" deadline is batched); one interactive Gemini call at a time.
    static func providerFiles(in dir: TempDir) throws -> String {
        let path = try E2E.fastProviderFiles(in: dir)
        let file = path + "/gemini.json"
        guard case .object(var o) = try JSONParser.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: file)))) else {
            throw AtelierError(.invalidValue, "gemini.json")
        }
        o["concurrency"] = 1
        o["batch"] = [
            "turnaroundSeconds": 3600, "collectSeconds": 0.3, "maxRequests": 100, "pollSeconds": 0.1, "maxWaitingJobs": 50,
            "interactiveReserveSeconds": 0,
        ]
        try Data(JSONWriter.bytes(.object(o))).write(to: URL(fileURLWithPath: file))
        return path
    }

    /// kill -9 while the batch is RUNNING: the restarted daemon polls the recorded batch and never sends it again; the
    /// job is charged at the batch rate and queued in the batch lane — while it waits, an interactive Gemini job runs
    /// (Gemini's one interactive slot is free).
    @Test func killedWhileBatchRunsResumesWithoutResubmit() async throws {
        let dir = TempDir("gemini-batch-kill")
        defer { dir.cleanup() }
        try await FakeProviders.with { fakes in
            let env = fakes.environment(for: ["gemini"])
            let providers = try Self.providerFiles(in: dir)
            let first = try await DaemonProcess.start(in: dir, routing: E2E.routing(), extraArguments: ["--providers", providers], environment: env)
            let c1 = try await first.client()
            let job = try await c1.submit(
                E2E.task(
                    "a batched lighthouse \(E2E.marker()) [fake:hold]", model: "gemini-3.1-flash-image",
                    ["resolution": "1K", "numberResults": 2, "requirements": ["deadline": "2h"]]))
            #expect(job.route?.provider == "gemini.batch")
            #expect(job.route?.estimatedCostUSD == 0.067, "two 1K images at the $0.0335 batch price")
            try await fakes.gemini.log.wait(for: 1, "the batch is created") { $0.path.hasSuffix(":batchGenerateContent") }
            try await fakes.gemini.log.wait(for: 2, "polls answered RUNNING") { $0.path.hasPrefix("/v1beta/batches/") }
            let now = try await c1.submit(E2E.task("an urgent lighthouse \(E2E.marker())", model: "gemini-3.1-flash-image", ["resolution": "1K"]))
            #expect(now.route?.provider == "gemini")
            let urgent = try await c1.wait(now.taskUUID, timeoutSeconds: 60)
            #expect(urgent.status == .succeeded, "the waiting batch job holds no interactive slot")
            #expect(fakes.gemini.batchStates.values.allSatisfy { $0 == "RUNNING" }, "the batch was still running")
            try? await c1.close()
            await first.kill9()
            fakes.gemini.script.release()
            let second = try await DaemonProcess.start(
                in: dir, routing: E2E.routing(), extraArguments: ["--providers", providers], environment: env, dataDir: first.dataDir,
                socketPath: first.socketPath)
            let c2 = try await second.client()
            let done = try await c2.wait(job.taskUUID, timeoutSeconds: 120)
            #expect(done.status == .succeeded, "\(done.error?.description ?? "")")
            #expect(done.attempts.map(\.outcome) == [.interrupted, .succeeded])
            #expect(fakes.gemini.batchCreateRequests.count == 1, "never sent (paid) again")
            #expect(fakes.gemini.generateRequests.count == 1, "only the urgent job's interactive call")
            #expect(done.results.count == 2)
            let cost = try #require(done.costUSD)
            #expect(cost > 0.066 && cost < 0.070, "two images at about half the interactive price: \(cost)")
            let served = Set(fakes.gemini.served.map { E2E.sha($0.bytes) })
            #expect(done.results.allSatisfy { served.contains($0.sha256) })
            await E2E.stopAndExpectNoSecrets(second, client: c2, secrets: fakes.keys.secretForms, texts: [first.log, JSONWriter.string(done.json)])
        }
    }

    /// A malformed deadline, a deadline already past and batch-only on a model without batch support: each -32602
    /// with `data.field`; nothing is stored.
    @Test func badDeadlinesAreInvalidParams() async throws {
        let dir = TempDir("gemini-batch-bad")
        defer { dir.cleanup() }
        try await FakeProviders.with { fakes in
            let env = fakes.environment(for: ["gemini", "bfl"])
            let providers = try Self.providerFiles(in: dir)
            let daemon = try await DaemonProcess.start(in: dir, routing: E2E.routing(), extraArguments: ["--providers", providers], environment: env)
            let c = try await daemon.client()
            let cases: [(JSONValue, String, String)] = [
                (
                    E2E.task("x", model: "gemini-3.1-flash-image", ["requirements": ["deadline": "next week"]]), "/requirements/deadline",
                    "invalid_value"
                ),
                (
                    E2E.task("x", model: "gemini-3.1-flash-image", ["requirements": ["deadline": "2021-03-04T05:06:07Z"]]), "/requirements/deadline",
                    "requirement_unsatisfiable"
                ),
                (
                    E2E.task("x", model: "auto", ["requirements": ["deadline": "2021-03-04T05:06:07Z"]]), "/requirements/deadline",
                    "requirement_unsatisfiable"
                ),
                (E2E.task("x", model: "flux-2-pro", ["requirements": ["batch": "only"]]), "/requirements/batch", "requirement_unsatisfiable"),
                (
                    E2E.task("x", model: "gemini-3.1-flash-image", ["requirements": ["batch": "only", "deadline": "30m"]]), "/requirements/deadline",
                    "requirement_unsatisfiable"
                ),
            ]
            for (task, field, code) in cases {
                let e = await rpcError { _ = try await c.submit(task) }
                #expect(e?.code == -32602, "\(field) \(code): \(String(describing: e))")
                #expect(e?.data?["field"]?.stringValue == field)
                #expect(e?.data?["code"]?.stringValue == code)
            }
            let list = try await c.call(RPCMethod.jobList, params: [:])
            #expect(list["jobs"]?.arrayValue?.isEmpty == true, "nothing stored")
            #expect(fakes.gemini.log.all.isEmpty, "nothing sent")
            try? await c.close()
            _ = await daemon.terminate()
        }
    }
}
