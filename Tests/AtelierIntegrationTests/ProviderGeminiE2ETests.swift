import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierTesting
import Foundation
import Testing

/// Jobs submitted over the socket to a real daemon whose Gemini provider points at the loopback Gemini fake.
@Suite("Gemini end to end", .serialized)
struct ProviderGeminiE2ETests {
    /// The exact request, the stored file, the computed cost, no seed honoured, and different bytes each call.
    @Test func happyPathExactRequestCostAndFile() async throws {
        try await FakeWorld.run("gem-ok", providers: ["gemini"]) { w in
            let m = E2E.marker()
            let prompt = "a red lighthouse on a cliff at dusk \(m)"
            let task = E2E.task(
                prompt, model: "gemini-3-pro-image",
                ["negativePrompt": "blurry", "aspectRatio": "16:9", "resolution": "1K", "seed": 42])
            let job = try await w.run(task)
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            #expect(job.route?.provider == "gemini" && job.route?.model == "gemini-3-pro-image")

            let reqs = w.fakes.gemini.generateRequests
            try #require(reqs.count == 1)
            let r = reqs[0]
            #expect(r.method == "POST")
            #expect(r.uri == "/v1beta/models/gemini-3-pro-image:generateContent", "no key in the URL")
            #expect(E2E.header(r, "x-goog-api-key", is: w.fakes.keys[.gemini]!), "the key travels in x-goog-api-key")
            #expect(r.header("Content-Type") == "application/json")
            let expected: JSONValue = [
                "contents": [["role": "user", "parts": [["text": .string(prompt + "\n\nAvoid: blurry")]]]],
                "generationConfig": [
                    "responseModalities": ["TEXT", "IMAGE"], "imageConfig": ["aspectRatio": "16:9", "imageSize": "1K"], "seed": 42,
                ],
            ]
            #expect(r.json == expected)

            let result = try #require(job.results.first)
            let served = try #require(w.fakes.gemini.served(containing: m).first)
            #expect(result.width == 1376 && result.height == 768)
            #expect(result.mimeType == "image/png")
            #expect(result.sha256 == E2E.sha(served.bytes), "the stored bytes are the final image the fake sent")
            let (fileSHA, fileSize) = try ResultFiles.sha256(ofFileAt: result.path)
            #expect(fileSHA == result.sha256 && fileSize == result.bytes && fileSize == served.bytes.count)
            #expect(result.seed == nil && result.seedHonored == false, "Gemini does not reproduce from a seed")
            #expect(result.note == "Here is the image you asked for.")
            // Pro: $2/M input tokens, $120/M image tokens, from usageMetadata.
            let promptTokens = Double(served.extra["promptTokenCount"]!)!
            let cost = ((promptTokens * 2 + 1120 * 120) / 1e6 * 1e6).rounded() / 1e6
            #expect(result.costUSD == cost)
            #expect(job.costUSD == cost)
            #expect(job.attempts.count == 1 && job.attempts[0].outcome == .succeeded)

            // Same task, same seed: Gemini draws anew.
            let again = try await w.run(task)
            #expect(again.status == .succeeded)
            #expect(again.results.first?.sha256 != result.sha256, "Gemini ignores the seed")
        }
    }

    /// `numberResults: 2` is two parallel calls carrying the reference as `inlineData`; a JPEG final image is stored
    /// as JPEG; costs add up from each call's usage.
    @Test func twoResultsWithAReferenceAndJPEG() async throws {
        try await FakeWorld.run("gem-n2", providers: ["gemini"]) { w in
            let m = E2E.marker()
            let ref = FakeImages.image(label: "ref", prompt: "reference", seed: 1, width: 64, height: 48)
            let job = try await w.run(
                E2E.task(
                    "two postcards \(m) [fake:jpeg]", model: "gemini-3.1-flash-image",
                    [
                        "aspectRatio": "1:1", "resolution": "512", "numberResults": 2,
                        "referenceImages": [.string("data:image/png;base64," + FakeImages.base64(ref))],
                    ]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            let reqs = w.fakes.gemini.generateRequests
            try #require(reqs.count == 2)
            for r in reqs {
                let parts = r.json?["contents"]?.arrayValue?.first?["parts"]?.arrayValue ?? []
                #expect(parts.count == 2)
                #expect(parts.last == ["inlineData": ["mimeType": "image/png", "data": .string(FakeImages.base64(ref))]])
                #expect(r.json?["generationConfig"]?["candidateCount"] == nil, "never candidateCount")
            }
            #expect(job.results.count == 2)
            #expect(job.results.allSatisfy { $0.mimeType == "image/jpeg" && $0.path.hasSuffix(".jpg") })
            let served = w.fakes.gemini.served(containing: m)
            #expect(Set(job.results.map(\.sha256)) == Set(served.map { E2E.sha($0.bytes) }))
            // Flash: $0.50/M input, $60/M image output; 747 image tokens at 512.
            let costs = served.map { s in ((Double(s.extra["promptTokenCount"]!)! * 0.5 + 747 * 60) / 1e6 * 1e6).rounded() / 1e6 }
            #expect(abs((job.costUSD ?? 0) - costs.reduce(0, +)) < 1e-9)
        }
    }

    /// 429 with RetryInfo: the engine waits the hinted 0.2 s (the configured backoff here is 50 ms), then succeeds.
    @Test func rateLimitWithRetryInfoThenSuccess() async throws {
        try await FakeWorld.run("gem-429", providers: ["gemini"]) { w in
            let m = E2E.marker()
            let job = try await w.run(
                E2E.task("a quiet harbour \(m) [fake:rate-limit-once]", model: "gemini-3.1-flash-image", ["aspectRatio": "1:1", "resolution": "512"]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            try #require(job.attempts.count == 2)
            let first = try #require(job.attempts[0].error)
            #expect(first.code == .rateLimited)
            #expect(first.details["retryAfterSeconds"]?.doubleValue == 0.2)
            #expect(first.details["upstreamCode"] == "RESOURCE_EXHAUSTED")
            #expect(job.attempts[1].outcome == .succeeded)
            let reqs = w.fakes.gemini.generateRequests
            try #require(reqs.count == 2)
            #expect(E2E.ms(reqs[0].receivedAt, reqs[1].receivedAt) >= 200, "the retry waited the RetryInfo delay")
            #expect(reqs[0].json == reqs[1].json, "the retry sends the same request")
            #expect(job.results.first?.width == 512)
        }
    }

    /// A per-day quota is not worth waiting for: one call, failed at once.
    @Test func perDayQuotaFailsFast() async throws {
        try await FakeWorld.run("gem-day", providers: ["gemini"]) { w in
            let job = try await w.run(
                E2E.task("a harbour \(E2E.marker()) [fake:quota-day]", model: "gemini-3.1-flash-image", ["aspectRatio": "1:1", "resolution": "512"]))
            #expect(job.status == .failed)
            #expect(job.error?.code == .rateLimited)
            #expect(job.error?.retryable == false)
            #expect(w.fakes.gemini.generateRequests.count == 1)
        }
    }

    /// 503 UNAVAILABLE, then a success on the retry.
    @Test func serviceUnavailableThenSuccess() async throws {
        try await FakeWorld.run("gem-503", providers: ["gemini"]) { w in
            let job = try await w.run(
                E2E.task(
                    "a windmill \(E2E.marker()) [fake:503-then-ok]", model: "gemini-3.1-flash-image", ["aspectRatio": "4:3", "resolution": "512"]))
            #expect(job.status == .succeeded)
            try #require(job.attempts.count == 2)
            #expect(job.attempts[0].error?.code == .unavailable)
            #expect(job.attempts[0].error?.details["httpStatus"] == 503)
            #expect(job.attempts[1].outcome == .succeeded)
            #expect(job.results.first?.width == 600 && job.results.first?.height == 448)
        }
    }

    /// Thought images come before the final one; only the final image is stored.
    @Test func thoughtImagesBeforeTheFinalOne() async throws {
        try await FakeWorld.run("gem-thk", providers: ["gemini"]) { w in
            let m = E2E.marker()
            let job = try await w.run(
                E2E.task("a paper crane \(m) [fake:thoughts]", model: "gemini-3.1-flash-image", ["aspectRatio": "1:1", "resolution": "512"]))
            #expect(job.status == .succeeded)
            let served = try #require(w.fakes.gemini.served(containing: m).first)
            #expect(served.thoughtImages.count == 2)
            let stored = try #require(job.results.first)
            #expect(stored.sha256 == E2E.sha(served.bytes))
            for t in served.thoughtImages { #expect(stored.sha256 != E2E.sha(t), "a thought image is never the result") }
            #expect(stored.note == "Here is the image you asked for.", "thought text is not part of the note")
        }
    }

    /// A blocked prompt is refused; without a refusal fallback the job ends there.
    @Test func blockedPromptIsTerminalWithoutRefusalFallback() async throws {
        let routing = E2E.routing(prefer: ["gemini-3-pro-image", "gemini-3.1-flash-image", "flux-2-pro"], afterRefusal: false)
        try await FakeWorld.run("gem-blk", providers: ["gemini", "bfl"], routing: routing) { w in
            let job = try await w.run(E2E.task("something forbidden \(E2E.marker()) [fake:gemini:blocked]", ["aspectRatio": "1:1"]))
            #expect(job.status == .failed)
            #expect(job.error?.code == .refused)
            #expect(job.error?.details["upstreamCode"] == "SAFETY")
            #expect(job.attempts.count == 1)
            #expect(w.fakes.gemini.generateRequests.count == 1, "a refusal is not retried")
            #expect(w.fakes.bfl.log.all.isEmpty, "and does not fall back when the policy says no")
        }
    }

    /// With `afterRefusal`, a refused job falls back to a model with another safety policy (skipping Gemini 3.1
    /// Flash, which shares Google's).
    @Test func blockedPromptFallsBackToAnotherSafetyPolicy() async throws {
        let routing = E2E.routing(prefer: ["gemini-3-pro-image", "gemini-3.1-flash-image", "flux-2-pro"], afterRefusal: true)
        try await FakeWorld.run("gem-fbk", providers: ["gemini", "bfl"], routing: routing, bflPolls: 1) { w in
            let job = try await w.run(E2E.task("something edgy \(E2E.marker()) [fake:gemini:blocked]", ["aspectRatio": "1:1"]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            #expect(job.attempts.map(\.model) == ["gemini-3-pro-image", "flux-2-pro"])
            #expect(job.attempts.first?.error?.code == .refused)
            #expect(job.route?.model == "flux-2-pro")
            #expect(w.fakes.gemini.generateRequests.count == 1, "Gemini 3.1 Flash (same safety policy) is skipped")
            #expect(w.fakes.bfl.log.filter { $0.method == "POST" }.count == 1)
            let r = try #require(job.results.first)
            #expect(r.seedHonored && r.seed != nil, "FLUX records the seed it used")
            #expect(r.width == 1024 && r.height == 1024)
        }
    }

    /// Malformed JSON is bad_upstream: retried up to the configured attempts, then failed; the daemon carries on.
    @Test func malformedJSONIsRetriedThenFailsWithoutCrashing() async throws {
        try await FakeWorld.run("gem-bad", providers: ["gemini"]) { w in
            let job = try await w.run(
                E2E.task(
                    "a broken answer \(E2E.marker()) [fake:malformed]", model: "gemini-3.1-flash-image", ["aspectRatio": "1:1", "resolution": "512"]))
            #expect(job.status == .failed)
            #expect(job.error?.code == .badUpstream)
            #expect(job.attempts.count == 3, "gemini.json: retry.maxAttempts 3")
            #expect(job.attempts.allSatisfy { $0.error?.code == .badUpstream })
            #expect(w.fakes.gemini.generateRequests.count == 3)
            let health = try await w.call("daemon.health")
            #expect(health["status"] == "ok")
            let next = try await w.run(
                E2E.task("a fine answer \(E2E.marker())", model: "gemini-3.1-flash-image", ["aspectRatio": "1:1", "resolution": "512"]))
            #expect(next.status == .succeeded)
        }
    }

    /// A connection reset in the middle of the body is `unavailable` and retried (scripted from Swift).
    @Test func connectionResetMidBodyIsRetried() async throws {
        try await FakeWorld.run("gem-rst", providers: ["gemini"]) { w in
            w.fakes.gemini.script.enqueue(.reset)
            let job = try await w.run(
                E2E.task("a lost signal \(E2E.marker())", model: "gemini-3.1-flash-image", ["aspectRatio": "1:1", "resolution": "512"]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            try #require(job.attempts.count == 2)
            #expect(job.attempts[0].error?.code == .unavailable)
            #expect(w.fakes.gemini.generateRequests.count == 2)
        }
    }

    /// An impossible size for a table model is refused at submit with the nearest sizes; nothing reaches the fake.
    @Test func impossibleSizeIsRefusedAtSubmit() async throws {
        try await FakeWorld.run("gem-size", providers: ["gemini"]) { w in
            do {
                _ = try await w.submit(E2E.task("a square \(E2E.marker())", model: "gemini-3-pro-image", ["width": 1000, "height": 1000]))
                Issue.record("an impossible size was accepted")
            } catch {
                let e = try #require(E2E.rpcError(error))
                #expect(e.code == -32602)
                #expect(e.stableCode == "invalid_dimensions")
                let nearest = (e.data?["nearest"]?.arrayValue ?? []).compactMap(\.stringValue)
                #expect(nearest.contains("1024x1024"), "nearest: \(nearest)")
            }
            #expect(w.fakes.gemini.log.all.isEmpty, "no request reached the provider")
        }
    }

    /// A wrong key is `auth`, not retried, and neither key appears in the error, the log or the store — even though
    /// the fake echoes the key it received in its error message.
    @Test func wrongKeyIsAuthAndNeverLeaks() async throws {
        let wrong = "AQ.wrong-" + UUID().uuidString.lowercased()
        try await FakeWorld.run("gem-key", providers: ["gemini"], echoKeysInErrors: true, keyOverrides: ["gemini": wrong]) { w in
            let job = try await w.run(
                E2E.task("a locked door \(E2E.marker())", model: "gemini-3.1-flash-image", ["aspectRatio": "1:1", "resolution": "512"]))
            #expect(job.status == .failed)
            #expect(job.error?.code == .auth)
            #expect(job.attempts.count == 1, "auth errors are not retried")
            let text = JSONWriter.string(job.json)
            let leaked = text.contains(wrong)
            #expect(!leaked, "the key the upstream echoed is redacted from the job's error")
            #expect(text.contains("<redacted>"))
        }
    }
}
