import AtelierCore
import Foundation
import Synchronization

/// A loopback Gemini API (`generativelanguage.googleapis.com`): `generateContent` for image models and the model
/// list, with Google's error envelope `{"error":{code,message,status,details:[…]}}`.
///
/// - `POST /v1beta/models/{model}:generateContent` — checks `x-goog-api-key` (or `?key=`), the model, the
///   `imageConfig` (ratio, uppercase `imageSize`) and `candidateCount`; answers a candidate whose last part is the
///   final image (a fresh random seed each call: Gemini does not reproduce), with `usageMetadata` token counts.
/// - `GET /v1beta/models?pageSize=&pageToken=` — the listed models, paged (at most ``maxPageSize`` per page, so
///   paging is exercised), and `GET /v1beta/models/{model}`.
///
/// Scenarios (prompt tokens or ``FakeScript``): `rate-limit` (429 with `RetryInfo` ``rateLimitRetryDelay`` and a
/// per-minute `QuotaFailure`), `quota-day`, `503`, `blocked` (200 + `promptFeedback.blockReason`), `image-safety`,
/// `no-image`, `invalid` (400 with `BadRequest.fieldViolations`), `malformed`, `reset`, `thoughts` (two thought
/// images and thought text before the final image), `jpeg`.
///
/// The Batch API (GeminiFake+Batch.swift): `POST …:batchGenerateContent` (inline requests or a `fileName`), the Files
/// API's resumable upload and `…:download?alt=media`, and `GET /v1beta/batches/{id}` (`BATCH_STATE_*`).
public final class GeminiFake: FakeProvider {
    public let name = "gemini"
    public let apiKey: String
    public let log: FakeRequestLog
    public let script = FakeScript(provider: "gemini")
    public let server: FakeHTTPServer
    public var baseURL: String { server.baseURL }

    /// The `retryDelay` sent with 429 answers (a protobuf Duration string).
    public let rateLimitRetryDelay: String
    /// The most models one list page holds.
    public let maxPageSize: Int
    /// Include the received key in auth error messages (some upstreams echo it; tests check the daemon redacts it).
    public let echoKeyInErrors: Bool

    private struct State {
        var models: [String]
        var served: [FakeServedImage] = []
    }

    private let state: Mutex<State>
    /// Batches and files of the Batch API.
    let batchState = Mutex(BatchState())

    /// Models listed by default: today's image and text models. The retired previews and
    /// `gemini-2.5-flash-image` (shut down on 2026-10-02) are not listed.
    public static let defaultModels = [
        "gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro", "gemini-3-pro-image", "gemini-3.1-flash", "gemini-3.1-flash-image",
        "gemini-3.1-flash-lite-image", "gemini-nano-banana-2.1", "gemini-embedding-001",
    ]

    private init(
        apiKey: String, server: FakeHTTPServer, log: FakeRequestLog, models: [String], rateLimitRetryDelay: String, maxPageSize: Int,
        echoKeyInErrors: Bool
    ) {
        self.apiKey = apiKey
        self.server = server
        self.log = log
        self.rateLimitRetryDelay = rateLimitRetryDelay
        self.maxPageSize = maxPageSize
        self.echoKeyInErrors = echoKeyInErrors
        self.state = Mutex(State(models: models))
    }

    /// Starts the fake on an ephemeral loopback port.
    public static func start(
        apiKey: String, models: [String] = defaultModels, rateLimitRetryDelay: String = "0.2s", maxPageSize: Int = 5, echoKeyInErrors: Bool = false
    ) async throws -> GeminiFake {
        let box = WeakRef<GeminiFake>()
        let log = FakeRequestLog()
        let server = try await FakeHTTPServer.start(host: "api", log: log) { req in
            guard let me = box.value else { return .respond(status: 503, headers: [], body: []) }
            return me.handle(req)
        }
        let fake = GeminiFake(
            apiKey: apiKey, server: server, log: log, models: models, rateLimitRetryDelay: rateLimitRetryDelay, maxPageSize: maxPageSize,
            echoKeyInErrors: echoKeyInErrors)
        box.set(fake)
        return fake
    }

    public func shutdown() async { await server.shutdown() }

    /// Every image answered, in order.
    public var served: [FakeServedImage] { state.withLock { $0.served } }

    /// Replaces the listed models (what `GET /v1beta/models` and `generateContent` accept).
    public func setModels(_ models: [String]) { state.withLock { $0.models = models } }

    /// The `generateContent` requests received.
    public var generateRequests: [RecordedRequest] { log.filter { $0.path.hasSuffix(":generateContent") } }

    // MARK: - Routing

    func handle(_ req: RecordedRequest) -> FakeReply {
        let path = req.path
        if path.hasPrefix("/v1beta/batches/") || path.hasPrefix("/upload/v1beta/files") || path.hasPrefix("/download/v1beta/files/") {
            if let auth = checkKey(req) { return auth }
            return batchRoute(req)
        }
        guard path.hasPrefix("/v1beta/models") else {
            return Self.error(404, "NOT_FOUND", "The requested URL \(path) was not found on this server.")
        }
        if let auth = checkKey(req) { return auth }
        let models = state.withLock { $0.models }
        if req.method == "GET", path == "/v1beta/models" { return list(req, models: models) }
        let rest = String(path.dropFirst("/v1beta/models/".count))
        if req.method == "GET", !rest.contains(":") {
            guard models.contains(rest) else { return Self.error(404, "NOT_FOUND", "models/\(rest) is not found for API version v1beta") }
            return .json(200, modelJSON(rest))
        }
        guard req.method == "POST", let colon = rest.lastIndex(of: ":") else {
            return Self.error(404, "NOT_FOUND", "The requested URL \(path) was not found on this server.")
        }
        let model = String(rest[..<colon])
        let method = String(rest[rest.index(after: colon)...])
        guard method == "generateContent" || method == "batchGenerateContent" else {
            return Self.error(400, "INVALID_ARGUMENT", "The fake implements only generateContent and batchGenerateContent, not \(method).")
        }
        guard models.contains(model) else {
            return Self.error(
                404, "NOT_FOUND",
                "models/\(model) is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
            )
        }
        if method == "batchGenerateContent" { return createBatch(req, model: model) }
        return generate(json: req.json, model: model)
    }

    private func checkKey(_ req: RecordedRequest) -> FakeReply? {
        let key = req.header("x-goog-api-key") ?? req.query["key"]
        guard let key, !key.isEmpty else {
            return Self.error(
                403, "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
            )
        }
        guard key == apiKey else {
            let msg = "API key not valid. Please pass a valid API key." + (echoKeyInErrors ? " (received '\(key)')" : "")
            return Self.error(
                400, "INVALID_ARGUMENT", msg,
                details: [
                    [
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                        "metadata": ["service": "generativelanguage.googleapis.com"],
                    ],
                    ["@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": .string(msg)],
                ])
        }
        return nil
    }

    // MARK: - Models

    private func modelJSON(_ id: String) -> JSONValue {
        let image = id.contains("image") || id.contains("banana")
        return [
            "name": .string("models/\(id)"), "version": "001", "displayName": .string(id), "description": .string("Fake \(id)"),
            "inputTokenLimit": image ? 65536 : 1_048_576, "outputTokenLimit": image ? 32768 : 65536,
            "supportedGenerationMethods": image ? ["generateContent", "countTokens", "batchGenerateContent"] : ["generateContent", "countTokens"],
        ]
    }

    private func list(_ req: RecordedRequest, models: [String]) -> FakeReply {
        let (failure, _) = script.decide(stage: .list, prompt: nil)
        if let f = failure, let reply = failureReply(f, model: "models", body: nil) { return reply }
        let requested = Int(req.query["pageSize"] ?? "") ?? 50
        let size = max(1, min(requested, maxPageSize, 1000))
        let start = Int(req.query["pageToken"].flatMap { $0.hasPrefix("page-") ? String($0.dropFirst(5)) : nil } ?? "0") ?? 0
        let page = models.dropFirst(start).prefix(size)
        var out: JSONObject = ["models": .array(page.map(modelJSON))]
        if start + size < models.count { out.append("nextPageToken", .string("page-\(start + size)")) }
        return .json(200, .object(out))
    }

    // MARK: - generateContent

    /// 1K pixel sizes of the Gemini 3 grid, by ratio (512 is half, 2K double, 4K four times).
    static let grid1K: [String: (Int, Int)] = [
        "1:1": (1024, 1024), "2:3": (848, 1264), "3:2": (1264, 848), "3:4": (896, 1200), "4:3": (1200, 896), "4:5": (928, 1152),
        "5:4": (1152, 928), "9:16": (768, 1376), "16:9": (1376, 768), "21:9": (1584, 672), "1:4": (512, 2048), "4:1": (2048, 512),
        "1:8": (384, 3072), "8:1": (3072, 384),
    ]
    /// Gemini 2.5 Flash Image's single tier.
    static let grid25: [String: (Int, Int)] = [
        "1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184), "4:3": (1184, 864), "4:5": (896, 1152),
        "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672),
    ]
    static let extremeRatios: Set<String> = ["1:4", "4:1", "1:8", "8:1"]

    /// One `generateContent` answer for `json` (also each request of a batch).
    func generate(json: JSONValue?, model: String) -> FakeReply {
        guard let body = json, body.objectValue != nil else {
            return Self.error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
        }
        let parts = body["contents"]?.arrayValue?.first?["parts"]?.arrayValue ?? []
        let prompt = parts.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        let inlineImages = parts.filter { $0["inlineData"] != nil || $0["inline_data"] != nil }.count
        let (failure, modifiers) = script.decide(stage: .generate, prompt: prompt)
        if let f = failure, let reply = failureReply(f, model: model, body: body) { return reply }

        // Validation, as Google does it.
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || inlineImages > 0 else {
            return Self.error(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified")
        }
        let config = body["generationConfig"]
        if let n = config?["candidateCount"]?.intValue, n != 1 {
            return Self.error(400, "INVALID_ARGUMENT", "Multiple candidates is not enabled for models/\(model)")
        }
        let modalities = (config?["responseModalities"]?.arrayValue ?? []).compactMap(\.stringValue)
        if !modalities.isEmpty && !modalities.contains("IMAGE") {
            return Self.error(400, "INVALID_ARGUMENT", "Model \(model) requires responseModalities to include IMAGE")
        }
        let ratio = config?["imageConfig"]?["aspectRatio"]?.stringValue ?? "1:1"
        let sizeValue = config?["imageConfig"]?["imageSize"]?.stringValue
        let is25 = model.hasPrefix("gemini-2.5")
        let isFlash31 = model.contains("3.1-flash") && !model.contains("lite")
        let grid = is25 ? Self.grid25 : Self.grid1K
        guard var dims = grid[ratio], !(Self.extremeRatios.contains(ratio) && !isFlash31) else {
            return Self.fieldError(
                "generation_config.image_config.aspect_ratio", "Unsupported aspect ratio '\(ratio)' for model \(model).")
        }
        var tier = "1K"
        if let s = sizeValue {
            let allowed: Set<String> = is25 ? ["1K"] : isFlash31 ? ["512", "1K", "2K", "4K"] : ["1K", "2K", "4K"]
            guard allowed.contains(s) else {
                return Self.fieldError(
                    "generation_config.image_config.image_size",
                    "Unsupported image size '\(s)' for model \(model). Supported values: \(allowed.sorted().joined(separator: ", ")) (the K must be uppercase)."
                )
            }
            tier = s
        }
        switch tier {
        case "512": dims = ratio == "21:9" ? (792, 336) : (dims.0 / 2, dims.1 / 2)
        case "2K": dims = (dims.0 * 2, dims.1 * 2)
        case "4K": dims = (dims.0 * 4, dims.1 * 4)
        default: break
        }

        if modifiers.contains(.smaller) { dims = (dims.0 / 2, dims.1 / 2) }
        let servedModel =
            modifiers.contains(.otherModel) ? (model == "gemini-2.5-flash-image" ? "gemini-3.1-flash-image" : "gemini-2.5-flash-image") : model

        // Gemini ignores the seed: every call draws anew.
        let seed = FakeImages.randomSeed()
        let clean = FakePromptToken.strip(prompt)
        let jpeg = modifiers.contains(.jpeg)
        let format: FakeImages.Format = jpeg ? .jpeg : .png
        let final = FakeImages.image(label: "gemini", prompt: clean, seed: seed, width: dims.0, height: dims.1, format: format)
        var outParts: [JSONValue] = []
        var thoughtImages: [[UInt8]] = []
        if modifiers.contains(.thoughts) {
            outParts.append(["text": "**Composing the scene**\n\nI am sketching the layout before rendering the final image.", "thought": true])
            for i in 0..<2 {
                let t = FakeImages.image(
                    label: "gemini-thought-\(i)", prompt: clean, seed: seed &+ UInt64(i + 1), width: dims.0 / 4, height: dims.1 / 4)
                thoughtImages.append(t)
                outParts.append(["inlineData": ["mimeType": "image/png", "data": .string(FakeImages.base64(t))], "thought": true])
            }
        }
        let visible = "Here is the image you asked for."
        outParts.append(["text": .string(visible)])
        outParts.append([
            "inlineData": ["mimeType": .string(format.mimeType), "data": .string(FakeImages.base64(final))],
            "thoughtSignature": .string("fake-signature-" + String(seed, radix: 16)),
        ])
        let promptTokens = max(1, prompt.utf8.count / 4) + 258 * inlineImages
        let imageTokens: Int
        switch (is25, isFlash31, tier) {
        case (true, _, _): imageTokens = 1290
        case (_, true, "512"): imageTokens = 747
        case (_, true, "2K"): imageTokens = 1680
        case (_, true, "4K"): imageTokens = 2520
        case (_, false, "4K"): imageTokens = 2000
        default: imageTokens = 1120
        }
        let textTokens = 8
        let thoughtTokens = modifiers.contains(.thoughts) ? 212 : 0
        let usage: JSONValue = [
            "promptTokenCount": .int(Int64(promptTokens)), "candidatesTokenCount": .int(Int64(imageTokens + textTokens)),
            "thoughtsTokenCount": .int(Int64(thoughtTokens)), "totalTokenCount": .int(Int64(promptTokens + imageTokens + textTokens + thoughtTokens)),
            "promptTokensDetails": [["modality": "TEXT", "tokenCount": .int(Int64(promptTokens))]],
            "candidatesTokensDetails": [
                ["modality": "IMAGE", "tokenCount": .int(Int64(imageTokens))], ["modality": "TEXT", "tokenCount": .int(Int64(textTokens))],
            ],
        ]
        let response: JSONValue = [
            "candidates": [["content": ["role": "model", "parts": .array(outParts)], "finishReason": "STOP", "index": 0]],
            "usageMetadata": usage, "modelVersion": .string(servedModel), "responseId": .string("fake-" + UUID().uuidString.lowercased().prefix(16)),
        ]
        state.withLock { s in
            s.served.append(
                FakeServedImage(
                    prompt: prompt, model: model, seed: seed, width: dims.0, height: dims.1, bytes: final, mimeType: format.mimeType,
                    reportedCostUSD: nil,
                    extra: [
                        "promptTokenCount": String(promptTokens), "imageTokenCount": String(imageTokens), "textTokenCount": String(textTokens),
                        "thoughtsTokenCount": String(thoughtTokens), "note": visible, "tier": tier, "aspectRatio": ratio,
                    ], thoughtImages: thoughtImages))
        }
        return .json(200, response)
    }

    private func failureReply(_ f: FakeScenario, model: String, body: JSONValue?) -> FakeReply? {
        switch f {
        case .rateLimited, .quotaPerDay:
            let perDay = f == .quotaPerDay
            let quotaId = perDay ? "GenerateRequestsPerDayPerProjectPerModel-FreeTier" : "GenerateRequestsPerMinutePerProjectPerModel"
            let delay = perDay ? "43200s" : rateLimitRetryDelay
            return Self.error(
                429, "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_requests_per_model, limit: 10, model: \(model)\nPlease retry in \(delay).",
                details: [
                    [
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            [
                                "quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model", "quotaId": .string(quotaId),
                                "quotaDimensions": ["location": "global", "model": .string(model)], "quotaValue": "10",
                            ]
                        ],
                    ],
                    [
                        "@type": "type.googleapis.com/google.rpc.Help",
                        "links": [["description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"]],
                    ],
                    ["@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": .string(delay)],
                ])
        case .unavailable:
            return Self.error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        case .blocked:
            return .json(
                200,
                [
                    "promptFeedback": [
                        "blockReason": "SAFETY",
                        "safetyRatings": [["category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true]],
                    ],
                    "usageMetadata": ["promptTokenCount": 12, "totalTokenCount": 12], "modelVersion": .string(model),
                ])
        case .imageSafety:
            return .json(
                200,
                [
                    "candidates": [
                        [
                            "content": [
                                "role": "model", "parts": [["text": "I can't create that image because it may violate the content policy."]],
                            ],
                            "finishReason": "IMAGE_SAFETY", "finishMessage": "Unable to show the generated image: it was filtered.", "index": 0,
                        ]
                    ],
                    "usageMetadata": ["promptTokenCount": 12, "candidatesTokenCount": 20, "totalTokenCount": 32], "modelVersion": .string(model),
                ])
        case .noImage:
            return .json(
                200,
                [
                    "candidates": [
                        [
                            "content": ["role": "model", "parts": [["text": "Could you tell me more about the scene?"]]], "finishReason": "NO_IMAGE",
                            "index": 0,
                        ]
                    ],
                    "modelVersion": .string(model),
                ])
        case .invalid:
            return Self.fieldError("generation_config.image_config.aspect_ratio", "Scripted invalid argument.")
        case .malformed:
            return .malformedJSON(
                #"{"candidates": [{"content": {"role": "model", "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAA"#
            )
        case .reset:
            let bytes = FakeImages.image(label: "gemini", prompt: "reset", seed: 1, width: 64, height: 64)
            let full = JSONWriter.bytes([
                "candidates": [
                    [
                        "content": ["parts": [["inlineData": ["mimeType": "image/png", "data": .string(FakeImages.base64(bytes))]]]],
                        "finishReason": "STOP",
                    ]
                ]
            ])
            return .resetMidBody(status: 200, headers: [("Content-Type", "application/json; charset=UTF-8")], body: full, afterBytes: full.count / 2)
        case .noCredits:
            return Self.error(400, "FAILED_PRECONDITION", "User location is not supported for the API use without a billing account linked.")
        case .failed, .oom:
            return Self.error(
                500, "INTERNAL",
                "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")
        case .ok, .thoughts, .hold, .jpeg, .otherModel, .smaller:
            return nil
        }
    }

    static func error(_ code: Int, _ status: String, _ message: String, details: [JSONValue] = []) -> FakeReply {
        var e: JSONObject = ["code": .int(Int64(code)), "message": .string(message), "status": .string(status)]
        if !details.isEmpty { e.append("details", .array(details)) }
        return .json(code, ["error": .object(e)])
    }

    static func fieldError(_ field: String, _ description: String) -> FakeReply {
        error(
            400, "INVALID_ARGUMENT", "* GenerateContentRequest.\(field): \(description)",
            details: [
                [
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [["field": .string(field), "description": .string(description)]],
                ]
            ])
    }
}
