import AtelierCore
import Foundation
import Testing

@testable import AtelierProviders

@Suite("AUTOMATIC1111 / Forge sdapi")
struct A1111Tests {
    static let auth = "artist:hunter2-secret"

    func provider(_ t: ScriptedTransport, auth: String? = nil) -> A1111Provider {
        A1111Provider(configuration: A1111Provider.defaults.with { $0.credentials = auth.map(Credentials.init) }, transport: t)
    }

    @Test("encodes the exact txt2img body, without auth when no credentials are configured")
    func encodeTxt2Img() throws {
        let r = try Fixtures.request("sd-webui", negative: "blurry", size: .pixels(PixelSize(width: 512, height: 768)), n: 2)
        let http = A1111Codec.encode(r, baseURL: A1111Codec.defaultBaseURL, credentials: nil, timeoutSeconds: 900)
        #expect(http.method == "POST")
        #expect(http.url == "http://127.0.0.1:7860/sdapi/v1/txt2img")
        #expect(http.headers.map { "\($0.0): \($0.1)" } == ["Content-Type: application/json", "Accept: application/json"])
        #expect(http.timeoutSeconds == 900)
        let expected =
            #"{"prompt":"a red fox","negative_prompt":"blurry","seed":42,"width":512,"height":768,"batch_size":2,"n_iter":1,"steps":30,"cfg_scale":7,"sampler_name":"DPM++ 2M","send_images":true,"save_images":false}"#
        #expect(bodyString(http) == expected)
        #expect(A1111Codec.sentParameters(r)["prompt"] == nil)
    }

    @Test("references go to img2img as init_images; user:pass credentials become Basic auth")
    func encodeImg2Img() throws {
        let r = try Fixtures.request("sd-webui", references: [Fixtures.reference()])
        let http = A1111Codec.encode(r, baseURL: A1111Codec.defaultBaseURL, credentials: Credentials(Self.auth), timeoutSeconds: 900)
        #expect(http.url == "http://127.0.0.1:7860/sdapi/v1/img2img")
        #expect(header(http, "Authorization") == "Basic " + Data(Self.auth.utf8).base64EncodedString())
        let b = try bodyJSON(http)
        #expect(b["init_images"] == ["AQIDBAU="] && b["denoising_strength"] == 0.75 && b["negative_prompt"] == "")
        let sent = A1111Codec.sentParameters(r)
        #expect(sent["init_images"] == nil && sent["denoising_strength"] == 0.75)
    }

    @Test("decodes info (a JSON string) for all_seeds, strips data: prefixes, writes one file per image")
    func decodeInfo() async throws {
        let png2 = Fixtures.png + [7]
        let body = #"""
            {"images":["data:image/png;base64,\#(Fixtures.pngBase64)","\#(Data(png2).base64EncodedString())"],
             "parameters":{"prompt":"a red fox","seed":1234,"batch_size":2},
             "info":"{\"prompt\": \"a red fox\", \"seed\": 1234, \"all_seeds\": [1234, 1235], \"subseed\": 99, \"sampler_name\": \"DPM++ 2M\", \"sd_model_hash\": \"abc\", \"infotexts\": [\"a\", \"b\"]}"}
            """#
        let t = ScriptedTransport([reply(200, body)])
        let r = try Fixtures.request("sd-webui", seed: 1234, n: 2)
        let images = try await provider(t).generate(r, context: .none)
        #expect(images.map(\.seed) == [1234, 1235])
        #expect(images.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["\(Fixtures.attemptKey)-0.png", "\(Fixtures.attemptKey)-1.png"])
        #expect(fileBytes(images[0].path) == Fixtures.png)
        #expect(fileBytes(images[1].path) == png2)
        #expect(images.allSatisfy { $0.costUSD == 0 && $0.mimeType == "image/png" })
    }

    @Test("without all_seeds a batch counts up from seed; extra images (e.g. control maps) are ignored; JPEG is named by its bytes")
    func decodeFallbacks() async throws {
        let jpeg = Data(Fixtures.jpeg).base64EncodedString()
        let out = try A1111Codec.decode(response(200, #"{"images":["\#(jpeg)","\#(jpeg)","\#(jpeg)"],"info":"{\"seed\": 10}"}"#), expected: 2)
        #expect(out.seeds == [10, 11] && out.images.count == 2)
        let t = ScriptedTransport([reply(200, #"{"images":["\#(jpeg)"],"info":"not json"}"#)])
        let img = try #require(try await provider(t).generate(try Fixtures.request("sd-webui", seed: 5), context: .none).first)
        #expect(img.mimeType == "image/jpeg" && img.path.hasSuffix("-0.jpg") && img.seed == nil)
    }

    @Test("no images, or too few, is no_image")
    func noImages() {
        #expect(
            providerError { () throws(ProviderError) in try A1111Codec.decode(response(200, #"{"images":[],"info":"{}"}"#), expected: 1) }?.code
                == .noImage)
        #expect(
            providerError { () throws(ProviderError) in try A1111Codec.decode(response(200, #"{"images":["AAAA"]}"#), expected: 2) }?.code == .noImage
        )
        #expect(
            providerError { () throws(ProviderError) in try A1111Codec.decode(response(200, #"{"images":["AA"#), expected: 1) }?.code == .badUpstream)
    }

    @Test("errors: 422 names the field, 500 (out of memory) is unavailable, 404 hints at --api, 401 is auth")
    func errors() {
        let v = A1111Codec.decodeError(
            response(422, #"{"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]}"#))
        #expect(v.code == .invalidRequest && v.field == "/steps" && v.message.contains("steps: value is not a valid integer"))
        let oom = A1111Codec.decodeError(
            response(500, #"{"error":"OutOfMemoryError","detail":"","body":"","errors":"CUDA out of memory. Tried to allocate 2.00 GiB"}"#))
        #expect(oom.code == .unavailable && oom.message.contains("CUDA out of memory"))
        let api = A1111Codec.decodeError(response(404, #"{"detail":"Not Found"}"#))
        #expect(api.code == .unavailable && api.message.contains("--api"))
        #expect(A1111Codec.decodeError(response(401, #"{"detail":"Not authenticated"}"#)).code == .auth)
    }

    @Test("credentials never appear in an error, whole or in part")
    func redacted() async throws {
        let t = ScriptedTransport([reply(401, #"{"detail":"Incorrect credentials \#(Self.auth) / hunter2-secret"}"#)])
        let e = try #require(
            await providerError { () async throws(ProviderError) in
                try await provider(t, auth: Self.auth).generate(try! Fixtures.request("sd-webui"), context: .none)
            })
        #expect(e.code == .auth)
        #expect(!e.message.contains(Self.auth) && !e.message.contains("hunter2-secret"))
    }

    @Test("verifyModels: the loaded checkpoint is always present; named checkpoints are looked up")
    func verify() async throws {
        let t = ScriptedTransport([reply(200, #"[{"title":"sdxl_base.safetensors [31e35c80fc]","model_name":"sdxl_base","hash":"31e35c80fc"}]"#)])
        let v = try await provider(t).verifyModels(["current", "sdxl_base", "missing_model"])
        #expect(v == ["current": .present, "sdxl_base": .present, "missing_model": .missing])
        #expect(await t.requests.first?.url == "http://127.0.0.1:7860/sdapi/v1/sd-models")
    }
}
