import AtelierCore
import AtelierEngine
import AtelierProviders
import AtelierTestSupport
import AtelierTesting
import Foundation
import Synchronization
import Testing

/// The Gemini provider's Batch API path against the loopback Gemini fake (real HTTP): collection into one
/// `batchGenerateContent`, the handle recorded before waiting, images stored against their keys at the batch rate, a
/// batch that fails partway, a failed or expired batch, JSONL input through the Files API, and resumption.
@Suite("Gemini Batch API", .serialized)
struct GeminiBatchTests {
    static let key = "AQ.gemini-batch-secret-987"
    static let catalog = try! CatalogLoader.load(directory: PackagePaths.root + "/providers")

    /// Fast settings: a short collection window and poll interval.
    static func settings(collect: Double = 0.3, maxInlineBytes: Int = 20_000_000, reserve: Double = 0) -> BatchSettings {
        BatchSettings(
            turnaroundSeconds: 86_400, collectSeconds: collect, maxRequests: 100, maxInlineBytes: maxInlineBytes, pollSeconds: 0.05,
            maxWaitingJobs: 100, interactiveReserveSeconds: reserve)
    }

    /// A request for gemini-3.1-flash-image at 1K whose task carries `requirements`.
    static func request(_ prompt: String, n: Int = 1, requirements: JSONValue = ["deadline": "36h"], scratch: String) throws -> GenerationRequest {
        let task = try ImageTask(
            json: [
                "positivePrompt": .string(prompt), "model": "gemini-3.1-flash-image", "numberResults": .int(Int64(n)), "resolution": "1K",
                "requirements": requirements,
            ])
        let card = try #require(catalog.model("gemini-3.1-flash-image"))
        guard case .success(let size) = card.check(task) else { throw AtelierError(.invalidValue, "size") }
        return GenerationRequest(
            task: task, model: card, size: size, seed: nil, references: [], scratchDirectory: scratch, attemptKey: UUIDv4.generate())
    }

    /// Records the handles a provider asks to store, with how many batch polls the fake had seen at that moment.
    final class Handles: Sendable {
        let recorded = Mutex<[(handle: String, pollsBefore: Int)]>([])
        func context(_ fake: GeminiFake) -> GenerationContext {
            GenerationContext(recordResumeHandle: { h in self.recorded.withLock { $0.append((h, fake.batchPolls.count)) } })
        }
        var all: [(handle: String, pollsBefore: Int)] { recorded.withLock { $0 } }
    }

    static func with(
        _ settings: BatchSettings, _ body: (GeminiFake, GeminiProvider, String) async throws -> Void
    ) async throws {
        let fake = try await GeminiFake.start(apiKey: key)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-batch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        do {
            try await AsyncHTTPTransport.with { t in
                try await body(fake, provider(fake, settings: settings, transport: t), scratch)
            }
        } catch {
            await fake.shutdown()
            throw error
        }
        await fake.shutdown()
    }

    static func provider(_ fake: GeminiFake, settings: BatchSettings, transport: any HTTPTransport) -> GeminiProvider {
        let config = GeminiProvider.defaults.with {
            $0.baseURL = fake.baseURL
            $0.credentials = Credentials(key)
        }
        return GeminiProvider(client: NetworkClient(configuration: config, transport: transport), batch: settings)
    }

    static func sha(_ path: String) -> String? { FileManager.default.contents(atPath: path).map { ImageDigest(of: [UInt8]($0)).sha256 } }

    @Test(
        "two jobs in one collection window go out in ONE batchGenerateContent; each records the batch before waiting; images come back by key at the batch rate"
    )
    func batchSucceeds() async throws {
        try await Self.with(Self.settings()) { fake, provider, scratch in
            let handles = Handles()
            // Held RUNNING until released, so both handles are known to be recorded while the batch still runs.
            let a = try Self.request("a quiet harbour, two views [fake:hold]", n: 2, scratch: scratch)
            let b = try Self.request("a paper crane", scratch: scratch)
            async let ia = provider.generate(a, context: handles.context(fake))
            async let ib = provider.generate(b, context: handles.context(fake))
            #expect(try await eventually("both jobs recorded the batch") { handles.all.count == 2 })
            #expect(fake.batchStates.values.allSatisfy { $0 == "PENDING" || $0 == "RUNNING" }, "recorded while the batch runs")
            fake.script.release()
            let (imagesA, imagesB) = try await (ia, ib)
            #expect(imagesA.count == 2 && imagesB.count == 1)
            #expect(fake.batchCreateRequests.count == 1, "one batch for both jobs")
            #expect(fake.generateRequests.isEmpty, "no interactive call")
            let name = try #require(fake.batchStates.keys.first)
            #expect(fake.batchStates[name] == "SUCCEEDED")
            #expect(fake.batchSizes[name] == 3)
            // Handles: one per job, naming the batch. A job polls only after recording its own handle; polls are
            // shared, so the other job's may already have polled when the second handle is recorded — but never
            // before the first.
            #expect(handles.all.count == 2)
            #expect(handles.all.first?.pollsBefore == 0, "the first handle is recorded before any poll")
            for h in handles.all {
                let decoded = try #require(GeminiBatchCodec.Handle(h.handle))
                #expect(decoded.batch == name)
                #expect(decoded.deadline != nil)
            }
            let body = try #require(fake.batchCreateRequests.first?.json)
            let keys = (body["batch"]?["inputConfig"]?["requests"]?["requests"]?.arrayValue ?? []).compactMap { $0["metadata"]?["key"]?.stringValue }
            #expect(Set(keys) == [a.attemptKey + "-0", a.attemptKey + "-1", b.attemptKey + "-0"])
            // Each image is the one the fake drew for its request, priced from usage at half the standard token price.
            let served = Set(fake.served.map { ImageDigest(of: $0.bytes).sha256 })
            for img in imagesA + imagesB {
                #expect(served.contains(Self.sha(img.path) ?? ""))
                #expect(img.costSource == .computed)
                let cost = try #require(img.costUSD)
                #expect(cost > 0.033 && cost < 0.035, "about half of the interactive $0.067: \(cost)")
            }
        }
    }

    @Test("a batch that fails partway: the failed request is made interactively, the rest kept at the batch rate; with batch only the attempt fails")
    func failsPartway() async throws {
        try await Self.with(Self.settings(collect: 0.05)) { fake, provider, scratch in
            let r = try Self.request("a tin robot [fake:503-once]", n: 2, scratch: scratch)
            let images = try await provider.generate(r, context: .none)
            #expect(images.count == 2)
            #expect(fake.batchCreateRequests.count == 1)
            #expect(fake.generateRequests.count == 1, "only the failed request is made again, interactively")
            let costs = images.compactMap(\.costUSD).sorted()
            #expect(costs.count == 2 && costs[0] < 0.035 && costs[1] > 0.06, "one at the batch rate, one at the interactive rate: \(costs)")

            let only = try Self.request("a tin robot, again [fake:503-once]", n: 2, requirements: ["batch": "only"], scratch: scratch)
            do {
                _ = try await provider.generate(only, context: .none)
                Issue.record("a batch-only attempt with a failed request must fail")
            } catch let error as ProviderError {
                #expect(error.code == .batchFailed)
                #expect(error.message.contains("made 1 of 2 images"), "\(error.message)")
            }
            #expect(fake.generateRequests.count == 1, "no interactive call for batch only")
            let left = try FileManager.default.contentsOfDirectory(atPath: scratch).filter { $0.hasPrefix(only.attemptKey) }
            #expect(left.isEmpty, "the kept image of a failed attempt is removed")
        }
    }

    @Test("a FAILED batch falls back to the interactive endpoint; an EXPIRED one fails a batch-only task with the reason")
    func failedAndExpired() async throws {
        try await Self.with(Self.settings(collect: 0.05)) { fake, provider, scratch in
            let r = try Self.request("a failing batch [fake:batch-failed]", n: 2, scratch: scratch)
            let images = try await provider.generate(r, context: .none)
            #expect(images.count == 2)
            #expect(fake.generateRequests.count == 2)
            #expect(images.allSatisfy { ($0.costUSD ?? 0) > 0.06 }, "interactive rate")
            let e = try Self.request("an expiring batch [fake:batch-expired]", requirements: ["batch": "only", "deadline": "48h"], scratch: scratch)
            do {
                _ = try await provider.generate(e, context: .none)
                Issue.record("an expired batch-only attempt must fail")
            } catch let error as ProviderError {
                #expect(error.code == .batchFailed)
                #expect(error.message.contains("EXPIRED"), "\(error.message)")
            }
            #expect(fake.generateRequests.count == 2)
        }
    }

    @Test("requests beyond the inline limit go as a JSONL file through the Files API; results come back as a file")
    func jsonlThroughFilesAPI() async throws {
        try await Self.with(Self.settings(collect: 0.05, maxInlineBytes: 100)) { fake, provider, scratch in
            let r = try Self.request("a large batch of lanterns", n: 2, scratch: scratch)
            let images = try await provider.generate(r, context: .none)
            #expect(images.count == 2)
            let uploads = fake.log.filter { $0.path == "/upload/v1beta/files" }
            #expect(uploads.count == 2, "start, then upload + finalize")
            #expect(uploads.first?.header("X-Goog-Upload-Command") == "start")
            let body = try #require(fake.batchCreateRequests.first?.json)
            #expect(body["batch"]?["inputConfig"]?["fileName"]?.stringValue?.hasPrefix("files/") == true)
            #expect(body["batch"]?["inputConfig"]?["requests"] == nil)
            let lines = uploads.last.map { String(decoding: $0.body, as: UTF8.self).split(separator: "\n") } ?? []
            #expect(lines.count == 2)
            #expect(fake.log.filter { $0.path.hasPrefix("/download/v1beta/files/") }.count == 1)
            #expect(fake.generateRequests.isEmpty)
        }
    }

    @Test("a held batch: the recorded handle is resumed by a new provider (a restarted daemon) without a second batchGenerateContent")
    func resumeWithoutResubmit() async throws {
        try await Self.with(Self.settings(collect: 0.05)) { fake, provider, scratch in
            let handles = Handles()
            let r = try Self.request("a slow batch [fake:hold]", scratch: scratch)
            let first = Task { try await provider.generate(r, context: handles.context(fake)) }
            let handle = try #require(try await eventuallyValue("the handle is recorded") { handles.all.first?.handle })
            #expect(try await eventually("a poll answered RUNNING") { fake.batchPolls.count >= 2 })
            first.cancel()
            _ = await first.result
            fake.script.release()
            try await AsyncHTTPTransport.with { t in
                let restarted = Self.provider(fake, settings: Self.settings(), transport: t)
                var again = r
                again.attemptKey = UUIDv4.generate()
                let images = try await restarted.resume(handle: handle, request: again, context: .none)
                #expect(images.count == 1)
                #expect(images.first?.costSource == .computed)
            }
            #expect(fake.batchCreateRequests.count == 1, "never sent again")
            #expect(fake.generateRequests.isEmpty)
            #expect(fake.batchStates.values.allSatisfy { $0 == "SUCCEEDED" })
        }
    }

    @Test("a batch that would miss the deadline is left: the images are made interactively")
    func lateBatchGoesInteractive() async throws {
        // 36 h deadline, but 40 h kept for the interactive call: the first poll already finds it too late.
        try await Self.with(Self.settings(collect: 0.05, reserve: 40 * 3600)) { fake, provider, scratch in
            let r = try Self.request("a late batch [fake:hold]", scratch: scratch)
            let images = try await provider.generate(r, context: .none)
            #expect(images.count == 1)
            #expect(fake.batchCreateRequests.count == 1)
            #expect(fake.generateRequests.count == 1)
            #expect((images.first?.costUSD ?? 0) > 0.06)
        }
    }

    @Test("a job cancelled while its batch is being collected is withdrawn: the batch never goes out")
    func cancelWhileCollecting() async throws {
        try await Self.with(Self.settings(collect: 600)) { fake, provider, scratch in
            let collector = try #require(provider.batch)
            let r = try Self.request("a cancelled batch", n: 2, scratch: scratch)
            let job = Task { try await provider.generate(r, context: .none) }
            #expect(try await eventually("the requests wait in the collector") { await collector.pendingRequests == 2 })
            job.cancel()
            let outcome = await job.result
            #expect((try? outcome.get()) == nil, "the attempt ends cancelled")
            if case .failure(let e as ProviderError) = outcome { #expect(e.code == .cancelled) }
            #expect(try await eventually("withdrawn") { await collector.pendingRequests == 0 })
            #expect(await collector.batchesSent == 0)
            #expect(fake.batchCreateRequests.isEmpty)
        }
    }

    @Test("a duration deadline counts from the job's submission, not from the attempt: late jobs stay interactive, batch-only ones fail")
    func durationCountsFromSubmission() async throws {
        try await Self.with(Self.settings(collect: 0.05)) { fake, provider, scratch in
            let now = Timestamp.now()
            // Submitted an hour ago: batched, and the recorded deadline is 36 h after submission.
            let handles = Handles()
            var recent = try Self.request("a recent job", scratch: scratch)
            recent.submittedAt = now.adding(seconds: -3600)
            _ = try await provider.generate(recent, context: handles.context(fake))
            #expect(fake.batchCreateRequests.count == 1)
            let handle = try #require(handles.all.first.flatMap { GeminiBatchCodec.Handle($0.handle) })
            #expect(handle.deadline == recent.submittedAt?.adding(seconds: 36 * 3600))

            // Submitted 20 h ago: 16 h left, less than the 24 h turnaround — interactive.
            var late = try Self.request("a job that waited", scratch: scratch)
            late.submittedAt = now.adding(seconds: -20 * 3600)
            _ = try await provider.generate(late, context: .none)
            #expect(fake.batchCreateRequests.count == 1, "no second batch")
            #expect(fake.generateRequests.count == 1)

            // The same with batch only: no call at all, batch_failed.
            var only = try Self.request("a batch-only job that waited", requirements: ["deadline": "36h", "batch": "only"], scratch: scratch)
            only.submittedAt = now.adding(seconds: -20 * 3600)
            do {
                _ = try await provider.generate(only, context: .none)
                Issue.record("a batch-only job whose deadline no longer leaves the turnaround must fail")
            } catch let error as ProviderError {
                #expect(error.code == .batchFailed, "\(error)")
            }
            #expect(fake.batchCreateRequests.count == 1 && fake.generateRequests.count == 1, "nothing sent")
        }
    }

    @Test("interactive calls made for batched jobs take one of the provider's interactive slots (its concurrency), handed over in turn")
    func interactiveSlots() async throws {
        try await Self.with(Self.settings(collect: 0.05)) { fake, _, scratch in
            try await AsyncHTTPTransport.with { t in
                let config = GeminiProvider.defaults.with {
                    $0.baseURL = fake.baseURL
                    $0.credentials = Credentials(Self.key)
                }
                let provider = GeminiProvider(
                    client: NetworkClient(configuration: config, transport: t), batch: Self.settings(collect: 0.05), interactiveConcurrency: 1)
                let slots = try #require(provider.batch)
                #expect(slots.interactiveLimit == 1)
                await slots.acquireInteractive()
                let second = Task { await slots.acquireInteractive() }
                #expect(try await eventually("the second job waits for the slot") { await slots.interactiveWaitingCount == 1 })
                await slots.releaseInteractive()
                await second.value
                #expect(await slots.interactiveInUse == 1, "handed over, not returned to the pool")
                await slots.releaseInteractive()
                #expect(await slots.interactiveInUse == 0)

                // A failed batch's interactive calls go through a slot and give it back.
                let r = try Self.request("a failing batch, one slot [fake:batch-failed]", scratch: scratch)
                let images = try await provider.generate(r, context: .none)
                #expect(images.count == 1)
                #expect(fake.generateRequests.count == 1)
                #expect(await slots.interactiveInUse == 0)
                #expect(await slots.interactiveWaitingCount == 0)
            }
        }
    }

    @Test("without a deadline the provider stays interactive")
    func noDeadlineIsInteractive() async throws {
        try await Self.with(Self.settings()) { fake, provider, scratch in
            let r = try Self.request("now please", requirements: [:], scratch: scratch)
            _ = try await provider.generate(r, context: .none)
            #expect(fake.batchCreateRequests.isEmpty)
            #expect(fake.generateRequests.count == 1)
        }
    }

    @Test("handles and batch answers decode as documented")
    func codec() throws {
        let h = GeminiBatchCodec.Handle(batch: "batches/abc", key: "k", count: 3, deadline: Timestamp(milliseconds: 1_000))
        #expect(GeminiBatchCodec.Handle(h.encoded) == h)
        #expect(GeminiBatchCodec.Handle("https://api.bfl.ai/v1/get_result?id=1") == nil)
        let body = #"""
            {"name":"batches/abc","metadata":{"state":"BATCH_STATE_SUCCEEDED","name":"batches/abc"},"done":true,
             "response":{"inlinedResponses":{"inlinedResponses":[
               {"response":{"candidates":[]},"metadata":{"key":"k-0"}},{"error":{"code":8,"message":"quota"},"metadata":{"key":"k-1"}}]}}}
            """#
        let s = try GeminiBatchCodec.decodeStatus(HTTPResponse(status: 200, body: Array(body.utf8)))
        #expect(s.state == "SUCCEEDED" && s.isTerminal)
        #expect(s.results["k-0"]?["candidates"] != nil)
        #expect(s.results["k-1"]?["error"]?["message"] == "quota")
        let created = #"{"name":"batches/xyz","metadata":{"state":"BATCH_STATE_PENDING"}}"#
        #expect(try GeminiBatchCodec.decodeCreated(HTTPResponse(status: 200, body: Array(created.utf8))) == "batches/xyz")
    }
}
