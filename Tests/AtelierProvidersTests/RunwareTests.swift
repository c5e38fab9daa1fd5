import AtelierCore
import Foundation
import Testing

@testable import AtelierProviders

@Suite("Runware task API")
struct RunwareTests {
    static let key = "rw-secret-KEY-9876"
    static let K = Fixtures.attemptKey

    func provider(_ t: ScriptedTransport, clock: AtelierClock, total: Double = 900) -> RunwareProvider {
        RunwareProvider(configuration: RunwareProvider.defaults.testing(key: Self.key, total: total, clock: clock), transport: t)
    }

    static func item(_ status: String, uuid: String? = nil, seed: Int = 1001, cost: Double = 0.0123, task: String = K) -> String {
        if status != "success" { return #"{"taskType":"imageInference","taskUUID":"\#(task)","status":"\#(status)"}"# }
        let u = uuid ?? "img-1"
        return
            #"{"taskType":"imageInference","taskUUID":"\#(task)","status":"success","imageUUID":"\#(u)","imageURL":"https://im.runware.ai/image/ws/0.5/ii/\#(u).png","seed":\#(seed),"cost":\#(cost)}"#
    }

    static func data(_ items: String...) -> String { #"{"data":[\#(items.joined(separator: ","))]}"# }

    @Test("encodes the exact imageInference task: AIR, sizes, seed, numberResults, async URL output, cost, model parameters")
    func encodeExact() throws {
        let r = try Fixtures.request(
            "runware-flux-2-dev", negative: "blurry", size: .pixels(PixelSize(width: 1024, height: 768)), n: 2, format: .webp)
        let http = RunwareCodec.encodeSubmit(r, baseURL: RunwareCodec.defaultBaseURL, apiKey: Self.key, timeoutSeconds: 60)
        #expect(http.method == "POST")
        #expect(http.url == "https://api.runware.ai/v1")
        #expect(
            http.headers.map { "\($0.0): \($0.1)" } == [
                "Content-Type: application/json", "Accept: application/json", "Authorization: Bearer \(Self.key)",
            ])
        let expected =
            #"[{"taskType":"imageInference","taskUUID":"\#(Self.K)","model":"runware:400@1","positivePrompt":"a red fox","negativePrompt":"blurry","width":1024,"height":768,"seed":42,"numberResults":2,"outputType":"URL","outputFormat":"WEBP","includeCost":true,"deliveryMethod":"async","CFGScale":4}]"#
        #expect(bodyString(http) == expected)
        let sent = RunwareCodec.sentParameters(r)
        #expect(sent["positivePrompt"] == nil && sent["negativePrompt"] == nil && sent["seed"] == 42 && sent["CFGScale"] == 4)
    }

    @Test("Nano Banana Pro: references as data URIs under inputs, resolution by tier, negative prompt folded in, no Atelier keys")
    func encodeNanoBanana() throws {
        let byTier = try Fixtures.request(
            "runware-nano-banana-pro", negative: "text", size: .tier(aspectRatio: nil, resolution: .r2K), references: [Fixtures.reference()])
        let expected =
            #"[{"taskType":"imageInference","taskUUID":"\#(Self.K)","model":"google:4@2","positivePrompt":"a red fox\n\nAvoid: text","resolution":"2K","seed":42,"numberResults":1,"inputs":{"referenceImages":["data:image/png;base64,AQIDBAU="]},"outputType":"URL","outputFormat":"PNG","includeCost":true,"deliveryMethod":"async"}]"#
        #expect(bodyString(RunwareCodec.encodeSubmit(byTier, baseURL: RunwareCodec.defaultBaseURL, apiKey: "k", timeoutSeconds: 1)) == expected)

        // With a ratio chosen, the exact table pixels are sent instead.
        let byRatio = try Fixtures.request("runware-nano-banana-pro", size: .tier(aspectRatio: AspectRatio("3:2"), resolution: .r4K))
        let t = try bodyJSON(RunwareCodec.encodeSubmit(byRatio, baseURL: RunwareCodec.defaultBaseURL, apiKey: "k", timeoutSeconds: 1)).arrayValue?
            .first
        #expect(t?["width"] == 5056 && t?["height"] == 3392 && t?["resolution"] == nil)

        // BFL-hosted models take no negativePrompt: it is dropped, not sent as an unsupported field.
        let flux = try Fixtures.request("runware-flux-2-pro", negative: "blurry", size: .pixels(PixelSize(width: 1024, height: 1024)))
        let f = try bodyJSON(RunwareCodec.encodeSubmit(flux, baseURL: RunwareCodec.defaultBaseURL, apiKey: "k", timeoutSeconds: 1)).arrayValue?.first
        #expect(f?["negativePrompt"] == nil && f?["positivePrompt"] == "a red fox")

        // Seedream does not take a seed.
        let sd = try Fixtures.request("runware-seedream-4")
        #expect(
            try bodyJSON(RunwareCodec.encodeSubmit(sd, baseURL: RunwareCodec.defaultBaseURL, apiKey: "k", timeoutSeconds: 1)).arrayValue?.first?[
                "seed"] == nil)
    }

    @Test("async: handle recorded before submitting, processing over several polls with backoff, then every image downloaded")
    func asyncFlow() async throws {
        let png2 = Fixtures.png + [9, 9]
        let t = ScriptedTransport([
            reply(200, Self.data(Self.item("processing"))),
            reply(200, Self.data(Self.item("processing"), Self.item("processing"))),
            reply(200, Self.data(Self.item("success", uuid: "img-1"), Self.item("pending"))),
            reply(200, Self.data(Self.item("success", uuid: "img-1"), Self.item("success", uuid: "img-2", seed: 1002, cost: 0.0125))),
            .file(status: 200, bytes: Fixtures.png, contentType: "image/png"),
            .file(status: 200, bytes: png2, contentType: "image/png"),
        ])
        let clock = AtelierClock.virtual()
        let rec = HandleRecorder(t)
        let r = try Fixtures.request("runware-flux-2-dev", n: 2)
        let images = try await provider(t, clock: clock).generate(r, context: rec.context)

        #expect(rec.handles == [Self.K])
        #expect(rec.requestsBefore == [0], "the handle is recorded before anything is sent")
        #expect(clock.sleeps == [1, 1.5, 2.25])
        let calls = await t.calls
        #expect(calls.map(\.kind) == ["send", "send", "send", "send", "download", "download"])
        #expect(try bodyJSON(calls[0].request).arrayValue?.first?["taskType"] == "imageInference")
        for c in calls[1...3] {
            #expect(bodyString(c.request) == #"[{"taskType":"getResponse","taskUUID":"\#(Self.K)"}]"#)
            #expect(header(c.request, "Authorization") == "Bearer \(Self.key)")
        }
        #expect(calls[4].request.url == "https://im.runware.ai/image/ws/0.5/ii/img-1.png")
        #expect(calls[4].request.headers.isEmpty, "image downloads carry no key")
        #expect(images.count == 2)
        #expect(images.map(\.seed) == [1001, 1002])
        #expect(images.map(\.costUSD) == [0.0123, 0.0125])
        #expect(images.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["\(Self.K)-0.png", "\(Self.K)-1.png"])
        #expect(fileBytes(images[1].path) == png2)
        #expect(images[0].sentParameters["numberResults"] == 2 && images[0].sentParameters["positivePrompt"] == nil)
    }

    @Test("resume polls the recorded taskUUID and never re-submits")
    func resume() async throws {
        let other = "0d6c2f9a-1b3e-4c5d-8e7f-9a0b1c2d3e4f"
        let t = ScriptedTransport([
            reply(200, Self.data(Self.item("processing", task: other))),
            reply(200, Self.data(Self.item("success", uuid: "img-9", task: other))),
            .file(status: 200, bytes: Fixtures.png, contentType: nil),
        ])
        let clock = AtelierClock.virtual()
        let r = try Fixtures.request("runware-flux-2-dev")
        let images = try await provider(t, clock: clock).resume(handle: other, request: r, context: .none)
        #expect(images.count == 1 && images[0].seed == 1001)
        let sends = await t.sends
        #expect(sends.count == 2)
        #expect(sends.allSatisfy { bodyString($0) == #"[{"taskType":"getResponse","taskUUID":"\#(other)"}]"# })
        #expect(clock.sleeps == [1], "the first resumed poll is immediate")
    }

    @Test("a resumed poll that finds nothing fails; it does not pay for a new submit")
    func resumeNotFound() async throws {
        let t = ScriptedTransport([
            reply(400, #"{"errors":[{"code":"taskFailedOrNotFound","message":"Task not found or failed.","taskUUID":"\#(Self.K)"}]}"#)
        ])
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(t, clock: AtelierClock.virtual()).resume(
                    handle: Self.K, request: try! Fixtures.request("runware-sd3"), context: .none)
            })
        #expect(e.code == .unavailable)
        #expect(e.upstreamCode == "taskFailedOrNotFound")
        let sends = await t.sends
        #expect(sends.count == 1)
        #expect(!bodyString(sends.first).contains("imageInference"))
    }

    @Test("conflictTaskUUID on submit means it is already running: keep polling")
    func conflict() async throws {
        let t = ScriptedTransport([
            reply(400, #"{"errors":[{"code":"conflictTaskUUID","message":"taskUUID already used","parameter":"taskUUID","taskUUID":"\#(Self.K)"}]}"#),
            reply(200, Self.data(Self.item("success"))),
            .file(status: 200, bytes: Fixtures.png, contentType: "image/png"),
        ])
        let images = try await provider(t, clock: AtelierClock.virtual()).generate(try Fixtures.request("runware-sd3"), context: .none)
        #expect(images.count == 1)
    }

    @Test("a submit that times out is looked up before giving up")
    func submitTimeout() async throws {
        let t = ScriptedTransport([
            .fail(ProviderError(.timeout, "request timed out")),
            reply(200, Self.data(Self.item("processing"))),
            reply(200, Self.data(Self.item("success"))),
            .file(status: 200, bytes: Fixtures.png, contentType: "image/png"),
        ])
        let images = try await provider(t, clock: AtelierClock.virtual()).generate(try Fixtures.request("runware-sd3"), context: .none)
        #expect(images.count == 1)
        let t2 = ScriptedTransport([
            .fail(ProviderError(.timeout, "request timed out")),
            reply(200, #"{"errors":[{"code":"taskFailedOrNotFound","message":"not found","taskUUID":"\#(Self.K)"}]}"#),
        ])
        let e = await providerError { () async throws(ProviderError) in
            try await provider(t2, clock: AtelierClock.virtual()).generate(try! Fixtures.request("runware-sd3"), context: .none)
        }
        #expect(e?.code == .timeout, "the original timeout is reported")
    }

    @Test("transient poll failures are retried within the deadline")
    func transientPoll() async throws {
        let t = ScriptedTransport([
            reply(200, Self.data(Self.item("processing"))),
            reply(503, ""),
            .fail(ProviderError(.unavailable, "connection reset")),
            reply(200, Self.data(Self.item("success"))),
            .file(status: 200, bytes: Fixtures.png, contentType: "image/png"),
        ])
        let images = try await provider(t, clock: AtelierClock.virtual()).generate(try Fixtures.request("runware-sd3"), context: .none)
        #expect(images.count == 1)
    }

    @Test("still processing at the deadline is a timeout")
    func deadline() async throws {
        let t = ScriptedTransport([reply(200, Self.data(Self.item("processing")))], fallback: response(200, Self.data(Self.item("processing"))))
        let clock = AtelierClock.virtual()
        let e = await providerError { () async throws(ProviderError) in
            try await provider(t, clock: clock, total: 60).generate(try! Fixtures.request("runware-sd3"), context: .none)
        }
        #expect(e?.code == .timeout)
        #expect(abs(clock.elapsedSeconds - 60) < 1e-9)
        #expect(clock.sleeps == [1, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10, 10, 10, 9.21875], "1 s, ×1.5, at most 10 s, cut at the deadline")
        #expect(clock.sleeps.allSatisfy { $0 <= 10 })
        #expect(await t.downloads.isEmpty)
    }

    // MARK: Envelopes

    func state(_ status: Int, _ body: String, task: String = K) throws(ProviderError) -> RunwareCodec.PollState {
        try RunwareCodec.decode(response(status, body), taskUUID: task)
    }

    @Test("envelope: {data:[…]}, data as one object, and a bare array")
    func envelopesData() throws {
        #expect(try state(200, Self.data(Self.item("success", uuid: "a"), Self.item("success", uuid: "b"))).successes.count == 2)
        let one = try state(
            200, #"{"data":{"taskType":"imageInference","taskUUID":"\#(Self.K)","imageUUID":"u","imageURL":"https://im.runware.ai/u.jpg","seed":7}}"#)
        #expect(one.successes.map(\.seed) == [7])
        let bare = try state(200, "[\(Self.item("processing"))]")
        #expect(bare.processing == 1 && bare.successes.isEmpty)
        // Unknown statuses are still in progress; items of other tasks are ignored; duplicates count once.
        let mixed = try state(
            200, Self.data(Self.item("queued"), Self.item("success", task: "other"), Self.item("success", uuid: "x"), Self.item("success", uuid: "x"))
        )
        #expect(mixed.processing == 1 && mixed.successes.count == 1)
    }

    @Test("envelope: {errors:[…]}, both data and errors, {data:[],errors:[…]}")
    func envelopesErrors() throws {
        let e1 = providerError { () throws(ProviderError) in
            try state(
                400,
                #"{"errors":[{"code":"invalidPositivePrompt","message":"Invalid prompt","parameter":"positivePrompt","taskType":"imageInference","taskUUID":"\#(Self.K)","documentation":"https://runware.ai/docs"}]}"#
            )
        }
        #expect(e1?.code == .invalidRequest && e1?.field == "/positivePrompt" && e1?.upstreamCode == "invalidPositivePrompt")
        // An error for another task in the same answer does not fail ours.
        let both = try state(200, #"{"data":[\#(Self.item("success"))],"errors":[{"code":"taskFailed","message":"x","taskUUID":"another"}]}"#)
        #expect(both.successes.count == 1)
        let e2 = providerError { () throws(ProviderError) in
            try state(200, #"{"data":[\#(Self.item("success"))],"errors":[{"code":"nsfwContentDetected","message":"NSFW","taskUUID":"\#(Self.K)"}]}"#)
        }
        #expect(e2?.code == .refused)
        let e3 = providerError { () throws(ProviderError) in try state(200, #"{"data":[],"errors":[{"code":"modelUnavailable","message":"down"}]}"#) }
        #expect(e3?.code == .unavailable)
    }

    @Test("envelope: {error:{…},taskUUID} and the legacy {error:true,errorId,errorMessage}")
    func envelopesSingleError() throws {
        let e1 = providerError { () throws(ProviderError) in
            try state(402, #"{"error":{"code":"insufficientCredits","message":"Insufficient credits"},"taskUUID":"\#(Self.K)"}"#)
        }
        #expect(e1?.code == .insufficientCredits)
        let e2 = providerError { () throws(ProviderError) in try state(200, #"{"error":true,"errorId":19,"errorMessage":"Invalid api key"}"#) }
        #expect(e2?.code == .auth)
        #expect(e2?.upstreamCode == "legacyError19")
    }

    @Test("an item with status error and a nested error object fails the task")
    func statusErrorItem() throws {
        let e = providerError { () throws(ProviderError) in
            try state(
                200,
                #"{"data":[{"taskUUID":"\#(Self.K)","status":"error","error":{"code":"providerContentPolicyViolation","message":"blocked by Google"}}]}"#
            )
        }
        #expect(e?.code == .refused && e?.upstreamCode == "providerContentPolicyViolation")
    }

    @Test("parameter as an array: the first field is blamed, all are named, with min/max")
    func parameterArray() throws {
        let e = try #require(
            providerError { () throws(ProviderError) in
                try state(
                    400,
                    #"{"errors":[{"code":"invalidWidth","message":"Invalid value for width parameter.","parameter":["width","height"],"type":"integer","min":256,"max":2048,"multiplier":16,"taskUUID":"\#(Self.K)"}]}"#
                )
            })
        #expect(e.code == .invalidRequest)
        #expect(e.field == "/width")
        #expect(e.message.contains("width, height") && e.message.contains("256–2048"))
        #expect(e.httpStatus == 400)
    }

    static let codeTable: [(String, ErrorCode)] = [
        ("insufficientCredits", .insufficientCredits), ("providerInsufficientCredits", .insufficientCredits),
        ("paymentRequired", .insufficientCredits),
        ("invalidApiKey", .auth), ("missingApiKey", .auth), ("insufficientPermissions", .auth), ("accountSuspended", .auth),
        ("rateLimitExceeded", .rateLimited), ("inferenceRateLimitExceeded", .rateLimited), ("providerRateLimitExceeded", .rateLimited),
        ("timeoutProvider", .timeout),
        ("providerError", .unavailable), ("providerUnavailable", .unavailable), ("inferenceError", .unavailable),
        ("noAvailableServer", .unavailable), ("modelUnavailable", .unavailable), ("taskFailed", .unavailable),
        ("taskFailedOrNotFound", .unavailable), ("imageNotFound", .unavailable), ("uploadExpired", .unavailable),
        ("invalidWidth", .invalidRequest), ("invalidPositivePromptLength", .invalidRequest), ("missingPositivePrompt", .invalidRequest),
        ("unsupportedParameter", .invalidRequest), ("unknownParameter", .invalidRequest), ("incompatibleParameters", .invalidRequest),
        ("valueTooLarge", .invalidRequest), ("arrayTooSmall", .invalidRequest), ("maxReferenceImagesExceeded", .invalidRequest),
        ("unknownModel", .invalidRequest),
        ("contentPolicyViolation", .refused), ("providerContentPolicyViolation", .refused), ("nsfwContentDetected", .refused),
        ("promptBlocked", .refused), ("imageBlocked", .refused),
    ]

    @Test("error code mapping table", arguments: codeTable)
    func codes(_ code: String, _ expected: ErrorCode) {
        #expect(RunwareCodec.classify(code) == expected)
        let e = RunwareCodec.providerError(.init(code: code, message: "m", parameters: ["width"]), httpStatus: 200)
        #expect(e.code == expected)
        #expect(e.upstreamCode == code)
        #expect((e.field != nil) == (expected == .invalidRequest))
    }

    @Test(
        "unknown codes fall back to the HTTP status; bare 429/503/504 are transient",
        arguments: [
            (429, ErrorCode.rateLimited), (503, .unavailable), (504, .timeout), (500, .unavailable), (401, .auth), (402, .insufficientCredits),
        ])
    func httpStatuses(_ status: Int, _ code: ErrorCode) {
        let bare = providerError { () throws(ProviderError) in try state(status, "") }
        #expect(bare?.code == code)
        let html = providerError { () throws(ProviderError) in try state(status, "<html>busy</html>") }
        #expect(html?.code == code)
        let unknown = providerError { () throws(ProviderError) in try state(status, #"{"errors":[{"code":"somethingNew","message":"?"}]}"#) }
        #expect(unknown?.code == code)
    }

    @Test("malformed JSON on 200 is bad_upstream")
    func malformed() {
        #expect(providerError { () throws(ProviderError) in try state(200, #"{"data":[{"taskUUID":"#) }?.code == .badUpstream)
        #expect(providerError { () throws(ProviderError) in try state(200, "\"hello\"") }?.code == .badUpstream)
        #expect(
            providerError { () throws(ProviderError) in try state(200, #"{"data":[{"taskUUID":"\#(Self.K)","status":"success"}]}"#) }?.code
                == .badUpstream)
    }

    @Test("the API key never appears in an error")
    func keyRedacted() async throws {
        let t = ScriptedTransport([reply(401, #"{"error":true,"errorId":19,"errorMessage":"Invalid api key \#(Self.key)"}"#)])
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(t, clock: AtelierClock.virtual()).generate(try! Fixtures.request("runware-sd3"), context: .none)
            })
        #expect(e.code == .auth)
        #expect(!e.message.contains(Self.key) && !e.description.contains(Self.key))
        #expect(!JSONWriter.string(e.atelierError.json).contains(Self.key))
    }

    @Test("modelSearch: one task per AIR, present when a result has that AIR")
    func modelSearch() throws {
        var n = 0
        let (req, byTask) = RunwareCodec.encodeModelSearch(
            baseURL: "https://api.runware.ai", airs: ["google:4@2", "runware:999@9"], apiKey: "k", timeoutSeconds: 5
        ) {
            n += 1
            return "00000000-0000-4000-8000-00000000000\(n)"
        }
        #expect(
            bodyString(req)
                == #"[{"taskType":"modelSearch","taskUUID":"00000000-0000-4000-8000-000000000001","search":"google:4@2","limit":20},{"taskType":"modelSearch","taskUUID":"00000000-0000-4000-8000-000000000002","search":"runware:999@9","limit":20}]"#
        )
        let answer = #"""
            {"data":[
              {"taskType":"modelSearch","taskUUID":"00000000-0000-4000-8000-000000000001","totalResults":1,"results":[{"air":"google:4@2","name":"Nano Banana Pro","architecture":"gemini_3_pro_image"}]},
              {"taskType":"modelSearch","taskUUID":"00000000-0000-4000-8000-000000000002","totalResults":1,"results":[{"air":"runware:999@1","name":"Other"}]}]}
            """#
        let v = try RunwareCodec.decodeModelSearch(response(200, answer), byTask: byTask)
        #expect(v == ["google:4@2": .present, "runware:999@9": .missing])
    }
}
