import AtelierCore
import AtelierImaging
import Foundation

/// The Gemini `generateContent` wire format, as pure functions (no I/O).
///
/// One call makes one image: `numberResults: n` is n parallel calls (image models refuse `candidateCount > 1`).
public enum GeminiCodec {
    /// The public API host.
    public static let defaultBaseURL = "https://generativelanguage.googleapis.com"

    /// `finishReason` values that mean safety or policy refused the request.
    public static let refusalReasons: Set<String> = [
        "SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_RECITATION",
    ]

    /// The `imageSize` wire value of a tier (`"512"`, `"1K"`, `"2K"`, `"4K"`; the K must be uppercase).
    public static func imageSize(_ tier: ResolutionTier) -> String { tier.rawValue }

    // MARK: Request

    /// The JSON body for one call.
    public static func body(_ r: GenerationRequest) -> JSONObject {
        var parts: [JSONValue] = [["text": .string(promptText(r.task))]]
        for ref in r.references {
            parts.append(["inlineData": ["mimeType": .string(ref.mimeType), "data": .string(Wire.base64(ref.data))]])
        }
        var body = JSONObject()
        body.append("contents", [["role": "user", "parts": .array(parts)]])
        body.append("generationConfig", .object(generationConfig(r)))
        return body
    }

    /// `generationConfig`: response modalities, image config and the best-effort seed. Never `candidateCount`.
    public static func generationConfig(_ r: GenerationRequest) -> JSONObject {
        var imageConfig = JSONObject()
        let ratio = r.size.aspectRatio ?? r.model.tableRatio(for: r.size.pixels)
        imageConfig.append("aspectRatio", ifPresent: ratio.map { .string($0.description) })
        if r.model.sizes.tiers.count > 1 {
            imageConfig.append("imageSize", .string(imageSize(r.size.tier)))
        }
        var g = JSONObject()
        g.append("responseModalities", ["TEXT", "IMAGE"])
        if !imageConfig.isEmpty { g.append("imageConfig", .object(imageConfig)) }
        if r.model.seedAccepted, let seed = r.seed {
            // GenerationConfig.seed is an int32; larger seeds are folded into its non-negative range.
            g.append("seed", .int(Int64(seed & 0x7FFF_FFFF)))
        }
        return g
    }

    /// The text part: the prompt, plus the negative prompt as an instruction (Gemini has no negative prompt field).
    public static func promptText(_ task: ImageTask) -> String {
        guard let n = task.negativePrompt?.trimmingCharacters(in: .whitespacesAndNewlines), !n.isEmpty else { return task.positivePrompt }
        return task.positivePrompt + "\n\nAvoid: " + n
    }

    /// The full HTTP request: `POST {base}/v1beta/models/{upstream}:generateContent` with `x-goog-api-key`.
    public static func encode(_ r: GenerationRequest, baseURL: String, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        let url = "\(Wire.trimBase(baseURL))/v1beta/models/\(r.model.upstreamID):generateContent"
        return .postJSON(url, .object(body(r)), headers: [("x-goog-api-key", apiKey)], timeoutSeconds: timeoutSeconds)
    }

    /// What a recipe records: the body minus prompts and images.
    public static func sentParameters(_ r: GenerationRequest) -> JSONObject {
        ["generationConfig": .object(generationConfig(r))]
    }

    // MARK: Response

    /// One decoded image answer.
    public struct Output: Sendable, Equatable {
        /// MIME type of the final image.
        public var mimeType: String
        /// Its base64 payload, when it was parsed as a string (empty when ``base64Range`` is set).
        public var base64: String
        /// Where the base64 payload lies in the response body, when it was located without copying it (see
        /// ``GeminiCodec/decode(_:)``); the provider then decodes it in place.
        public var base64Range: Range<Int>? = nil
        /// The non-thought text parts, joined.
        public var note: String?
        /// Token counts, when reported.
        public var usage: Usage?
        /// `finishReason`, when reported.
        public var finishReason: String?
        /// `modelVersion`: the model that served the answer, when reported.
        public var modelVersion: String? = nil
    }

    /// `usageMetadata` counts.
    public struct Usage: Sendable, Equatable {
        public var promptTokens: Int
        /// Output tokens of modality IMAGE.
        public var imageOutputTokens: Int
        /// Other output tokens (text) plus thinking tokens.
        public var textOutputTokens: Int
        public init(promptTokens: Int, imageOutputTokens: Int, textOutputTokens: Int) {
            self.promptTokens = promptTokens
            self.imageOutputTokens = imageOutputTokens
            self.textOutputTokens = textOutputTokens
        }
    }

    /// Base64 strings at least this long are located in the body instead of being parsed into a `String`.
    static let liftThreshold = 1024

    /// Decodes a `generateContent` answer into the final image or a ``ProviderError``.
    ///
    /// A multi-megabyte `inlineData.data` string is not copied: ``GeminiBodyScan`` finds its byte range, the rest of
    /// the document (with a marker in its place) goes through the strict parser, and ``Output/base64Range`` points at
    /// the payload. Any doubt (escapes in the string, a marker not found where an image belongs) falls back to
    /// parsing the whole body.
    public static func decode(_ response: HTTPResponse) throws(ProviderError) -> Output {
        guard (200..<300).contains(response.status) else { throw decodeError(response) }
        if let lifted = GeminiBodyScan.lift(response.body, minimumLength: liftThreshold) {
            if let doc = try? JSONParser.parse(lifted.residual), var out = try decode(doc, response: response) {
                if let k = Base64JSONLift.spanIndex(out.base64), k < lifted.spans.count {
                    out.base64Range = lifted.spans[k]
                    out.base64 = ""
                    return out
                }
                if Base64JSONLift.spanIndex(out.base64) == nil && !out.base64.isEmpty { return out }
            }
        }
        let doc = try Wire.parse(response.body, provider: "Gemini")
        guard let out = try decode(doc, response: response) else {
            throw ProviderError(.badUpstream, "Gemini answered with a \(doc.typeName), not an object", httpStatus: response.status)
        }
        return out
    }

    /// Decodes a `generateContent` answer whose body went through `lift` (``Base64JSONLift``) instead of into
    /// `response.body`. When the image is one of the lifted strings, returns it, already decoded and hashed; on any doubt (a
    /// status that is not 2xx, no lifted string, a marker not found where an image belongs) `response.body` is set to
    /// the body as it came and the answer is decoded as by ``decode(_:)``, with no image returned.
    public static func decode(
        _ response: inout HTTPResponse, lifted lift: Base64JSONLift
    ) throws(ProviderError) -> (output: Output, image: Base64JSONLift.Span?) {
        var out = try lift.decode(&response, images: { [$0.base64] }, with: decode)
        guard let span = lift.span(marking: out.base64) else { return (out, nil) }
        out.base64 = ""
        return (out, span)
    }

    /// Decodes a parsed answer; nil when it is not an object.
    static func decode(_ doc: JSONValue, response: HTTPResponse) throws(ProviderError) -> Output? {
        guard case .object(let root) = doc else { return nil }
        if root["error"]?.objectValue != nil { throw decodeError(response) }
        let usage = decodeUsage(root["usageMetadata"])
        let candidates = root["candidates"]?.arrayValue ?? []

        if let feedback = root["promptFeedback"]?.objectValue, let reason = feedback["blockReason"]?.stringValue, candidates.isEmpty {
            let detail = feedback["blockReasonMessage"]?.stringValue.map { ": \(Wire.clip($0))" } ?? ""
            throw ProviderError(.refused, "Gemini blocked the prompt (\(reason))\(detail)", httpStatus: response.status, upstreamCode: reason)
        }
        guard let candidate = candidates.first?.objectValue else {
            throw ProviderError(.noImage, "Gemini answered without a candidate", httpStatus: response.status)
        }
        let finish = candidate["finishReason"]?.stringValue
        var image: (String, String)?
        var texts: [String] = []
        for p in candidate["content"]?["parts"]?.arrayValue ?? [] {
            guard case .object(let part) = p else { continue }
            if part["thought"]?.boolValue == true { continue }
            if let inline = (part["inlineData"] ?? part["inline_data"])?.objectValue, let data = inline["data"]?.stringValue, !data.isEmpty {
                let mime = (inline["mimeType"] ?? inline["mime_type"])?.stringValue ?? "image/png"
                image = (mime, data)
            } else if let t = part["text"]?.stringValue, !t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                texts.append(t)
            }
        }
        let note = texts.isEmpty ? nil : texts.joined(separator: "\n")
        if let (mime, data) = image {
            return Output(
                mimeType: mime, base64: data, note: note, usage: usage, finishReason: finish, modelVersion: root["modelVersion"]?.stringValue)
        }
        let said = note.map { "; it said: \(Wire.clip($0, limit: 300))" } ?? ""
        let message = candidate["finishMessage"]?.stringValue.map { ": \(Wire.clip($0))" } ?? ""
        if let f = finish, refusalReasons.contains(f) {
            throw ProviderError(.refused, "Gemini refused to make the image (\(f))\(message)\(said)", httpStatus: response.status, upstreamCode: f)
        }
        throw ProviderError(
            .noImage, "Gemini answered without an image (finishReason \(finish ?? "none"))\(message)\(said)", httpStatus: response.status,
            upstreamCode: finish)
    }

    static func decodeUsage(_ v: JSONValue?) -> Usage? {
        guard case .object(let u)? = v else { return nil }
        func n(_ k: String) -> Int { Int(Wire.int(u[k]) ?? 0) }
        let prompt = n("promptTokenCount")
        let candidates = n("candidatesTokenCount")
        let thoughts = n("thoughtsTokenCount")
        var image = 0
        var otherOut = 0
        if let details = u["candidatesTokensDetails"]?.arrayValue, !details.isEmpty {
            for d in details {
                let c = Int(Wire.int(d["tokenCount"]) ?? 0)
                if d["modality"]?.stringValue == "IMAGE" { image += c } else { otherOut += c }
            }
        } else {
            image = candidates
        }
        return Usage(promptTokens: prompt, imageOutputTokens: image, textOutputTokens: otherOut + thoughts)
    }

    /// Maps a failed call (any status, any body) to the taxonomy.
    public static func decodeError(_ response: HTTPResponse) -> ProviderError {
        let status = response.status
        var message = "HTTP \(status)"
        var upstream: String?
        var retryAfter = Wire.retryAfter(response)
        var perDay = false
        var keyInvalid = false
        var field: String?
        if let doc = try? JSONParser.parse(response.body), let err = doc["error"]?.objectValue {
            upstream = err["status"]?.stringValue
            if let m = err["message"]?.stringValue { message = Wire.clip(m) }
            for d in err["details"]?.arrayValue ?? [] {
                let type = d["@type"]?.stringValue ?? ""
                if type.hasSuffix("RetryInfo"), let delay = parseDuration(d["retryDelay"]) {
                    retryAfter = delay
                }
                if type.hasSuffix("QuotaFailure") {
                    for v in d["violations"]?.arrayValue ?? [] where (v["quotaId"]?.stringValue ?? "").contains("PerDay") {
                        perDay = true
                    }
                }
                if type.hasSuffix("ErrorInfo"), let reason = d["reason"]?.stringValue {
                    if reason == "API_KEY_INVALID" || reason == "API_KEY_EXPIRED" { keyInvalid = true }
                }
                if type.hasSuffix("BadRequest"), let fv = d["fieldViolations"]?.arrayValue?.first, let f = fv["field"]?.stringValue {
                    field = f
                }
            }
            if upstream == "INVALID_ARGUMENT", message.lowercased().contains("api key not valid") { keyInvalid = true }
        } else if !response.body.isEmpty {
            message = "HTTP \(status): \(Wire.excerpt(response.body))"
        }
        let code: ErrorCode
        switch status {
        case 200..<300: code = .badUpstream
        case 400 where keyInvalid: code = .auth
        case 400 where upstream == "FAILED_PRECONDITION": code = .auth
        case 400: code = .invalidRequest
        case 401, 403: code = .auth
        case 404: code = .invalidRequest
        case 429: code = .rateLimited
        case 499: code = .unavailable
        case 504: code = .timeout
        case 500..<600: code = .unavailable
        default: code = Wire.code(forStatus: status)
        }
        var text = "Gemini: \(message)"
        if status == 404 { text = "Gemini does not know this model (retired or misspelled?): \(message)" }
        return ProviderError(
            code, text, retryAfterSeconds: code == .rateLimited || code == .unavailable ? retryAfter : nil,
            quotaExhaustedForDay: code == .rateLimited && perDay, httpStatus: status, upstreamCode: upstream, field: field)
    }

    /// A protobuf Duration as JSON: `"37s"`, `"1.5s"`, or `{"seconds":…, "nanos":…}`.
    public static func parseDuration(_ v: JSONValue?) -> Double? {
        switch v {
        case .string(let s)?:
            let t = s.trimmingCharacters(in: .whitespaces)
            guard t.hasSuffix("s"), let d = Double(t.dropLast()), d >= 0, d.isFinite else { return nil }
            return d
        case .object(let o)?:
            let s = Wire.double(o["seconds"]) ?? 0
            let n = Wire.double(o["nanos"]) ?? 0
            return s + n / 1e9
        default:
            return nil
        }
    }

    // MARK: Cost

    /// The actual cost of one call from its token counts and the per-token prices in the model's `parameters`
    /// (`inputUSDPerMillionTokens`, `outputUSDPerMillionTokens` for image output tokens, optional
    /// `textOutputUSDPerMillionTokens` for text and thinking tokens). Nil when either is unknown.
    public static func cost(_ usage: Usage?, model: ModelCard) -> Double? {
        guard let usage, let out = Wire.double(model.parameters["outputUSDPerMillionTokens"]), usage.imageOutputTokens > 0 else { return nil }
        let input = Wire.double(model.parameters["inputUSDPerMillionTokens"]) ?? 0
        let text = Wire.double(model.parameters["textOutputUSDPerMillionTokens"]) ?? 0
        let usd = (Double(usage.promptTokens) * input + Double(usage.imageOutputTokens) * out + Double(usage.textOutputTokens) * text) / 1e6
        return (usd * 1e6).rounded() / 1e6
    }

    // MARK: Model list

    /// `GET {base}/v1beta/models?pageSize=1000[&pageToken=…]`.
    public static func encodeListModels(baseURL: String, apiKey: String, pageToken: String?, timeoutSeconds: Double) -> HTTPRequest {
        var url = "\(Wire.trimBase(baseURL))/v1beta/models?pageSize=1000"
        if let t = pageToken, !t.isEmpty {
            url += "&pageToken=" + (t.addingPercentEncoding(withAllowedCharacters: .urlQueryValueAllowed) ?? t)
        }
        return HTTPRequest(
            method: "GET", url: url, headers: [("x-goog-api-key", apiKey), ("Accept", "application/json")], timeoutSeconds: timeoutSeconds)
    }

    /// Whether a listed model id names an image-generation model (the listing mixes text, embedding and image
    /// models): `…image…`, `…banana…` or `imagen-…`.
    public static func isImageModel(_ id: String) -> Bool {
        id.contains("image") || id.contains("banana") || id.hasPrefix("imagen")
    }

    /// Model ids (without the `models/` prefix) and the next page token.
    public static func decodeListModels(_ response: HTTPResponse) throws(ProviderError) -> (ids: [String], nextPageToken: String?) {
        guard (200..<300).contains(response.status) else { throw decodeError(response) }
        let doc = try Wire.parse(response.body, provider: "Gemini")
        guard doc.objectValue != nil else { throw ProviderError(.badUpstream, "Gemini's model list is not an object") }
        var ids: [String] = []
        for m in doc["models"]?.arrayValue ?? [] {
            guard let name = m["name"]?.stringValue else { continue }
            ids.append(name.hasPrefix("models/") ? String(name.dropFirst(7)) : name)
        }
        let next = doc["nextPageToken"]?.stringValue
        return (ids, next?.isEmpty == true ? nil : next)
    }
}

extension CharacterSet {
    static let urlQueryValueAllowed: CharacterSet = {
        var s = CharacterSet.urlQueryAllowed
        s.remove(charactersIn: "&=+?#")
        return s
    }()
}

extension ModelCard {
    /// The named ratio of `pixels` in a table model, if listed.
    func tableRatio(for pixels: PixelSize) -> AspectRatio? {
        if case .table(let entries) = sizes { return entries.first { $0.pixels == pixels }?.aspectRatio }
        return nil
    }
}
