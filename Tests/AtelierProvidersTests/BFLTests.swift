import AtelierCore
import Foundation
import Testing

@testable import AtelierProviders

@Suite("BFL FLUX API")
struct BFLTests {
    static let key = "bfl-secret-KEY-5555"
    static let K = Fixtures.attemptKey
    static let pollURL = "https://api.eu2.bfl.ai/v1/get_result?id=task-1"
    static let sample = "https://delivery-eu1.bfl.ai/results/ab/cd/sample.jpeg?se=2026-11-21T20%3A00%3A00Z&sig=SIGNATURE"
    static let submitted = #"{"id":"task-1","polling_url":"\#(pollURL)","cost":3.0,"input_mp":0,"output_mp":0.79}"#
    static let ready =
        #"{"id":"task-1","status":"Ready","result":{"sample":"\#(sample)","prompt":"a red fox","seed":42,"start_time":1,"end_time":2},"progress":1}"#

    func provider(_ t: ScriptedTransport, clock: AtelierClock, total: Double = 600) -> BFLProvider {
        BFLProvider(configuration: BFLProvider.defaults.testing(key: Self.key, total: total, clock: clock), transport: t)
    }

    @Test("encodes the exact submit: endpoint path, x-key, prompt, input_image…, size, seed, output_format, safety_tolerance, disable_pup")
    func encodeExact() throws {
        let r = try Fixtures.request(
            "flux-2-pro", negative: "blurry", size: .pixels(PixelSize(width: 1024, height: 768)),
            references: [Fixtures.reference(), Fixtures.reference([6, 7, 8], mime: "image/jpeg")], format: .jpg)
        let http = BFLCodec.encodeSubmit(r, baseURL: BFLCodec.defaultBaseURL, apiKey: Self.key, timeoutSeconds: 60)
        #expect(http.method == "POST")
        #expect(http.url == "https://api.bfl.ai/v1/flux-2-pro")
        #expect(http.headers.map { "\($0.0): \($0.1)" } == ["Content-Type: application/json", "Accept: application/json", "x-key: \(Self.key)"])
        let expected =
            #"{"prompt":"a red fox","input_image":"AQIDBAU=","input_image_2":"BgcI","width":1024,"height":768,"seed":42,"output_format":"jpeg","safety_tolerance":2,"disable_pup":true}"#
        #expect(bodyString(http) == expected)
        #expect(
            BFLCodec.sentParameters(r) == [
                "width": 1024, "height": 768, "seed": 42, "output_format": "jpeg", "safety_tolerance": 2, "disable_pup": true,
            ])
    }

    @Test("flex and FLUX.1 switch prompt_upsampling off; Kontext takes aspect_ratio instead of width/height")
    func encodeVariants() throws {
        let flex = try bodyJSON(
            BFLCodec.encodeSubmit(
                try Fixtures.request("flux-2-flex", size: .pixels(PixelSize(width: 1024, height: 1024))), baseURL: BFLCodec.defaultBaseURL,
                apiKey: "k", timeoutSeconds: 1))
        #expect(flex["prompt_upsampling"] == false && flex["disable_pup"] == nil)
        let p11 = try bodyJSON(
            BFLCodec.encodeSubmit(
                try Fixtures.request("flux-pro-1.1", size: .pixels(PixelSize(width: 1024, height: 768))), baseURL: BFLCodec.defaultBaseURL,
                apiKey: "k", timeoutSeconds: 1))
        #expect(p11["prompt_upsampling"] == false && p11["width"] == 1024 && p11["output_format"] == "png")
        let kontext = try Fixtures.request(
            "flux-kontext-pro", size: .tier(aspectRatio: AspectRatio("16:9"), resolution: .r1K), references: [Fixtures.reference()], format: .webp)
        let k = try bodyJSON(BFLCodec.encodeSubmit(kontext, baseURL: BFLCodec.defaultBaseURL, apiKey: "k", timeoutSeconds: 1))
        #expect(k["aspect_ratio"] == "16:9" && k["width"] == nil && k["height"] == nil)
        #expect(k["input_image"] == "AQIDBAU=" && k["output_format"] == "webp")
    }

    @Test("Pending → Ready: handle recorded before polling, polling_url on another host with x-key, sample downloaded without it")
    func pendingThenReady() async throws {
        let t = ScriptedTransport([
            reply(200, Self.submitted),
            reply(200, #"{"id":"task-1","status":"Pending","progress":0.4}"#),
            reply(200, Self.ready),
            .file(status: 200, bytes: Fixtures.jpeg, contentType: "image/jpeg"),
        ])
        let clock = AtelierClock.virtual()
        let rec = HandleRecorder(t)
        let r = try Fixtures.request("flux-2-pro", format: .jpg)
        let images = try await provider(t, clock: clock).generate(r, context: rec.context)

        #expect(rec.requestsBefore == [1], "recorded after the submit answered, before the first poll")
        let handle = try #require(rec.handles.first)
        let jobs = try #require(BFLCodec.jobs(fromHandle: handle))
        #expect(jobs == [BFLCodec.Job(id: "task-1", pollingURL: Self.pollURL, costCredits: 3)])

        let calls = await t.calls
        #expect(calls.map(\.kind) == ["send", "send", "send", "download"])
        #expect(calls[1].request.method == "GET" && calls[1].request.url == Self.pollURL)
        #expect(header(calls[1].request, "x-key") == Self.key)
        #expect(calls[3].request.url == Self.sample)
        #expect(calls[3].request.headers.isEmpty, "no x-key to the delivery host")
        #expect(calls[3].path == r.scratchDirectory + "/\(Self.K)-0.jpg")
        #expect(clock.sleeps == [0.5, 0.75])

        let img = try #require(images.first)
        #expect(images.count == 1)
        #expect(img.seed == 42 && img.costUSD == 0.03 && img.mimeType == "image/jpeg")
        #expect(fileBytes(img.path) == Fixtures.jpeg)
        #expect(img.sentParameters["disable_pup"] == true && img.sentParameters["prompt"] == nil)
    }

    @Test("numberResults n is n submits, with a cumulative handle after each")
    func multiple() async throws {
        let t = ScriptedTransport([
            reply(200, Self.submitted),
            reply(200, #"{"id":"task-2","polling_url":"https://api.us1.bfl.ai/v1/get_result?id=task-2"}"#),
            reply(200, Self.ready), .file(status: 200, bytes: Fixtures.png, contentType: "image/png"),
            reply(200, #"{"id":"task-2","status":"Ready","result":{"sample":"https://delivery-us1.bfl.ai/x.png","seed":43}}"#),
            .file(status: 200, bytes: Fixtures.png, contentType: "image/png"),
        ])
        let rec = HandleRecorder(t)
        let request = try Fixtures.request("flux-2-klein-4b", n: 2)
        let images = try await provider(t, clock: AtelierClock.virtual()).generate(request, context: rec.context)
        #expect(images.map(\.seed) == [42, 43])
        // BFL's `cost` where the submit answered one; the other image is the catalog's estimate, and says so.
        #expect(images.map(\.costSource) == [.provider, .estimated])
        #expect(images.map(\.costUSD) == [0.03, request.model.catalogCost(size: request.size, referenceImages: 0).usd])
        #expect(rec.handles.map { BFLCodec.jobs(fromHandle: $0)?.map(\.id) ?? [] } == [["task-1"], ["task-1", "task-2"]])
        let posts = await t.sends.filter { $0.method == "POST" }
        #expect(posts.count == 2)
    }

    @Test("resume polls the recorded polling URLs and never submits")
    func resume() async throws {
        let t = ScriptedTransport([reply(200, Self.ready), .file(status: 200, bytes: Fixtures.png, contentType: nil)])
        let handle = BFLCodec.handle([BFLCodec.Job(id: "task-1", pollingURL: Self.pollURL, costCredits: 3)])
        let images = try await provider(t, clock: AtelierClock.virtual()).resume(
            handle: handle, request: try Fixtures.request("flux-2-pro"), context: .none)
        #expect(images.count == 1 && images[0].costUSD == 0.03 && images[0].mimeType == "image/png")
        #expect(await t.sends.allSatisfy { $0.method == "GET" })
        // A bare polling URL is a valid handle too.
        #expect(BFLCodec.jobs(fromHandle: Self.pollURL) == [BFLCodec.Job(id: "task-1", pollingURL: Self.pollURL)])
        #expect(BFLCodec.jobs(fromHandle: "garbage") == nil)
    }

    @Test("moderated requests and images are refused", arguments: ["Request Moderated", "Content Moderated"])
    func moderated(_ status: String) async throws {
        let t = ScriptedTransport([
            reply(200, Self.submitted),
            reply(200, #"{"id":"task-1","status":"\#(status)","details":{"moderation_reasons":["Derivative Works Filter"]}}"#),
        ])
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(t, clock: AtelierClock.virtual()).generate(try! Fixtures.request("flux-2-pro"), context: .none)
            })
        #expect(e.code == .refused && e.upstreamCode == status && e.message.contains("Derivative Works Filter"))
        #expect(await t.downloads.isEmpty)
    }

    @Test("Error and Task not found statuses fail the generation", arguments: ["Error", "Task not found"])
    func failed(_ status: String) async throws {
        let t = ScriptedTransport([reply(200, Self.submitted), reply(200, #"{"id":"task-1","status":"\#(status)"}"#)])
        let e = await providerError { () async throws(ProviderError) in
            try await provider(t, clock: AtelierClock.virtual()).generate(try! Fixtures.request("flux-2-pro"), context: .none)
        }
        #expect(e?.code == .unavailable && e?.upstreamCode == status)
    }

    @Test("402 is insufficient_credits")
    func noCredits() async throws {
        let t = ScriptedTransport([reply(402, #"{"detail":"Insufficient credits. Please add credits to your account."}"#)])
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(t, clock: AtelierClock.virtual()).generate(try! Fixtures.request("flux-2-pro"), context: .none)
            })
        #expect(e.code == .insufficientCredits && e.httpStatus == 402 && e.message.contains("Insufficient credits"))
    }

    @Test("422 FastAPI detail names the field")
    func validation() {
        let body =
            #"{"detail":[{"loc":["body","width"],"msg":"Input should be a multiple of 16","type":"value_error","input":1000},{"loc":["body","seed"],"msg":"bad","type":"int_type"}]}"#
        let e = BFLCodec.decodeError(response(422, body))
        #expect(e.code == .invalidRequest)
        #expect(e.field == "/width")
        #expect(e.message.contains("width: Input should be a multiple of 16") && e.message.contains("seed: bad"))
        let refs = BFLCodec.decodeError(response(422, #"{"detail":[{"loc":["body","input_image_3"],"msg":"invalid image","type":"value_error"}]}"#))
        #expect(refs.field == "/referenceImages")
        let prompt = BFLCodec.decodeError(response(422, #"{"detail":[{"loc":["body","prompt"],"msg":"too long","type":"string_too_long"}]}"#))
        #expect(prompt.field == "/positivePrompt")
    }

    @Test(
        "HTTP statuses map to the taxonomy",
        arguments: [
            (401, ErrorCode.auth), (403, .auth), (402, .insufficientCredits), (400, .invalidRequest), (404, .invalidRequest),
            (422, .invalidRequest), (429, .rateLimited), (500, .unavailable), (502, .unavailable), (503, .unavailable),
        ])
    func statuses(_ status: Int, _ code: ErrorCode) {
        #expect(BFLCodec.decodeError(response(status, #"{"detail":"x"}"#)).code == code)
        #expect(BFLCodec.decodeError(response(status, "<html>nope</html>")).code == code)
    }

    @Test("429 carries Retry-After")
    func rateLimited() {
        let e = BFLCodec.decodeError(response(429, #"{"detail":"You have exceeded the number of active tasks"}"#, headers: [("Retry-After", "5")]))
        #expect(e.code == .rateLimited && e.retryAfterSeconds == 5)
    }

    @Test("unknown non-terminal statuses keep polling until the deadline")
    func unknownStatusUntilDeadline() async throws {
        let t = ScriptedTransport(
            [reply(200, Self.submitted), reply(200, #"{"id":"task-1","status":"Reasoning"}"#)],
            fallback: response(200, #"{"id":"task-1","status":"Generating","progress":0.5}"#))
        let clock = AtelierClock.virtual()
        let e = await providerError { () async throws(ProviderError) in
            try await provider(t, clock: clock, total: 20).generate(try! Fixtures.request("flux-2-pro"), context: .none)
        }
        #expect(e?.code == .timeout)
        #expect(abs(clock.elapsedSeconds - 20) < 1e-9)
        #expect(await t.sends.count > 5)
        #expect(await t.downloads.isEmpty)
    }

    @Test("transient poll failures (429, 5xx, garbage) are retried; a Ready without a sample is no_image")
    func transientPolls() async throws {
        let t = ScriptedTransport([
            reply(200, Self.submitted), reply(429, ""), reply(502, "<html>"), reply(200, "{\"status\":"), reply(200, Self.ready),
            .file(status: 200, bytes: Fixtures.png, contentType: "image/png"),
        ])
        let images = try await provider(t, clock: AtelierClock.virtual()).generate(try Fixtures.request("flux-2-pro"), context: .none)
        #expect(images.count == 1)
        let e = providerError { () throws(ProviderError) in try BFLCodec.decodePoll(response(200, #"{"id":"x","status":"Ready","result":{}}"#)) }
        #expect(e?.code == .noImage)
    }

    @Test("a paid sample whose download fails transiently is fetched again after 0.5 s, 1 s on the clock; an expired URL is not")
    func downloadRetries() async throws {
        let t = ScriptedTransport([
            reply(200, Self.submitted), reply(200, Self.ready),
            .file(status: 503, bytes: [], contentType: nil), .file(status: 429, bytes: [], contentType: nil),
            .file(status: 200, bytes: Fixtures.jpeg, contentType: "image/jpeg"),
        ])
        let clock = AtelierClock.virtual()
        let images = try await provider(t, clock: clock).generate(try Fixtures.request("flux-2-pro", format: .jpg), context: .none)
        #expect(images.count == 1 && fileBytes(images[0].path) == Fixtures.jpeg)
        #expect(await t.downloads.count == 3)
        #expect(clock.sleeps == [0.5, 0.5, 1], "one poll wait, then the two download pauses")

        let expired = ScriptedTransport([
            reply(200, Self.submitted), reply(200, Self.ready), .file(status: 403, bytes: [], contentType: nil),
        ])
        let quiet = AtelierClock.virtual()
        let e = await providerError { () async throws(ProviderError) in
            try await provider(expired, clock: quiet).generate(try! Fixtures.request("flux-2-pro"), context: .none)
        }
        #expect(e?.code == .unavailable && e?.httpStatus == 403)
        #expect(await expired.downloads.count == 1)
        #expect(quiet.sleeps == [0.5], "no pause after a refusal")
    }

    @Test("a submit answer without an id is bad_upstream; malformed JSON never crashes")
    func badSubmit() {
        #expect(
            providerError { () throws(ProviderError) in
                try BFLCodec.decodeSubmit(response(200, #"{"polling_url":"x"}"#), baseURL: "https://api.bfl.ai")
            }?.code == .badUpstream)
        #expect(
            providerError { () throws(ProviderError) in try BFLCodec.decodeSubmit(response(200, #"{"id":"#), baseURL: "https://api.bfl.ai") }?.code
                == .badUpstream)
        let noURL = try? BFLCodec.decodeSubmit(response(200, #"{"id":"abc"}"#), baseURL: "https://api.bfl.ai/")
        #expect(noURL?.pollingURL == "https://api.bfl.ai/v1/get_result?id=abc")
    }

    @Test("the API key never appears in an error")
    func keyRedacted() async throws {
        let t = ScriptedTransport([reply(401, #"{"detail":"Invalid key: \#(Self.key)"}"#)])
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(t, clock: AtelierClock.virtual()).generate(try! Fixtures.request("flux-2-pro"), context: .none)
            })
        #expect(e.code == .auth)
        #expect(!e.message.contains(Self.key) && !JSONWriter.string(e.atelierError.json).contains(Self.key))
    }
}
