import AtelierCore
import Foundation

/// The OpenAI Images API wire format (`POST /v1/images/generations`, `POST /v1/images/edits`, `GET /v1/models`), as
/// pure functions (no I/O). The same codec serves any OpenAI-compatible images endpoint: the base URL is the server
/// root (`https://api.openai.com`) and the codec adds `/v1/images/...`.
///
/// One call makes all `numberResults` images (`n`). GPT image models take no seed, so none is sent. The quality tier
/// is the model card's `parameters.quality`; the size is the exact `WxH` the catalog resolved.
public enum OpenAICodec {
    /// The public API host (the server root: the codec adds `/v1/...`).
    public static let defaultBaseURL = "https://api.openai.com"

    /// The `quality` values of the GPT image models when a card does not list its own (`parameters.qualities`).
    public static let standardQualities = ["low", "medium", "high", "auto"]

    /// `parameters` members that are Atelier's and never sent: the token prices and the allowed quality list.
    public static let localParameters: Set<String> = [
        "inputUSDPerMillionTokens", "imageInputUSDPerMillionTokens", "outputUSDPerMillionTokens", "qualities",
    ]

    /// Body members Atelier sets; a card's `parameters` never override them.
    static let ownedFields: Set<String> = ["model", "prompt", "n", "size", "output_format", "image", "image[]", "seed"]

    /// `upstream` `error.code` values that mean the safety system refused the request.
    public static let refusalCodes: Set<String> = ["moderation_blocked", "content_policy_violation", "content_filter"]

    /// `error.code` / `error.type` values that mean the account has no credit left (429 or 402).
    public static let noCreditCodes: Set<String> = ["insufficient_quota", "billing_hard_limit_reached", "billing_not_active"]

    // MARK: Validation

    /// Checks what the card asks the upstream for before anything is sent (nothing is paid for a refusal here): the
    /// quality tier is one the model lists, the size is on a 16-pixel grid when the card says so
    /// (`parameters.sizeMultipleOf`), `n` fits. The router has already checked the size against the card's table.
    public static func validate(_ r: GenerationRequest) throws(ProviderError) {
        if let q = r.model.parameters["quality"] {
            guard let text = q.stringValue else {
                throw ProviderError(.invalidRequest, "\(r.model.id): parameters.quality must be a string", field: "/model")
            }
            let allowed = qualities(of: r.model)
            guard allowed.contains(text) else {
                throw ProviderError(
                    .invalidRequest, "\(r.model.id): quality '\(text)' is not one of \(allowed.joined(separator: ", "))",
                    upstreamCode: "invalid_quality", field: "/model")
            }
        }
        if let m = Wire.int(r.model.parameters["sizeMultipleOf"]), m > 1 {
            let p = r.size.pixels
            guard p.width % Int(m) == 0, p.height % Int(m) == 0 else {
                throw ProviderError(.invalidRequest, "\(r.model.id): both sides must be multiples of \(m), not \(p)", field: "/width")
            }
        }
        let n = max(r.task.numberResults, 1)
        guard n <= 10 else {
            throw ProviderError(.invalidRequest, "the Images API makes at most 10 images per call, not \(n)", field: "/numberResults")
        }
    }

    /// The quality tiers a card allows: its `parameters.qualities`, else ``standardQualities``.
    public static func qualities(of card: ModelCard) -> [String] {
        let listed = (card.parameters["qualities"]?.arrayValue ?? []).compactMap(\.stringValue)
        return listed.isEmpty ? standardQualities : listed
    }

    // MARK: Request

    /// The prompt: the positive prompt, plus the negative prompt as an instruction (the API has no negative prompt).
    public static func prompt(_ task: ImageTask) -> String {
        guard let n = task.negativePrompt?.trimmingCharacters(in: .whitespacesAndNewlines), !n.isEmpty else { return task.positivePrompt }
        return task.positivePrompt + "\n\nAvoid: " + n
    }

    /// `output_format` for an ``OutputFormat``.
    public static func outputFormat(_ f: OutputFormat) -> String {
        switch f {
        case .png: return "png"
        case .jpg: return "jpeg"
        case .webp: return "webp"
        }
    }

    /// The members every call carries besides the prompt and images, in wire order: `model`, `n`, `size`,
    /// `output_format`, then the card's sendable `parameters` (`quality`, `moderation`, `background`, …).
    public static func fields(_ r: GenerationRequest) -> JSONObject {
        var o = JSONObject()
        o.append("model", .string(r.model.upstreamID))
        o.append("n", .int(Int64(max(r.task.numberResults, 1))))
        o.append("size", .string(r.size.pixels.description))
        o.append("output_format", .string(outputFormat(r.task.outputFormat)))
        for (k, v) in r.model.parameters where !localParameters.contains(k) && !ownedFields.contains(k) && k != "sizeMultipleOf" {
            o.append(k, v)
        }
        return o
    }

    /// The JSON body of `/v1/images/generations`.
    public static func generationBody(_ r: GenerationRequest) -> JSONObject {
        var o = JSONObject()
        o.append("prompt", .string(prompt(r.task)))
        for (k, v) in fields(r) { o.append(k, v) }
        return o
    }

    /// The HTTP request: `/v1/images/generations` (JSON) without references, `/v1/images/edits` (multipart, one
    /// `image[]` part per reference) with them. The key travels as `Authorization: Bearer`.
    public static func encode(_ r: GenerationRequest, baseURL: String, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        let auth = ("Authorization", "Bearer \(apiKey)")
        if r.references.isEmpty {
            return .postJSON(
                "\(Wire.trimBase(baseURL))/v1/images/generations", .object(generationBody(r)), headers: [auth], timeoutSeconds: timeoutSeconds)
        }
        var form = MultipartForm(boundary: "atelier-" + r.attemptKey)
        form.field("prompt", prompt(r.task))
        for (k, v) in fields(r) { form.field(k, v.stringValue ?? JSONWriter.string(v)) }
        for (i, ref) in r.references.enumerated() {
            let ext = OutputFormat(mimeType: ref.mimeType)?.fileExtension ?? "png"
            form.file("image[]", filename: "reference-\(i).\(ext)", contentType: ref.mimeType, data: ref.data)
        }
        return HTTPRequest(
            method: "POST", url: "\(Wire.trimBase(baseURL))/v1/images/edits",
            headers: [("Content-Type", form.contentType), ("Accept", "application/json"), auth], body: form.finish(),
            timeoutSeconds: timeoutSeconds)
    }

    /// What a recipe records: the members sent, without the prompt and images.
    public static func sentParameters(_ r: GenerationRequest) -> JSONObject {
        var o = fields(r)
        if !r.references.isEmpty { o.append("endpoint", "edits") }
        return o
    }

    // MARK: Response

    /// One image of an answer: base64 bytes (GPT image models) or a URL (some compatible vendors).
    public enum Image: Sendable, Equatable {
        case base64(String)
        case url(String)
    }

    /// `usage` of an answer (token counts).
    public struct Usage: Sendable, Equatable {
        /// Text tokens of the prompt.
        public var textInputTokens: Int
        /// Image tokens of the references (edits).
        public var imageInputTokens: Int
        /// Output tokens (all image tokens: the Images endpoints do not split them).
        public var outputTokens: Int

        public init(textInputTokens: Int, imageInputTokens: Int, outputTokens: Int) {
            self.textInputTokens = textInputTokens
            self.imageInputTokens = imageInputTokens
            self.outputTokens = outputTokens
        }
    }

    /// A decoded answer.
    public struct Output: Sendable, Equatable {
        public var images: [Image]
        /// The MIME type the answer declares (`output_format`), when it declares one.
        public var mimeType: String?
        public var usage: Usage?
        /// The size the answer says it made (`size`), when it says.
        public var size: String?
        /// The quality the answer says it used, when it says.
        public var quality: String?
    }

    /// Decodes an answer `{created, data:[{b64_json}|{url}], usage, output_format, size, quality}` or maps the error.
    public static func decode(_ response: HTTPResponse) throws(ProviderError) -> Output {
        guard (200..<300).contains(response.status) else { throw decodeError(response) }
        let doc = try Wire.parse(response.body, provider: "OpenAI")
        guard case .object(let root) = doc else {
            throw ProviderError(.badUpstream, "OpenAI answered with a \(doc.typeName), not an object", httpStatus: response.status)
        }
        if root["error"]?.objectValue != nil { throw decodeError(response) }
        var images: [Image] = []
        for item in root["data"]?.arrayValue ?? [] {
            if let b = item["b64_json"]?.stringValue, !b.isEmpty {
                images.append(.base64(b))
            } else if let u = item["url"]?.stringValue, !u.isEmpty {
                images.append(.url(u))
            }
        }
        if images.isEmpty {
            throw ProviderError(.noImage, "OpenAI answered without an image", httpStatus: response.status)
        }
        let format = root["output_format"]?.stringValue
        return Output(
            images: images, mimeType: format.flatMap { OutputFormat(parsing: $0)?.mimeType }, usage: decodeUsage(root["usage"]),
            size: root["size"]?.stringValue, quality: root["quality"]?.stringValue)
    }

    /// Base64 strings at least this long are decoded as they stream in (``Base64JSONLift``).
    static let liftThreshold = 1024

    /// A lift for an answer's `b64_json` strings.
    public static func lift() -> Base64JSONLift { Base64JSONLift(keys: ["b64_json"], minimumLength: liftThreshold) }

    /// Decodes an answer whose body went through `lift` (``lift()``) instead of into `response.body`: each image that
    /// was lifted comes back as `.base64(<marker>)`, its decoded bytes at ``Base64JSONLift/span(marking:)``; on any
    /// doubt, as ``decode(_:)`` on the whole body (``Base64JSONLift/decode(_:images:with:)``).
    public static func decode(_ response: inout HTTPResponse, lifted lift: Base64JSONLift) throws(ProviderError) -> Output {
        try lift.decode(&response, images: { $0.images.compactMap { if case .base64(let t) = $0 { t } else { nil } } }, with: decode)
    }

    static func decodeUsage(_ v: JSONValue?) -> Usage? {
        guard case .object(let u)? = v else { return nil }
        func n(_ x: JSONValue?) -> Int { Int(Wire.int(x) ?? 0) }
        let input = n(u["input_tokens"])
        var text = input
        var image = 0
        if case .object(let d)? = u["input_tokens_details"] {
            text = n(d["text_tokens"])
            image = n(d["image_tokens"])
        }
        return Usage(textInputTokens: text, imageInputTokens: image, outputTokens: n(u["output_tokens"]))
    }

    /// Maps a failed call to the taxonomy from the status and `{"error":{message,type,param,code}}`.
    public static func decodeError(_ response: HTTPResponse) -> ProviderError {
        let status = response.status
        var message = "HTTP \(status)"
        var code: String?
        var type: String?
        var param: String?
        if let doc = try? JSONParser.parse(response.body), let err = doc["error"]?.objectValue {
            if let m = err["message"]?.stringValue { message = Wire.clip(m) }
            code = err["code"]?.stringValue
            type = err["type"]?.stringValue
            param = err["param"]?.stringValue
        } else if !response.body.isEmpty {
            message = "HTTP \(status): \(Wire.excerpt(response.body))"
        }
        let upstream = code ?? type
        let refused = code.map(refusalCodes.contains) ?? false
        let noCredit = (code.map(noCreditCodes.contains) ?? false) || (type.map(noCreditCodes.contains) ?? false)
        let taxonomy: ErrorCode
        switch status {
        case 200..<300: taxonomy = .badUpstream
        case _ where refused: taxonomy = .refused
        case _ where noCredit: taxonomy = .insufficientCredits
        case 400, 404, 413, 415, 422: taxonomy = .invalidRequest
        case 401, 403: taxonomy = .auth
        case 402: taxonomy = .insufficientCredits
        case 408, 504: taxonomy = .timeout
        case 409: taxonomy = .unavailable
        case 429: taxonomy = .rateLimited
        case 500..<600: taxonomy = .unavailable
        default: taxonomy = Wire.code(forStatus: status)
        }
        var text = "OpenAI: \(message)"
        if refused { text = "OpenAI's safety system refused the request: \(message)" }
        return ProviderError(
            taxonomy, text, retryAfterSeconds: taxonomy == .rateLimited || taxonomy == .unavailable ? retryAfter(response) : nil,
            httpStatus: status, upstreamCode: upstream, field: taxonomy == .invalidRequest ? param.map(field(forParam:)) : nil)
    }

    /// The wait an answer asks for: `retry-after-ms` (milliseconds) first, else `Retry-After` (seconds).
    public static func retryAfter(_ response: HTTPResponse) -> Double? {
        if let v = response.header("retry-after-ms").flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), v >= 0, v.isFinite {
            return v / 1000
        }
        return Wire.retryAfter(response)
    }

    /// The job field an upstream parameter stands for.
    public static func field(forParam p: String) -> String {
        switch p {
        case "prompt": return "/positivePrompt"
        case "size": return "/width"
        case "n": return "/numberResults"
        case "output_format": return "/outputFormat"
        case "image", "image[]", "images": return "/referenceImages"
        default: return "/model"  // model, quality, background, moderation…: what the catalog card sends
        }
    }

    // MARK: Cost

    /// The cost of one call from its usage and the card's token prices (`parameters.inputUSDPerMillionTokens` for
    /// text input, `imageInputUSDPerMillionTokens` for reference images, `outputUSDPerMillionTokens` for output).
    /// Output tokens are all priced as image tokens (the Images endpoints do not split them). Nil when the answer has
    /// no usage or the card no output price: the catalog estimate stands then.
    public static func cost(_ usage: Usage?, model: ModelCard) -> Double? {
        guard let usage, usage.outputTokens > 0, let out = Wire.double(model.parameters["outputUSDPerMillionTokens"]) else { return nil }
        let text = Wire.double(model.parameters["inputUSDPerMillionTokens"]) ?? 0
        let image = Wire.double(model.parameters["imageInputUSDPerMillionTokens"]) ?? text
        let usd = (Double(usage.textInputTokens) * text + Double(usage.imageInputTokens) * image + Double(usage.outputTokens) * out) / 1e6
        return (usd * 1e6).rounded() / 1e6
    }

    // MARK: Model list

    /// `GET {base}/v1/models`.
    public static func encodeListModels(baseURL: String, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        HTTPRequest(
            method: "GET", url: "\(Wire.trimBase(baseURL))/v1/models",
            headers: [("Authorization", "Bearer \(apiKey)"), ("Accept", "application/json")], timeoutSeconds: timeoutSeconds)
    }

    /// Whether a listed model id names an image model (`/v1/models` lists text models too): `gpt-image…`,
    /// `chatgpt-image…`, `dall-e…`, or any id containing `image` (OpenAI-compatible vendors).
    public static func isImageModel(_ id: String) -> Bool {
        id.hasPrefix("dall-e") || id.contains("image")
    }

    /// The model ids of `{"object":"list","data":[{"id":…}]}`.
    public static func decodeListModels(_ response: HTTPResponse) throws(ProviderError) -> [String] {
        guard (200..<300).contains(response.status) else { throw decodeError(response) }
        let doc = try Wire.parse(response.body, provider: "OpenAI")
        guard let data = doc["data"]?.arrayValue else { throw ProviderError(.badUpstream, "OpenAI's model list has no data array") }
        return data.compactMap { $0["id"]?.stringValue }
    }
}
