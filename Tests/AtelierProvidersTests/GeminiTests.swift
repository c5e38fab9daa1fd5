import AtelierCore
import Foundation
import Testing

@testable import AtelierProviders

@Suite("Gemini generateContent")
struct GeminiTests {
    static let key = "AQ.gemini-secret-key-123"

    /// A 200 answer with two thought images before the final one, a thought text, and a visible text part.
    static let thinkingAnswer = #"""
        {"candidates":[{"content":{"role":"model","parts":[
          {"text":"Planning the composition…","thought":true},
          {"inlineData":{"mimeType":"image/png","data":"AAAA"},"thought":true},
          {"inlineData":{"mimeType":"image/png","data":"AQID"},"thought":true},
          {"text":"Here is your fox."},
          {"inlineData":{"mimeType":"image/png","data":"\#(Fixtures.pngBase64)"},"thoughtSignature":"c2ln"}]},
          "finishReason":"STOP","index":0}],
         "usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":1130,"thoughtsTokenCount":200,"totalTokenCount":1339,
           "promptTokensDetails":[{"modality":"TEXT","tokenCount":9}],
           "candidatesTokensDetails":[{"modality":"IMAGE","tokenCount":1120},{"modality":"TEXT","tokenCount":10}]},
         "modelVersion":"gemini-3-pro-image","responseId":"r1"}
        """#

    func provider(_ t: ScriptedTransport) -> GeminiProvider {
        GeminiProvider(configuration: GeminiProvider.defaults.with { $0.credentials = Credentials(Self.key) }, transport: t)
    }

    @Test("encodes the exact request: URL, key header, text + inlineData parts, modalities, ratio, imageSize, seed")
    func encodeExact() throws {
        let r = try Fixtures.request(
            "gemini-3-pro-image", negative: "blurry", size: .tier(aspectRatio: AspectRatio("16:9"), resolution: .r2K),
            references: [Fixtures.reference()])
        let http = GeminiCodec.encode(r, baseURL: GeminiCodec.defaultBaseURL, apiKey: Self.key, timeoutSeconds: 360)
        #expect(http.method == "POST")
        #expect(http.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-pro-image:generateContent")
        #expect(
            http.headers.map { "\($0.0): \($0.1)" } == [
                "Content-Type: application/json", "Accept: application/json", "x-goog-api-key: \(Self.key)",
            ])
        let expected =
            #"{"contents":[{"role":"user","parts":[{"text":"a red fox\n\nAvoid: blurry"},{"inlineData":{"mimeType":"image/png","data":"AQIDBAU="}}]}],"generationConfig":{"responseModalities":["TEXT","IMAGE"],"imageConfig":{"aspectRatio":"16:9","imageSize":"2K"},"seed":42}}"#
        #expect(bodyString(http) == expected)
        #expect(!bodyString(http).contains("candidateCount"))
        #expect(!http.url.contains(Self.key))
    }

    @Test("imageSize uses 512 and uppercase K; it is omitted for single-tier models")
    func imageSizeValues() throws {
        let small = try Fixtures.request("gemini-3.1-flash-image", size: .tier(aspectRatio: AspectRatio("4:1"), resolution: .r512))
        let g = try bodyJSON(GeminiCodec.encode(small, baseURL: GeminiCodec.defaultBaseURL, apiKey: "k", timeoutSeconds: 1))["generationConfig"]
        #expect(g?["imageConfig"]?["imageSize"] == "512")
        #expect(g?["imageConfig"]?["aspectRatio"] == "4:1")
        let k4 = try Fixtures.request("gemini-3.1-flash-image", size: .tier(aspectRatio: nil, resolution: .r4K))
        #expect(
            try bodyJSON(GeminiCodec.encode(k4, baseURL: GeminiCodec.defaultBaseURL, apiKey: "k", timeoutSeconds: 1))["generationConfig"]?[
                "imageConfig"]?["imageSize"] == "4K")
        let nb = try Fixtures.request("gemini-2.5-flash-image", size: .pixels(PixelSize(width: 1344, height: 768)))
        let cfg = try bodyJSON(GeminiCodec.encode(nb, baseURL: GeminiCodec.defaultBaseURL, apiKey: "k", timeoutSeconds: 1))["generationConfig"]?[
            "imageConfig"]
        #expect(cfg == ["aspectRatio": "16:9"])
    }

    @Test("the last non-thought image wins; visible text becomes the note; thoughts are dropped")
    func thoughtImages() async throws {
        let t = ScriptedTransport([reply(200, Self.thinkingAnswer)])
        let r = try Fixtures.request("gemini-3-pro-image")
        let images = try await provider(t).generate(r, context: .none)
        #expect(images.count == 1)
        let img = try #require(images.first)
        #expect(img.path == r.scratchDirectory + "/\(Fixtures.attemptKey)-0.png")
        #expect(fileBytes(img.path) == Fixtures.png)
        #expect(img.mimeType == "image/png")
        #expect(img.note == "Here is your fox.")
        #expect(img.seed == nil)
        #expect(img.sentParameters["generationConfig"] != nil && img.sentParameters["contents"] == nil)
        // 9 prompt tokens × $2/M + 1120 image tokens × $120/M; text and thinking tokens have no configured price.
        #expect(img.costUSD == 0.134418)
        let sent = await t.requests
        #expect(sent.count == 1)
    }

    @Test("cost falls back to the catalog estimate without usage metadata")
    func costFallback() async throws {
        let body =
            #"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"\#(Fixtures.pngBase64)"}}]},"finishReason":"STOP"}]}"#
        let t = ScriptedTransport([reply(200, body)])
        let r = try Fixtures.request("gemini-3-pro-image", size: .tier(aspectRatio: nil, resolution: .r4K), references: [Fixtures.reference()])
        let img = try #require(try await provider(t).generate(r, context: .none).first)
        #expect(img.costUSD == 0.24 + 0.0011)
        #expect(img.note == nil)
    }

    @Test("numberResults n is n parallel calls, each with candidateCount absent")
    func parallel() async throws {
        let t = ScriptedTransport([reply(200, Self.thinkingAnswer), reply(200, Self.thinkingAnswer), reply(200, Self.thinkingAnswer)])
        let r = try Fixtures.request("gemini-3.1-flash-image", n: 3)
        let images = try await provider(t).generate(r, context: .none)
        #expect(images.map { URL(fileURLWithPath: $0.path).lastPathComponent } == (0..<3).map { "\(Fixtures.attemptKey)-\($0).png" })
        let sent = await t.requests
        #expect(sent.count == 3)
        #expect(sent.allSatisfy { !bodyString($0).contains("candidateCount") })
    }

    @Test("a blocked prompt (200, promptFeedback.blockReason, no candidates) is refused with the reason")
    func blockedPrompt() async throws {
        let body =
            #"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT","blockReasonMessage":"The prompt was blocked."},"usageMetadata":{"promptTokenCount":7}}"#
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(ScriptedTransport([reply(200, body)])).generate(try! Fixtures.request("gemini-3-pro-image"), context: .none)
            })
        #expect(e.code == .refused)
        #expect(e.upstreamCode == "PROHIBITED_CONTENT")
        #expect(e.message.contains("PROHIBITED_CONTENT") && e.message.contains("blocked"))
        #expect(!e.retryable)
    }

    static let finishCases: [(String, ErrorCode)] = [
        ("IMAGE_SAFETY", .refused), ("SAFETY", .refused), ("PROHIBITED_CONTENT", .refused), ("IMAGE_PROHIBITED_CONTENT", .refused),
        ("BLOCKLIST", .refused), ("SPII", .refused), ("RECITATION", .refused), ("IMAGE_RECITATION", .refused),
        ("NO_IMAGE", .noImage), ("IMAGE_OTHER", .noImage), ("OTHER", .noImage), ("STOP", .noImage), ("SOME_FUTURE_REASON", .noImage),
    ]

    @Test("finishReason without an image maps to refused or no_image (unknown values leniently)", arguments: finishCases)
    func finishReasons(_ reason: String, _ code: ErrorCode) throws {
        let body = #"{"candidates":[{"content":{"role":"model","parts":[{"text":"I can't draw that."}]},"finishReason":"\#(reason)"}]}"#
        let e = try #require(providerError { () throws(ProviderError) in try GeminiCodec.decode(response(200, body)) })
        #expect(e.code == code)
        #expect(e.upstreamCode == reason)
        #expect(e.message.contains("I can't draw that."))
    }

    @Test("only thought images, or a candidate without parts, is no_image")
    func onlyThoughts() throws {
        let body =
            #"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"},"thought":true}]},"finishReason":"STOP"}]}"#
        #expect(providerError { () throws(ProviderError) in try GeminiCodec.decode(response(200, body)) }?.code == .noImage)
        #expect(
            providerError { () throws(ProviderError) in try GeminiCodec.decode(response(200, #"{"candidates":[{"finishReason":"NO_IMAGE"}]}"#)) }?
                .code == .noImage)
        #expect(providerError { () throws(ProviderError) in try GeminiCodec.decode(response(200, #"{"candidates":[]}"#)) }?.code == .noImage)
    }

    static func quotaError(_ quotaID: String, delay: String) -> String {
        #"""
        {"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[
          {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_requests","quotaId":"\#(quotaID)"}]},
          {"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},
          {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"\#(delay)"}]}}
        """#
    }

    @Test("429 with RetryInfo 37s and a per-minute QuotaFailure: rate_limited, retry after 37 s")
    func perMinute() async throws {
        let t = ScriptedTransport([reply(429, Self.quotaError("GenerateRequestsPerMinutePerProjectPerModel", delay: "37s"))])
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(t).generate(try! Fixtures.request("gemini-3-pro-image"), context: .none)
            })
        #expect(e.code == .rateLimited)
        #expect(e.retryAfterSeconds == 37)
        #expect(!e.quotaExhaustedForDay)
        #expect(e.retryable)
        #expect(e.upstreamCode == "RESOURCE_EXHAUSTED")
        #expect(e.httpStatus == 429)
    }

    @Test("a PerDay quota is exhausted for the day; fractional delays parse")
    func perDay() throws {
        let e = GeminiCodec.decodeError(response(429, Self.quotaError("GenerateRequestsPerDayPerProjectPerModel-FreeTier", delay: "1.5s")))
        #expect(e.code == .rateLimited)
        #expect(e.quotaExhaustedForDay)
        #expect(e.retryAfterSeconds == 1.5)
        #expect(!e.retryable)
    }

    @Test("a Retry-After header is honoured when the body has no RetryInfo")
    func retryAfterHeader() {
        let e = GeminiCodec.decodeError(
            response(429, #"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#, headers: [("retry-after", "12")]))
        #expect(e.code == .rateLimited && e.retryAfterSeconds == 12)
    }

    static let statusCases: [(Int, String, String, ErrorCode)] = [
        (400, "INVALID_ARGUMENT", "Request contains an invalid argument.", .invalidRequest),
        (400, "FAILED_PRECONDITION", "User location is not supported for the API use.", .auth),
        (401, "UNAUTHENTICATED", "ACCESS_TOKEN_TYPE_UNSUPPORTED", .auth),
        (403, "PERMISSION_DENIED", "Permission denied.", .auth),
        (404, "NOT_FOUND", "models/gemini-3-pro-image-preview is not found", .invalidRequest),
        (500, "INTERNAL", "An internal error has occurred.", .unavailable),
        (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", .unavailable),
        (504, "DEADLINE_EXCEEDED", "Deadline exceeded.", .timeout),
    ]

    @Test("HTTP status and google.rpc status map to the taxonomy", arguments: statusCases)
    func statuses(_ status: Int, _ rpc: String, _ message: String, _ code: ErrorCode) {
        let e = GeminiCodec.decodeError(response(status, #"{"error":{"code":\#(status),"message":"\#(message)","status":"\#(rpc)"}}"#))
        #expect(e.code == code)
        #expect(e.httpStatus == status)
        #expect(e.upstreamCode == rpc)
        #expect(e.message.contains(message))
    }

    @Test("400 with reason API_KEY_INVALID is auth, and the key never appears in the error")
    func keyInvalid() async throws {
        let body = #"""
            {"error":{"code":400,"message":"API key not valid. Please pass a valid API key. (got \#(Self.key))","status":"INVALID_ARGUMENT",
              "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}
            """#
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(ScriptedTransport([reply(400, body)])).generate(
                    try! Fixtures.request("gemini-3-pro-image"), context: .none)
            })
        #expect(e.code == .auth)
        #expect(!e.message.contains(Self.key))
        #expect(!e.description.contains(Self.key))
        #expect(!JSONWriter.string(e.atelierError.json).contains(Self.key))
        #expect(e.message.contains("<redacted>"))
    }

    @Test("503 is unavailable and retryable")
    func overloaded() async throws {
        let t = ScriptedTransport([reply(503, #"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#)])
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(t).generate(try! Fixtures.request("gemini-3.1-flash-image"), context: .none)
            })
        #expect(e.code == .unavailable && e.retryable && e.httpStatus == 503)
    }

    static let garbage: [(Int, String, ErrorCode)] = [
        (200, #"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo"#, .badUpstream),
        (200, "<html>oops</html>", .badUpstream),
        (200, "", .badUpstream),
        (200, "[1,2,3]", .badUpstream),
        (200, #"{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"not base64 at all!"}}]}}]}"#, .badUpstream),
        (502, "<html><body>Bad Gateway</body></html>", .unavailable),
        (429, "rate limited", .rateLimited),
    ]

    @Test("malformed or truncated bodies never crash: bad_upstream on 200, classified by status otherwise", arguments: garbage)
    func malformed(_ status: Int, _ body: String, _ code: ErrorCode) async throws {
        let t = ScriptedTransport([reply(status, body)])
        let r = try Fixtures.request("gemini-3-pro-image")
        let e = try #require(await providerError { () async throws(ProviderError) in try await provider(t).generate(r, context: .none) })
        #expect(e.code == code)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: r.scratchDirectory)) ?? []
        #expect(left.isEmpty, "no partial files are left behind")
    }

    @Test("without credentials the call is not made")
    func noKey() async throws {
        let t = ScriptedTransport([])
        let e = await providerError { () async throws(ProviderError) in
            try await GeminiProvider(transport: t).generate(try! Fixtures.request("gemini-3-pro-image"), context: .none)
        }
        #expect(e?.code == .auth)
        #expect(await t.requests.isEmpty)
    }

    @Test("verifyModels follows pageToken pagination")
    func verify() async throws {
        let t = ScriptedTransport([
            reply(200, #"{"models":[{"name":"models/gemini-2.5-flash"},{"name":"models/gemini-3-pro-image"}],"nextPageToken":"p2=="}"#),
            reply(200, #"{"models":[{"name":"models/gemini-3.1-flash-image"}]}"#),
        ])
        let v = try await provider(t).verifyModels(["gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-3-pro-image-preview"])
        #expect(v == ["gemini-3-pro-image": .present, "gemini-3.1-flash-image": .present, "gemini-3-pro-image-preview": .missing])
        let reqs = await t.requests
        #expect(reqs.map(\.method) == ["GET", "GET"])
        #expect(reqs[0].url == "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1000")
        #expect(reqs[1].url == "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1000&pageToken=p2%3D%3D")
        #expect(header(reqs[1], "x-goog-api-key") == Self.key)
    }
}
