import AtelierCore
import Foundation
import Testing

@testable import AtelierProviders

@Suite("OpenAI Images API")
struct OpenAITests {
    static let key = "sk-proj-openai-secret-key-123"

    /// A generations answer: one base64 PNG, the echoed settings, and usage without `output_tokens_details` (as the
    /// Images endpoints send it).
    static let answer = #"""
        {"created":1760000000,"background":"opaque","data":[{"b64_json":"\#(Fixtures.pngBase64)"}],
         "output_format":"png","quality":"medium","size":"1536x1024",
         "usage":{"total_tokens":1395,"input_tokens":25,"output_tokens":1370,
                  "input_tokens_details":{"text_tokens":25,"image_tokens":0}}}
        """#

    func provider(_ t: ScriptedTransport, key: String? = OpenAITests.key, id: String = "openai", baseURL: String? = nil) -> OpenAIProvider {
        OpenAIProvider(
            configuration: OpenAIProvider.defaults.with {
                $0.id = id
                $0.credentials = key.map(Credentials.init)
                if let baseURL { $0.baseURL = baseURL }
            }, transport: t)
    }

    static func landscape(
        _ model: String = "gpt-image-2", negative: String? = nil, n: Int = 1, references: [LoadedReference] = [], format: OutputFormat = .png
    ) throws -> GenerationRequest {
        try Fixtures.request(
            model, negative: negative, size: .tier(aspectRatio: AspectRatio("3:2"), resolution: .r1K), n: n, references: references,
            format: format)
    }

    // MARK: Encoding

    @Test("generations: the exact URL, Bearer key, and body (no seed, the card's quality, the resolved WxH, output_format)")
    func encodeGenerationExact() throws {
        let r = try Self.landscape(negative: "blurry", n: 2, format: .jpg)
        let http = OpenAICodec.encode(r, baseURL: "https://api.openai.com", apiKey: Self.key, timeoutSeconds: 300)
        #expect(http.method == "POST")
        #expect(http.url == "https://api.openai.com/v1/images/generations")
        #expect(
            http.headers.map { "\($0.0): \($0.1)" } == [
                "Content-Type: application/json", "Accept: application/json", "Authorization: Bearer \(Self.key)",
            ])
        let expected =
            #"{"prompt":"a red fox\n\nAvoid: blurry","model":"gpt-image-2","n":2,"size":"1536x1024","output_format":"jpeg","quality":"medium"}"#
        #expect(bodyString(http) == expected)
        #expect(!bodyString(http).contains("seed"), "GPT image models take no seed")
        #expect(!http.url.contains(Self.key))
        #expect(http.timeoutSeconds == 300)
        // Token prices and the grid are Atelier's: never sent.
        #expect(OpenAICodec.sentParameters(r) == ["model": "gpt-image-2", "n": 2, "size": "1536x1024", "output_format": "jpeg", "quality": "medium"])
    }

    @Test("the base URL is the server root: the codec adds /v1/images/…, a trailing slash is dropped, any host works")
    func baseURLIsTheServerRoot() throws {
        let r = try Self.landscape("gpt-image-2-low")
        #expect(
            OpenAICodec.encode(r, baseURL: "http://127.0.0.1:8080/", apiKey: "k", timeoutSeconds: 1).url
                == "http://127.0.0.1:8080/v1/images/generations")
        #expect(
            OpenAICodec.encode(r, baseURL: "https://images.example.com/openai", apiKey: "k", timeoutSeconds: 1).url
                == "https://images.example.com/openai/v1/images/generations")
        #expect(try bodyJSON(OpenAICodec.encode(r, baseURL: "x", apiKey: "k", timeoutSeconds: 1))["quality"] == "low")
    }

    @Test("edits: references go to /v1/images/edits as multipart image[] files beside the same fields")
    func encodeEditsMultipart() throws {
        let refs = [Fixtures.reference(Fixtures.png), Fixtures.reference(Fixtures.jpeg, mime: "image/jpeg")]
        let r = try Self.landscape(references: refs)
        let http = OpenAICodec.encode(r, baseURL: "https://api.openai.com", apiKey: Self.key, timeoutSeconds: 300)
        #expect(http.url == "https://api.openai.com/v1/images/edits")
        let boundary = "atelier-" + Fixtures.attemptKey
        #expect(header(http, "Content-Type") == "multipart/form-data; boundary=\(boundary)")
        #expect(header(http, "Authorization") == "Bearer \(Self.key)")
        let body = try #require(http.body)
        let text = String(decoding: body, as: UTF8.self)
        func part(_ name: String, _ value: String) -> String {
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        let expectedFields =
            part("prompt", "a red fox") + part("model", "gpt-image-2") + part("n", "1") + part("size", "1536x1024")
            + part("output_format", "png") + part("quality", "medium")
        #expect(text.hasPrefix(expectedFields))
        let file0 =
            Array(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"image[]\"; filename=\"reference-0.png\"\r\nContent-Type: image/png\r\n\r\n"
                    .utf8) + Fixtures.png + Array("\r\n".utf8)
        let file1 =
            Array(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"image[]\"; filename=\"reference-1.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
                    .utf8) + Fixtures.jpeg + Array("\r\n".utf8)
        #expect(body == Array(expectedFields.utf8) + file0 + file1 + Array("--\(boundary)--\r\n".utf8))
        #expect(OpenAICodec.sentParameters(r)["endpoint"] == "edits")
    }

    // MARK: Validation before spending

    @Test("a quality the model does not list is refused before any call; a card may list its own tiers")
    func qualityValidatedBeforeSpending() async throws {
        var r = try Self.landscape()
        r.model.parameters["quality"] = "ultra"
        let t = ScriptedTransport([])
        let e = try #require(await providerError { () async throws(ProviderError) in try await provider(t).generate(r, context: .none) })
        #expect(e.code == .invalidRequest)
        #expect(e.field == "/model")
        #expect(e.upstreamCode == "invalid_quality")
        #expect(e.message.contains("'ultra' is not one of low, medium, high, auto"))
        #expect(await t.calls.isEmpty, "nothing was sent, so nothing was paid for")

        r.model.parameters["quality"] = "xhigh"
        r.model.parameters["qualities"] = ["low", "medium", "high", "xhigh", "max"]
        #expect(providerError { () throws(ProviderError) in try OpenAICodec.validate(r) } == nil)
        #expect(try bodyJSON(OpenAICodec.encode(r, baseURL: "x", apiKey: "k", timeoutSeconds: 1))["qualities"] == nil, "never sent")
    }

    @Test("a size off the card's 16-pixel grid is refused before any call")
    func sizeGridValidatedBeforeSpending() async throws {
        var r = try Self.landscape()
        r.size.pixels = PixelSize(width: 1000, height: 1000)
        let t = ScriptedTransport([])
        let e = try #require(await providerError { () async throws(ProviderError) in try await provider(t).generate(r, context: .none) })
        #expect(e.code == .invalidRequest && e.field == "/width")
        #expect(await t.calls.isEmpty)
    }

    @Test("every openai card in providers/ passes validation, takes no seed, and prices output tokens")
    func catalogCardsAreValid() throws {
        let cards = try Fixtures.catalog.get().models.filter { $0.kind == .openai }
        #expect(!cards.isEmpty)
        for card in cards {
            let r = try Fixtures.request(card.id)
            #expect(providerError { () throws(ProviderError) in try OpenAICodec.validate(r) } == nil, "\(card.id)")
            #expect(!card.seedHonored && !card.seedAccepted, "\(card.id): GPT image models take no seed")
            #expect(Wire.double(card.parameters["outputUSDPerMillionTokens"]) != nil, "\(card.id): usage can be priced")
            #expect(card.price.cost(size: r.size, referenceImages: 0) > 0, "\(card.id): a published price, never $0")
        }
    }

    // MARK: Decoding

    @Test("decodes b64_json, the declared format and size, and usage; cost = text×$5 + image input×$8 + output×$30 per M")
    func decodeAnswerAndCost() throws {
        let out = try OpenAICodec.decode(response(200, Self.answer))
        #expect(out.images == [.base64(Fixtures.pngBase64)])
        #expect(out.mimeType == "image/png" && out.size == "1536x1024" && out.quality == "medium")
        #expect(out.usage == OpenAICodec.Usage(textInputTokens: 25, imageInputTokens: 0, outputTokens: 1370))
        let card = try Fixtures.model("gpt-image-2")
        #expect(OpenAICodec.cost(out.usage, model: card) == ((25 * 5 + 1370 * 30) / 1e6 * 1e6).rounded() / 1e6)
        let edit = OpenAICodec.Usage(textInputTokens: 10, imageInputTokens: 776, outputTokens: 196)
        #expect(OpenAICodec.cost(edit, model: card) == ((10 * 5 + 776 * 8 + 196 * 30) / 1e6 * 1e6).rounded() / 1e6)
        #expect(OpenAICodec.cost(nil, model: card) == nil, "no usage: the catalog estimate stands")
    }

    @Test("a compatible vendor's URL answer is decoded; an answer without images is no_image; garbage is bad_upstream")
    func decodeURLAndEmpty() throws {
        let out = try OpenAICodec.decode(response(200, #"{"created":1,"data":[{"url":"http://127.0.0.1:9/files/a.png"}]}"#))
        #expect(out.images == [.url("http://127.0.0.1:9/files/a.png")])
        #expect(out.usage == nil && out.mimeType == nil)
        #expect(providerError { () throws(ProviderError) in try OpenAICodec.decode(response(200, #"{"created":1,"data":[]}"#)) }?.code == .noImage)
        #expect(
            providerError { () throws(ProviderError) in try OpenAICodec.decode(response(200, #"{"created":1,"data":[{"b64"#)) }?.code == .badUpstream)
    }

    @Test("the documented error shapes map to the taxonomy, with the field, the upstream code and the wait")
    func errorShapes() {
        func err(_ status: Int, _ type: String, _ code: String?, param: String? = nil, headers: [(String, String)] = []) -> ProviderError {
            let c = code.map { "\"\($0)\"" } ?? "null"
            let p = param.map { "\"\($0)\"" } ?? "null"
            return OpenAICodec.decodeError(
                response(status, #"{"error":{"message":"m","type":"\#(type)","param":\#(p),"code":\#(c)}}"#, headers: headers))
        }
        let auth = err(401, "invalid_request_error", "invalid_api_key")
        #expect(auth.code == .auth && auth.upstreamCode == "invalid_api_key" && !auth.retryable)
        let size = err(400, "invalid_request_error", "invalid_value", param: "size")
        #expect(size.code == .invalidRequest && size.field == "/width" && size.httpStatus == 400)
        #expect(err(400, "invalid_request_error", "unknown_parameter", param: "seed").field == "/model")
        #expect(err(400, "invalid_request_error", "invalid_value", param: "prompt").field == "/positivePrompt")
        let blocked = err(400, "image_generation_user_error", "moderation_blocked")
        #expect(blocked.code == .refused && blocked.upstreamCode == "moderation_blocked" && blocked.field == nil)
        #expect(blocked.message.hasPrefix("OpenAI's safety system refused the request"))
        #expect(err(400, "invalid_request_error", "content_policy_violation").code == .refused)
        let limited = err(429, "requests", "rate_limit_exceeded", headers: [("retry-after", "1"), ("retry-after-ms", "200")])
        #expect(limited.code == .rateLimited && limited.retryAfterSeconds == 0.2 && limited.retryable)
        #expect(err(429, "requests", "rate_limit_exceeded", headers: [("Retry-After", "3")]).retryAfterSeconds == 3)
        let quota = err(429, "insufficient_quota", "insufficient_quota")
        #expect(quota.code == .insufficientCredits && !quota.retryable && quota.allowsFallback)
        let server = err(500, "server_error", nil)
        #expect(server.code == .unavailable && server.retryable && server.upstreamCode == "server_error")
        #expect(err(503, "server_error", nil).code == .unavailable)
        #expect(err(504, "server_error", nil).code == .timeout)
        #expect(err(404, "invalid_request_error", "model_not_found").code == .invalidRequest)
        #expect(OpenAICodec.decodeError(response(502, "<html>bad gateway</html>")).message == "OpenAI: HTTP 502: <html>bad gateway</html>")
    }

    // MARK: Client

    @Test("one call makes all n images; each carries its share of the usage cost; files are named after their bytes")
    func generateWritesFilesAndSplitsCost() async throws {
        let jpegB64 = Data(Fixtures.jpeg).base64EncodedString()
        let body = #"""
            {"created":1,"data":[{"b64_json":"\#(Fixtures.pngBase64)"},{"b64_json":"\#(jpegB64)"}],"output_format":"png",
             "usage":{"input_tokens":20,"output_tokens":2740,"input_tokens_details":{"text_tokens":20,"image_tokens":0}}}
            """#
        let t = ScriptedTransport([reply(200, body)])
        let r = try Self.landscape(n: 2)
        let images = try await provider(t).generate(r, context: .none)
        #expect(await t.sends.count == 1)
        #expect(images.count == 2)
        #expect(fileBytes(images[0].path) == Fixtures.png && images[0].path.hasSuffix("-0.png"))
        #expect(fileBytes(images[1].path) == Fixtures.jpeg && images[1].path.hasSuffix("-1.jpg") && images[1].mimeType == "image/jpeg")
        let total = ((20 * 5 + 2740 * 30) / 1e6 * 1e6).rounded() / 1e6
        #expect(images.allSatisfy { $0.costUSD == total / 2 && $0.seed == nil })
        #expect(images[0].sentParameters["n"] == 2)
        #expect(FileManager.default.fileExists(atPath: r.scratchDirectory + "/\(Fixtures.attemptKey)-1.png") == false)
    }

    @Test("a bad second image fails the attempt and removes the first image's file")
    func badImageRemovesWrittenFiles() async throws {
        let body = #"{"created":1,"data":[{"b64_json":"\#(Fixtures.pngBase64)"},{"b64_json":"@@not base64@@"}]}"#
        let r = try Self.landscape(n: 2)
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(ScriptedTransport([reply(200, body)])).generate(r, context: .none)
            })
        #expect(e.code == .badUpstream)
        #expect(try FileManager.default.contentsOfDirectory(atPath: r.scratchDirectory).isEmpty, "no file is left behind")
    }

    @Test("without usage the catalog estimate is the cost (never $0)")
    func estimateWithoutUsage() async throws {
        let t = ScriptedTransport([reply(200, #"{"created":1,"data":[{"b64_json":"\#(Fixtures.pngBase64)"}]}"#)])
        let images = try await provider(t).generate(try Self.landscape("gpt-image-2-high"), context: .none)
        #expect(images.first?.costUSD == 0.211)
    }

    @Test("a URL answer is downloaded without the key")
    func urlAnswerIsDownloaded() async throws {
        let t = ScriptedTransport([
            reply(200, #"{"created":1,"data":[{"url":"http://127.0.0.1:9/files/a.png"}]}"#),
            .file(status: 200, bytes: Fixtures.png, contentType: "image/png"),
        ])
        let images = try await provider(t).generate(try Self.landscape(), context: .none)
        #expect(fileBytes(try #require(images.first).path) == Fixtures.png)
        let download = try #require(await t.downloads.first)
        #expect(download.request.url == "http://127.0.0.1:9/files/a.png")
        #expect(header(download.request, "Authorization") == nil)
    }

    @Test("no key is auth before any call; a key the upstream echoes is redacted")
    func keyHandling() async throws {
        let r = try Self.landscape()
        let none = ScriptedTransport([])
        #expect(
            await providerError { () async throws(ProviderError) in try await provider(none, key: nil).generate(r, context: .none) }?.code == .auth)
        #expect(await none.calls.isEmpty)
        let echo = ScriptedTransport([
            reply(
                401,
                #"{"error":{"message":"Incorrect API key provided: \#(Self.key).","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#
            )
        ])
        let e = try #require(await providerError { () async throws(ProviderError) in try await provider(echo).generate(r, context: .none) })
        #expect(e.code == .auth)
        #expect(!e.description.contains(Self.key))
        #expect(e.message.contains("<redacted>"))
    }

    @Test("the configuration's base URL and key are what a call uses (another vendor: another id, host and key)")
    func anotherVendorByConfiguration() async throws {
        let t = ScriptedTransport([reply(200, Self.answer)])
        let p = provider(t, key: "acme-key-0001", id: "acme", baseURL: "http://127.0.0.1:7/")
        #expect(p.id == "acme")
        _ = try await p.generate(try Self.landscape(), context: .none)
        let sent = try #require(await t.sends.first)
        #expect(sent.url == "http://127.0.0.1:7/v1/images/generations")
        #expect(header(sent, "Authorization") == "Bearer acme-key-0001")
    }

    @Test("a provider file of kind openai with another id needs no code: NetworkProviders builds its client from the file")
    func providerFileAlone() throws {
        let file = #"""
            {"id": "acme", "kind": "openai", "baseURL": "http://127.0.0.1:7", "apiKeyEnv": "ACME_KEY",
             "models": [{"id": "acme-image", "upstreamId": "acme-image-1", "seedHonored": false,
                         "sizes": {"table": {"1K": {"1:1": "1024x1024"}}}, "price": {"kind": "perImage", "usd": 0.02, "asOf": "2026-12-04"}}]}
            """#
        let catalog = try CatalogLoader.load(documents: [("providers/acme.json", Data(file.utf8))])
        let config = try #require(catalog.provider("acme"))
        let made = NetworkProviders.make(config: config, credentials: Credentials("k"), transport: ScriptedTransport([]))
        let p = try #require(made as? OpenAIProvider)
        #expect(p.id == "acme" && p.configuration.baseURL == "http://127.0.0.1:7")
        #expect(config.baseURLEnv == "ATELIER_ACME_BASE_URL")
    }

    @Test("verifyModels reads GET /v1/models")
    func verifyModels() async throws {
        let t = ScriptedTransport([reply(200, #"{"object":"list","data":[{"id":"gpt-image-2","object":"model"},{"id":"gpt-5","object":"model"}]}"#)])
        let v = try await provider(t).verifyModels(["gpt-image-2", "gpt-image-1"])
        #expect(v == ["gpt-image-2": .present, "gpt-image-1": .missing])
        let sent = try #require(await t.sends.first)
        #expect(sent.method == "GET" && sent.url == "https://api.openai.com/v1/models")
        #expect(header(sent, "Authorization") == "Bearer \(Self.key)")
    }
}
