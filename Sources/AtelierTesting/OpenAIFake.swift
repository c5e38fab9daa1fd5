import AtelierCore
import Foundation
import Synchronization

/// A loopback OpenAI Images API (`api.openai.com`), or any OpenAI-compatible images vendor (started with its own key
/// and model list): generations, edits and the model list, with OpenAI's error envelope
/// `{"error":{"message","type","param","code"}}`.
///
/// - `POST /v1/images/generations` (JSON) — checks `Authorization: Bearer`, the model, `size` (GPT Image 2: any
///   `WxH` with both sides multiples of 16, the long side at most 3840, a ratio of at most 3:1 and 655,360–8,294,400
///   pixels; other models: `1024x1024`, `1536x1024`, `1024x1536`; `auto` everywhere), `quality` (`low`, `medium`,
///   `high`, `auto`; 2.5/2.6 also `xhigh`, `max`), `n` 1–10, `output_format`, and refuses members the API does not
///   know (`seed`, `negative_prompt`, `aspect_ratio`: "Unknown parameter"). GPT image models answer base64
///   (`response_format` is refused); other models answer a URL on this server when asked `response_format: "url"`.
///   The answer is `{created, data:[{b64_json}], background, output_format, quality, size, usage}` with token counts
///   that grow with quality and size.
/// - `POST /v1/images/edits` (multipart) — the same fields as form parts plus 1–16 `image[]` (or `image`) files.
/// - `GET /v1/models` — `{"object":"list","data":[{"id",…}]}`.
///
/// Scenarios (prompt tokens or ``FakeScript``): `rate-limit` (429 `rate_limit_exceeded` with `retry-after: 1` and
/// `retry-after-ms: 200`), `quota-day` and `no-credits` (429 `insufficient_quota`), `503`, `failed`/`oom` (500
/// `server_error`), `blocked` (400 `moderation_blocked`), `image-safety` (400 `content_policy_violation`),
/// `invalid` (400 `invalid_value` on `size`), `no-image` (200 with `data: []`), `malformed`, `reset`, `jpeg` (JPEG bytes
/// whatever `output_format` said).
public final class OpenAIFake: FakeProvider {
    public let name: String
    public let apiKey: String
    public let log: FakeRequestLog
    public let script: FakeScript
    public let server: FakeHTTPServer
    public var baseURL: String { server.baseURL }
    /// Include the received key in auth error messages (tests check the daemon redacts it).
    public let echoKeyInErrors: Bool

    private struct State {
        var models: [String]
        var served: [FakeServedImage] = []
        var files: [String: [UInt8]] = [:]
    }

    private let state: Mutex<State>

    /// Models listed by default: OpenAI's current image models (gpt-image-1 was shut down on 2026-10-23, DALL·E on
    /// 2026-05-12) and a text model.
    public static let defaultModels = [
        "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-2.5-sunburst", "gpt-image-2.5-flare",
        "gpt-image-2.6-sunburst", "gpt-image-2.6-flare", "chatgpt-image-latest", "gpt-5",
    ]

    /// Members the Images API accepts; anything else is "Unknown parameter".
    static let knownFields: Set<String> = [
        "model", "prompt", "n", "size", "quality", "output_format", "output_compression", "background", "moderation", "user",
        "response_format", "style", "partial_images", "stream", "input_fidelity", "mask", "image", "image[]",
    ]

    private init(name: String, apiKey: String, server: FakeHTTPServer, log: FakeRequestLog, models: [String], echoKeyInErrors: Bool) {
        self.name = name
        self.apiKey = apiKey
        self.server = server
        self.log = log
        self.script = FakeScript(provider: name)
        self.echoKeyInErrors = echoKeyInErrors
        self.state = Mutex(State(models: models))
    }

    /// Starts the fake on an ephemeral loopback port.
    /// - Parameter name: the provider id it stands for (`openai`, or another compatible vendor's id); prompt tokens
    ///   `[fake:<name>:…]` address it.
    public static func start(
        apiKey: String, name: String = "openai", models: [String] = defaultModels, echoKeyInErrors: Bool = false
    ) async throws -> OpenAIFake {
        let box = WeakRef<OpenAIFake>()
        let log = FakeRequestLog()
        let server = try await FakeHTTPServer.start(host: "api", log: log) { req in
            guard let me = box.value else { return .respond(status: 503, headers: [], body: []) }
            return me.handle(req)
        }
        let fake = OpenAIFake(name: name, apiKey: apiKey, server: server, log: log, models: models, echoKeyInErrors: echoKeyInErrors)
        box.set(fake)
        return fake
    }

    public func shutdown() async { await server.shutdown() }

    /// Every image answered, in order.
    public var served: [FakeServedImage] { state.withLock { $0.served } }

    /// Replaces the listed models.
    public func setModels(_ models: [String]) { state.withLock { $0.models = models } }

    /// The generation and edit requests received.
    public var imageRequests: [RecordedRequest] { log.filter { $0.method == "POST" && $0.path.hasPrefix("/v1/images/") } }

    // MARK: - Routing

    func handle(_ req: RecordedRequest) -> FakeReply {
        if req.method == "GET", req.path.hasPrefix("/files/") {
            let id = String(req.path.dropFirst("/files/".count))
            guard let bytes = state.withLock({ $0.files[id] }) else { return Self.error(404, "File not found.", type: "invalid_request_error") }
            return .bytes(200, bytes, contentType: "image/png")
        }
        if let auth = checkKey(req) { return auth }
        let models = state.withLock { $0.models }
        switch (req.method, req.path) {
        case ("GET", "/v1/models"):
            let (failure, _) = script.decide(stage: .list, prompt: nil)
            if let f = failure, let reply = failureReply(f, model: "models") { return reply }
            let data: [JSONValue] = models.map { ["id": .string($0), "object": "model", "created": 1_745_000_000, "owned_by": "system"] }
            return .json(200, ["object": "list", "data": .array(data)])
        case ("POST", "/v1/images/generations"):
            guard let body = req.json, case .object(let o) = body else {
                return Self.error(
                    400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)",
                    type: "invalid_request_error")
            }
            var fields: [String: String] = [:]
            for (k, v) in o { fields[k] = v.stringValue ?? JSONWriter.string(v) }
            return generate(fields: fields, images: [], models: models, endpoint: "generations")
        case ("POST", "/v1/images/edits"):
            guard let form = Self.parseMultipart(req) else {
                return Self.error(400, "Invalid multipart/form-data body.", type: "invalid_request_error")
            }
            return generate(fields: form.fields, images: form.files, models: models, endpoint: "edits")
        default:
            return Self.error(404, "Invalid URL (\(req.method) \(req.path))", type: "invalid_request_error")
        }
    }

    private func checkKey(_ req: RecordedRequest) -> FakeReply? {
        guard let auth = req.header("Authorization"), auth.hasPrefix("Bearer "), auth.count > 7 else {
            return Self.error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                type: "invalid_request_error")
        }
        let key = String(auth.dropFirst(7))
        guard key == apiKey else {
            let shown = echoKeyInErrors ? key : String(key.prefix(3)) + "*****" + String(key.suffix(4))
            return Self.error(
                401, "Incorrect API key provided: \(shown). You can find your API key at https://platform.openai.com/account/api-keys.",
                type: "invalid_request_error", code: "invalid_api_key")
        }
        return nil
    }

    // MARK: - Images

    private func generate(fields: [String: String], images: [[UInt8]], models: [String], endpoint: String) -> FakeReply {
        let prompt = fields["prompt"] ?? ""
        let (failure, modifiers) = script.decide(stage: .generate, prompt: prompt)
        let model = fields["model"] ?? "gpt-image-2"
        if let f = failure, let reply = failureReply(f, model: model) { return reply }

        for k in fields.keys.sorted() where !Self.knownFields.contains(k) {
            return Self.error(400, "Unknown parameter: '\(k)'.", type: "invalid_request_error", param: k, code: "unknown_parameter")
        }
        guard models.contains(model) else {
            return Self.error(
                404, "The model `\(model)` does not exist or you do not have access to it.", type: "invalid_request_error", code: "model_not_found")
        }
        let gpt = model.hasPrefix("gpt-image") || model.hasPrefix("chatgpt-image")
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return Self.error(
                400, "Missing required parameter: 'prompt'.", type: "invalid_request_error", param: "prompt", code: "missing_required_parameter")
        }
        let n = Int(fields["n"] ?? "1") ?? 0
        guard (1...10).contains(n) else {
            return Self.error(
                400, "Invalid 'n': integer below minimum value or above maximum value (1–10).", type: "invalid_request_error", param: "n",
                code: "integer_out_of_range")
        }
        let sizeText = fields["size"] ?? "auto"
        guard let (w, h) = Self.size(sizeText, model: model) else {
            let hint =
                model.hasPrefix("gpt-image-2")
                ? "Both sides must be multiples of 16, the longest side at most 3840px, the aspect ratio at most 3:1, and the image between 655,360 and 8,294,400 pixels."
                : "Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'."
            return Self.error(400, "Invalid value: '\(sizeText)'. \(hint)", type: "invalid_request_error", param: "size", code: "invalid_value")
        }
        let quality = fields["quality"] ?? "auto"
        let qualities = model.hasPrefix("gpt-image-2.5") || model.hasPrefix("gpt-image-2.6") ? Self.extendedQualities : Self.standardQualities
        guard qualities.contains(quality) else {
            return Self.error(
                400, "Invalid value: '\(quality)'. Supported values are: \(qualities.map { "'\($0)'" }.joined(separator: ", ")).",
                type: "invalid_request_error", param: "quality", code: "invalid_value")
        }
        let format = fields["output_format"] ?? "png"
        guard ["png", "jpeg", "webp"].contains(format) else {
            return Self.error(
                400, "Invalid value: '\(format)'. Supported values are: 'png', 'jpeg', and 'webp'.", type: "invalid_request_error",
                param: "output_format", code: "invalid_value")
        }
        if model.hasPrefix("gpt-image-2"), fields["background"] == "transparent" {
            return Self.error(
                400, "Transparent background is not supported for this model.", type: "invalid_request_error", param: "background",
                code: "invalid_value")
        }
        let wantsURL = fields["response_format"] == "url"
        if gpt, fields["response_format"] != nil {
            return Self.error(
                400, "Unknown parameter: 'response_format'.", type: "invalid_request_error", param: "response_format", code: "unknown_parameter")
        }
        if endpoint == "edits" {
            guard !images.isEmpty else {
                return Self.error(
                    400, "Missing required parameter: 'image'.", type: "invalid_request_error", param: "image", code: "missing_required_parameter")
            }
            guard images.count <= 16 else {
                return Self.error(400, "Too many images: at most 16.", type: "invalid_request_error", param: "image", code: "invalid_value")
            }
            for img in images where Self.sniff(img) == nil {
                return Self.error(
                    400, "Invalid image file or mode for image 1, please check your image file.", type: "invalid_request_error", param: "image",
                    code: "invalid_image_file")
            }
        }

        let bytesFormat: FakeImages.Format = modifiers.contains(.jpeg) || format == "jpeg" ? .jpeg : .png
        let clean = FakePromptToken.strip(prompt)
        let effectiveQuality = quality == "auto" ? "medium" : quality
        let out = Self.outputTokens(quality: effectiveQuality, width: w, height: h)
        let textTokens = max(1, prompt.utf8.count / 4)
        let imageTokens = 388 * images.count
        var data: [JSONValue] = []
        var served: [FakeServedImage] = []
        var files: [(String, [UInt8])] = []
        for _ in 0..<n {
            // No seed: every image is drawn anew.
            let seed = FakeImages.randomSeed()
            let bytes = FakeImages.image(label: name, prompt: clean, seed: seed, width: w, height: h, format: bytesFormat)
            if wantsURL {
                let id = UUID().uuidString.lowercased() + ".png"
                files.append((id, bytes))
                data.append(["url": .string("\(baseURL)/files/\(id)")])
            } else {
                data.append(["b64_json": .string(FakeImages.base64(bytes))])
            }
            served.append(
                FakeServedImage(
                    prompt: prompt, model: model, seed: seed, width: w, height: h, bytes: bytes, mimeType: bytesFormat.mimeType, reportedCostUSD: nil,
                    extra: [
                        "outputTokens": String(out), "textTokens": String(textTokens), "imageTokens": String(imageTokens),
                        "quality": effectiveQuality,
                        "size": "\(w)x\(h)", "endpoint": endpoint, "n": String(n),
                    ], thoughtImages: []))
        }
        state.withLock { s in
            s.served += served
            for (id, b) in files { s.files[id] = b }
        }
        let usage: JSONValue = [
            "total_tokens": .int(Int64(textTokens + imageTokens + out * n)), "input_tokens": .int(Int64(textTokens + imageTokens)),
            "output_tokens": .int(Int64(out * n)),
            "input_tokens_details": ["text_tokens": .int(Int64(textTokens)), "image_tokens": .int(Int64(imageTokens))],
        ]
        return .json(
            200,
            [
                "created": .int(Int64(Date().timeIntervalSince1970)), "background": .string(fields["background"] ?? "opaque"), "data": .array(data),
                "output_format": .string(format), "quality": .string(effectiveQuality), "size": .string("\(w)x\(h)"), "usage": usage,
            ])
    }

    static let standardQualities = ["low", "medium", "high", "auto"]
    static let extendedQualities = ["low", "medium", "high", "xhigh", "max", "auto"]

    /// The pixels of `size` for `model`, or nil when the model does not make that size.
    static func size(_ text: String, model: String) -> (Int, Int)? {
        if text == "auto" { return (1024, 1024) }
        let parts = text.split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0 else { return nil }
        if model.hasPrefix("gpt-image-2") {
            let long = max(w, h)
            let short = min(w, h)
            let pixels = w * h
            guard w % 16 == 0, h % 16 == 0, long <= 3840, long <= 3 * short, (655_360...8_294_400).contains(pixels) else { return nil }
            return (w, h)
        }
        return [(1024, 1024), (1536, 1024), (1024, 1536)].contains { $0 == (w, h) } ? (w, h) : nil
    }

    /// Output tokens per image: OpenAI's published 1024×1024 examples for GPT Image 2 (low 196, medium 1756, high
    /// 7024 tokens at $30/M ≈ $0.006, $0.053, $0.211), non-square 1K about a fifth less, larger sizes by pixel count.
    static func outputTokens(quality: String, width: Int, height: Int) -> Int {
        let base: Double
        switch quality {
        case "low": base = 196
        case "high": base = 7024
        case "xhigh": base = 12_488
        case "max": base = 28_096
        default: base = 1756
        }
        if width == 1024 && height == 1024 { return Int(base) }
        let scale = Double(width * height) / (1024 * 1024)
        return Int((base * (width == height ? scale : 0.78 * scale / 1.5)).rounded())
    }

    // MARK: - Failures

    private func failureReply(_ f: FakeScenario, model: String) -> FakeReply? {
        switch f {
        case .rateLimited:
            return Self.error(
                429,
                "Rate limit reached for \(model) in organization org-fake on images per minute (IPM): Limit 5, Used 5, Requested 1. Please try again in 200ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
                type: "requests", code: "rate_limit_exceeded",
                headers: [
                    ("retry-after", "1"), ("retry-after-ms", "200"), ("x-ratelimit-limit-requests", "5"), ("x-ratelimit-remaining-requests", "0"),
                    ("x-ratelimit-reset-requests", "200ms"),
                ])
        case .quotaPerDay, .noCredits:
            return Self.error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                type: "insufficient_quota", code: "insufficient_quota")
        case .unavailable:
            return Self.error(503, "The server is overloaded or not ready yet.", type: "server_error")
        case .failed, .oom:
            return Self.error(
                500,
                "The server had an error processing your request. Sorry about that! You can retry your request, or contact us through our help center at help.openai.com if you keep seeing this error.",
                type: "server_error")
        case .blocked:
            return Self.error(
                400,
                "Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID req_fake0123456789. safety_violations=[violence].",
                type: "image_generation_user_error", code: "moderation_blocked")
        case .imageSafety:
            return Self.error(
                400,
                "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.",
                type: "invalid_request_error", code: "content_policy_violation")
        case .invalid:
            return Self.error(
                400, "Invalid value: '1000x1000'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.",
                type: "invalid_request_error", param: "size", code: "invalid_value")
        case .noImage:
            return .json(200, ["created": .int(Int64(Date().timeIntervalSince1970)), "data": []])
        case .malformed:
            return .malformedJSON(#"{"created": 1760000000, "data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAA"#)
        case .reset:
            let bytes = FakeImages.image(label: name, prompt: "reset", seed: 1, width: 64, height: 64)
            let full = JSONWriter.bytes(["created": 1_760_000_000, "data": [["b64_json": .string(FakeImages.base64(bytes))]]])
            return .resetMidBody(status: 200, headers: [("Content-Type", "application/json")], body: full, afterBytes: full.count / 2)
        default:
            // Modifiers (`ok`, `thoughts`, `hold`, `jpeg`, and the Gemini-only ones) do not fail a call.
            return nil
        }
    }

    /// OpenAI's error envelope.
    static func error(
        _ status: Int, _ message: String, type: String, param: String? = nil, code: String? = nil, headers: [(String, String)] = []
    ) -> FakeReply {
        let e: JSONObject = [
            "message": .string(message), "type": .string(type), "param": param.map(JSONValue.string) ?? .null,
            "code": code.map(JSONValue.string) ?? .null,
        ]
        return .json(status, ["error": .object(e)], headers: headers)
    }

    // MARK: - Multipart

    /// The text fields and files of a `multipart/form-data` body (files under `image` / `image[]`).
    static func parseMultipart(_ req: RecordedRequest) -> (fields: [String: String], files: [[UInt8]])? {
        guard let ct = req.header("Content-Type"), ct.lowercased().hasPrefix("multipart/form-data"),
            let b = ct.range(of: "boundary=")
        else { return nil }
        var boundary = String(ct[b.upperBound...])
        if let semi = boundary.firstIndex(of: ";") { boundary = String(boundary[..<semi]) }
        boundary = boundary.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        let delimiter = Array("--\(boundary)".utf8)
        let body = req.body
        var fields: [String: String] = [:]
        var files: [[UInt8]] = []
        var positions: [Int] = []
        var i = 0
        while i + delimiter.count <= body.count {
            if body[i] == delimiter[0] && Array(body[i..<(i + delimiter.count)]) == delimiter {
                positions.append(i)
                i += delimiter.count
            } else {
                i += 1
            }
        }
        guard positions.count >= 2 else { return nil }
        for (a, z) in zip(positions, positions.dropFirst()) {
            var part = Array(body[(a + delimiter.count)..<z])
            if part.starts(with: [13, 10]) { part.removeFirst(2) }
            if part.count >= 2 && part.suffix(2) == [13, 10] { part.removeLast(2) }
            guard let sep = Self.find([13, 10, 13, 10], in: part) else { return nil }
            let head = String(decoding: part[..<sep], as: UTF8.self)
            let content = Array(part[(sep + 4)...])
            guard let nameRange = head.range(of: "name=\"") else { return nil }
            let rest = head[nameRange.upperBound...]
            guard let close = rest.firstIndex(of: "\"") else { return nil }
            let name = String(rest[..<close])
            if head.contains("filename=") {
                guard name == "image" || name == "image[]" else { return nil }
                files.append(content)
            } else {
                fields[name] = String(decoding: content, as: UTF8.self)
            }
        }
        return (fields, files)
    }

    /// The image type of an uploaded file from its magic number (PNG, JPEG, WebP), or nil.
    static func sniff(_ b: [UInt8]) -> String? {
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "image/png" }
        if b.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if b.count >= 12, b.starts(with: Array("RIFF".utf8)), Array(b[8..<12]) == Array("WEBP".utf8) { return "image/webp" }
        return nil
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}

extension FakeProviders {
    /// The OpenAI fake.
    public var openai: OpenAIFake { fake() }
}
