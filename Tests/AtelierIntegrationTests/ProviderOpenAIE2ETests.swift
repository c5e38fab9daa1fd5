import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierTesting
import Foundation
import Testing

/// Jobs submitted over the socket to a real daemon whose `openai` provider points at the loopback OpenAI fake, and one
/// more OpenAI-compatible vendor added by a provider file alone.
@Suite("OpenAI end to end", .serialized)
struct ProviderOpenAIE2ETests {
    /// Text tokens the fake counts for a prompt.
    static func textTokens(_ prompt: String) -> Double { Double(max(1, prompt.utf8.count / 4)) }

    /// The cost of a call at GPT Image 2's token prices ($5/M text in, $8/M image in, $30/M out).
    static func cost(text: Double, imageIn: Double = 0, out: Double) -> Double {
        ((text * 5 + imageIn * 8 + out * 30) / 1e6 * 1e6).rounded() / 1e6
    }

    /// The exact request (no seed, the card's quality, the resolved size), the stored file, the usage-based cost.
    @Test func happyPathExactRequestCostAndFile() async throws {
        try await FakeWorld.run("oai-ok", providers: ["openai"]) { w in
            let m = E2E.marker()
            let prompt = "a red lighthouse on a cliff at dusk \(m)"
            let job = try await w.run(
                E2E.task(prompt, model: "gpt-image-2", ["negativePrompt": "blurry", "aspectRatio": "3:2", "resolution": "1K", "seed": 42]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            #expect(job.route?.provider == "openai" && job.route?.model == "gpt-image-2")

            let reqs = w.fakes.openai.imageRequests
            try #require(reqs.count == 1)
            let r = reqs[0]
            #expect(r.method == "POST" && r.uri == "/v1/images/generations")
            #expect(E2E.header(r, "Authorization", is: "Bearer " + w.fakes.keys[.openai]!), "the key travels as a Bearer token")
            let expected: JSONValue = [
                "prompt": .string(prompt + "\n\nAvoid: blurry"), "model": "gpt-image-2", "n": 1, "size": "1536x1024", "output_format": "png",
                "quality": "medium",
            ]
            #expect(r.json == expected, "no seed, no token prices, nothing Atelier-only")

            let result = try #require(job.results.first)
            let served = try #require(w.fakes.openai.served(containing: m).first)
            #expect(result.width == 1536 && result.height == 1024 && result.mimeType == "image/png")
            #expect(result.sha256 == E2E.sha(served.bytes))
            let (fileSHA, fileSize) = try ResultFiles.sha256(ofFileAt: result.path)
            #expect(fileSHA == result.sha256 && fileSize == served.bytes.count)
            #expect(result.seed == nil && result.seedHonored == false, "GPT image models take no seed")
            let cost = Self.cost(text: Self.textTokens(prompt + "\n\nAvoid: blurry"), out: Double(served.extra["outputTokens"]!)!)
            #expect(result.costUSD == cost)
            #expect(job.costUSD == cost)
            #expect(cost != 0.053, "the usage, not the catalog estimate")
        }
    }

    /// Reference images go to /v1/images/edits as multipart `image[]` parts; `n: 2` is one call; the usage (with the
    /// references' image tokens) is shared by the two results.
    @Test func referencesUseEditsWithTwoResults() async throws {
        try await FakeWorld.run("oai-edit", providers: ["openai"]) { w in
            let m = E2E.marker()
            let ref = FakeImages.image(label: "ref", prompt: "reference", seed: 1, width: 64, height: 48)
            let job = try await w.run(
                E2E.task(
                    "two postcards \(m)", model: "gpt-image-2-low",
                    [
                        "aspectRatio": "1:1", "numberResults": 2, "outputFormat": "JPG",
                        "referenceImages": [.string("data:image/png;base64," + FakeImages.base64(ref))],
                    ]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            let reqs = w.fakes.openai.imageRequests
            try #require(reqs.count == 1, "one call makes both images")
            #expect(reqs[0].uri == "/v1/images/edits")
            #expect(reqs[0].header("Content-Type")?.hasPrefix("multipart/form-data; boundary=") == true)
            #expect(E2E.contains(reqs[0].body, ref), "the reference travels as a file part")
            #expect(reqs[0].bodyText.contains("name=\"image[]\"; filename=\"reference-0.png\""))
            #expect(reqs[0].bodyText.contains("name=\"quality\"\r\n\r\nlow\r\n"))
            #expect(job.results.count == 2)
            #expect(job.results.allSatisfy { $0.mimeType == "image/jpeg" && $0.path.hasSuffix(".jpg") && $0.width == 1024 })
            let served = w.fakes.openai.served(containing: m)
            #expect(Set(job.results.map(\.sha256)) == Set(served.map { E2E.sha($0.bytes) }))
            let s = try #require(served.first)
            let total = Self.cost(text: Self.textTokens("two postcards \(m)"), imageIn: 388, out: 2 * Double(s.extra["outputTokens"]!)!)
            #expect(abs((job.costUSD ?? 0) - total) < 1e-9)
        }
    }

    /// 429 with `retry-after-ms: 200`: the engine waits the hint (the configured backoff here is 50 ms), then succeeds.
    @Test func rateLimitWithRetryAfterThenSuccess() async throws {
        try await FakeWorld.run("oai-429", providers: ["openai"]) { w in
            let job = try await w.run(E2E.task("a quiet harbour \(E2E.marker()) [fake:rate-limit-once]", model: "gpt-image-2-low"))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            try #require(job.attempts.count == 2)
            let first = try #require(job.attempts[0].error)
            #expect(first.code == .rateLimited)
            #expect(first.details["retryAfterSeconds"]?.doubleValue == 0.2)
            #expect(first.details["upstreamCode"] == "rate_limit_exceeded")
            let reqs = w.fakes.openai.imageRequests
            try #require(reqs.count == 2)
            #expect(E2E.ms(reqs[0].receivedAt, reqs[1].receivedAt) >= 200, "the retry waited the retry-after-ms hint")
            #expect(reqs[0].json == reqs[1].json, "the retry sends the same request")
        }
    }

    /// 500 `server_error`, then a success on the retry; 503 likewise.
    @Test func serverErrorsAreRetried() async throws {
        try await FakeWorld.run("oai-500", providers: ["openai"]) { w in
            let job = try await w.run(E2E.task("a windmill \(E2E.marker()) [fake:failed-then-ok]", model: "gpt-image-2-low"))
            #expect(job.status == .succeeded)
            try #require(job.attempts.count == 2)
            #expect(job.attempts[0].error?.code == .unavailable)
            #expect(job.attempts[0].error?.details["httpStatus"] == 500)
            #expect(job.attempts[0].error?.details["upstreamCode"] == "server_error")
            let busy = try await w.run(E2E.task("a mill \(E2E.marker()) [fake:503-once]", model: "gpt-image-2-low"))
            #expect(busy.status == .succeeded && busy.attempts.count == 2)
            #expect(busy.attempts[0].error?.details["httpStatus"] == 503)
        }
    }

    /// The safety system's refusal (400 `moderation_blocked`) is `refused`: not retried, no fallback by default.
    @Test func moderationBlockedIsRefused() async throws {
        try await FakeWorld.run("oai-mod", providers: ["openai"]) { w in
            let job = try await w.run(E2E.task("something forbidden \(E2E.marker()) [fake:blocked]", model: "gpt-image-2"))
            #expect(job.status == .failed)
            #expect(job.error?.code == .refused)
            #expect(job.error?.details["upstreamCode"] == "moderation_blocked")
            #expect(job.error?.details["httpStatus"] == 400)
            #expect(job.attempts.count == 1)
            #expect(w.fakes.openai.imageRequests.count == 1)
        }
    }

    /// 400 `invalid_value` on `size` names the job field; `insufficient_quota` is `insufficient_credits`; neither is
    /// retried.
    @Test func invalidParameterAndQuotaErrors() async throws {
        try await FakeWorld.run("oai-400", providers: ["openai"]) { w in
            let invalid = try await w.run(E2E.task("bad size \(E2E.marker()) [fake:invalid]", model: "gpt-image-2-low"))
            #expect(invalid.status == .failed)
            #expect(invalid.error?.code == .invalidRequest)
            #expect(invalid.error?.field == "/width")
            #expect(invalid.error?.details["upstreamCode"] == "invalid_value")
            let broke = try await w.run(E2E.task("no money \(E2E.marker()) [fake:no-credits]", model: "gpt-image-2-low"))
            #expect(broke.status == .failed)
            #expect(broke.error?.code == .insufficientCredits)
            #expect(broke.error?.details["httpStatus"] == 429)
            #expect(w.fakes.openai.imageRequests.count == 2, "no retries")
        }
    }

    /// Sizes the model does not make are refused at submit (-32602 with the field and the nearest sizes); nothing
    /// reaches the provider, so nothing is paid for.
    @Test func impossibleSizesAreRefusedAtSubmit() async throws {
        try await FakeWorld.run("oai-size", providers: ["openai"]) { w in
            for (width, height) in [(1000, 1000), (2048, 2048)] {
                do {
                    _ = try await w.submit(
                        E2E.task("a square \(E2E.marker())", model: "gpt-image-2", ["width": .int(Int64(width)), "height": .int(Int64(height))]))
                    Issue.record("\(width)x\(height) was accepted")
                } catch {
                    let e = try #require(E2E.rpcError(error))
                    #expect(e.code == -32602)
                    #expect(e.stableCode == "invalid_dimensions")
                    #expect(e.field == "/width")
                    let nearest = (e.data?["nearest"]?.arrayValue ?? []).compactMap(\.stringValue)
                    #expect(nearest.contains("1024x1024"), "nearest: \(nearest)")
                }
            }
            do {
                _ = try await w.submit(E2E.task("a 4K poster \(E2E.marker())", model: "gpt-image-2", ["resolution": "4K"]))
                Issue.record("a 4K tier was accepted")
            } catch {
                #expect(E2E.rpcError(error)?.code == -32602)
            }
            #expect(w.fakes.openai.log.all.isEmpty, "no request reached the provider")
        }
    }

    /// A wrong key is `auth`, not retried, and never leaks — even though the fake echoes the key in its message.
    @Test func wrongKeyIsAuthAndNeverLeaks() async throws {
        let wrong = "sk-wrong-" + UUID().uuidString.lowercased()
        try await FakeWorld.run("oai-key", providers: ["openai"], echoKeysInErrors: true, keyOverrides: ["openai": wrong]) { w in
            let job = try await w.run(E2E.task("a locked door \(E2E.marker())", model: "gpt-image-2-low"))
            #expect(job.status == .failed)
            #expect(job.error?.code == .auth)
            #expect(job.error?.details["upstreamCode"] == "invalid_api_key")
            #expect(job.attempts.count == 1, "auth errors are not retried")
            let text = JSONWriter.string(job.json)
            let leaked = text.contains(wrong)
            #expect(!leaked, "the key the upstream echoed is redacted from the job's error")
            #expect(text.contains("<redacted>"))
        }
    }

    /// One more OpenAI-compatible vendor, added by a provider file alone (its own id, base URL, key variable, model
    /// ids and price; `response_format: "url"` in its parameters): the daemon routes to it, sends the vendor's key
    /// to the vendor's host, downloads the image URL it answers, and the OpenAI fake sees nothing.
    @Test func anotherCompatibleVendorByProviderFileAlone() async throws {
        let dir = TempDir("oai-acme")
        defer { dir.cleanup() }
        let acmeKey = "acme-" + UUID().uuidString.lowercased()
        let acme = try await OpenAIFake.start(apiKey: acmeKey, name: "acme", models: ["acme-image-1"])
        do {
            try await FakeProviders.with { fakes in
                let providers = try E2E.fastProviderFiles(in: dir)
                let file = """
                    {"id": "acme", "kind": "openai", "displayName": "Acme Images (OpenAI-compatible)", "baseURL": "\(acme.baseURL)",
                     "apiKeyEnv": "ACME_IMAGES_KEY", "concurrency": 2, "retry": {"maxAttempts": 2, "baseDelaySeconds": 0.05},
                     "models": [{"id": "acme-image", "upstreamId": "acme-image-1", "seedHonored": false, "textRendering": 3,
                                 "outputFormats": ["PNG"], "sizes": {"table": {"1K": {"1:1": "1024x1024"}}},
                                 "price": {"kind": "perImage", "usd": 0.02, "asOf": "2026-12-04"}, "parameters": {"response_format": "url"}}]}
                    """
                try file.write(toFile: providers + "/acme.json", atomically: true, encoding: .utf8)
                var env = fakes.environment(for: ["openai"])
                env["ACME_IMAGES_KEY"] = acmeKey
                let daemon = try await DaemonProcess.start(
                    in: dir, routing: E2E.routing(), extraArguments: ["--providers", providers], environment: env)
                let client = try await daemon.client()
                let m = E2E.marker()
                let submitted = try await client.submit(E2E.task("an anvil \(m)", model: "acme-image", ["aspectRatio": "1:1"]))
                let job = try await client.wait(submitted.taskUUID, timeoutSeconds: 120)
                #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
                #expect(job.route?.provider == "acme" && job.route?.model == "acme-image")
                let posts = acme.imageRequests
                try #require(posts.count == 1)
                #expect(posts[0].uri == "/v1/images/generations")
                #expect(E2E.header(posts[0], "Authorization", is: "Bearer " + acmeKey), "the vendor's own key")
                #expect(posts[0].json?["model"] == "acme-image-1" && posts[0].json?["response_format"] == "url")
                #expect(acme.log.filter { $0.path.hasPrefix("/files/") }.count == 1, "the URL answer was downloaded")
                #expect(job.results.first?.sha256 == acme.served.first.map { E2E.sha($0.bytes) })
                #expect(job.costUSD == 0.02, "no token prices on this card: the catalog price")
                #expect(fakes.openai.log.all.isEmpty, "the OpenAI fake saw nothing")
                await E2E.stopAndExpectNoSecrets(
                    daemon, client: client, secrets: fakes.keys.secretForms + E2E.forms(of: acmeKey), texts: [JSONWriter.string(job.json)])
            }
        } catch {
            await acme.shutdown()
            throw error
        }
        await acme.shutdown()
    }
}
