import AtelierCore
import Foundation

/// The AUTOMATIC1111 / Forge `sdapi/v1` API, as pure functions (no I/O).
public enum A1111Codec {
    /// The default local address.
    public static let defaultBaseURL = "http://127.0.0.1:7860"

    /// The upstream id meaning "whatever checkpoint the server has loaded" (no `override_settings`).
    public static let currentCheckpoint = "current"

    /// `denoising_strength` for img2img when the model's parameters do not set it.
    public static let defaultDenoisingStrength = 0.75

    /// Parameters that only make sense for img2img.
    static let img2imgOnly: Set<String> = ["denoising_strength", "init_images", "mask", "inpainting_fill", "resize_mode"]

    /// True when the request goes to `img2img` (reference images given).
    public static func isImg2Img(_ r: GenerationRequest) -> Bool { !r.references.isEmpty }

    /// The JSON body.
    public static func body(_ r: GenerationRequest) -> JSONObject {
        var b = JSONObject()
        b.append("prompt", .string(r.task.positivePrompt))
        b.append("negative_prompt", .string(r.task.negativePrompt ?? ""))
        b.append("seed", .int(r.seed ?? -1))
        b.append("width", .int(Int64(r.size.pixels.width)))
        b.append("height", .int(Int64(r.size.pixels.height)))
        b.append("batch_size", .int(Int64(max(r.task.numberResults, 1))))
        b.append("n_iter", 1)
        if isImg2Img(r) {
            b.append("init_images", .array(r.references.map { .string(Wire.base64($0.data)) }))
            b.append("denoising_strength", r.model.parameters["denoising_strength"] ?? .number(defaultDenoisingStrength))
        }
        for (k, v) in r.model.parameters where b[k] == nil && (isImg2Img(r) || !img2imgOnly.contains(k)) { b.append(k, v) }
        if r.model.upstreamID != currentCheckpoint, !r.model.upstreamID.isEmpty {
            var o = b["override_settings"]?.objectValue ?? [:]
            if o["sd_model_checkpoint"] == nil { o["sd_model_checkpoint"] = .string(r.model.upstreamID) }
            b["override_settings"] = .object(o)
        }
        b.append("send_images", true)
        b.append("save_images", false)
        return b
    }

    /// Optional HTTP Basic auth from `user:pass` credentials (`--api-auth`).
    public static func authHeaders(_ credentials: Credentials?) -> [(String, String)] {
        guard let s = credentials?.secret, !s.isEmpty else { return [] }
        return [("Authorization", "Basic " + Data(s.utf8).base64EncodedString())]
    }

    /// `POST {base}/sdapi/v1/txt2img`, or `img2img` when references are given.
    public static func encode(_ r: GenerationRequest, baseURL: String, credentials: Credentials?, timeoutSeconds: Double) -> HTTPRequest {
        let path = isImg2Img(r) ? "/sdapi/v1/img2img" : "/sdapi/v1/txt2img"
        return .postJSON(Wire.trimBase(baseURL) + path, .object(body(r)), headers: authHeaders(credentials), timeoutSeconds: timeoutSeconds)
    }

    /// What a recipe records: the body minus prompts and images.
    public static func sentParameters(_ r: GenerationRequest) -> JSONObject {
        var b = body(r)
        b["prompt"] = nil
        b["negative_prompt"] = nil
        b["init_images"] = nil
        return b
    }

    /// The decoded answer: base64 images (prefix stripped later) and the seed of each.
    public struct Output: Sendable, Equatable {
        public var images: [String]
        public var seeds: [Int64?]
    }

    /// Decodes `{images:[…], parameters, info:"<JSON string>"}`; `info` is parsed again for `seed`/`all_seeds`.
    public static func decode(_ response: HTTPResponse, expected: Int) throws(ProviderError) -> Output {
        guard (200..<300).contains(response.status) else { throw decodeError(response) }
        let doc = try Wire.parse(response.body, provider: "the SD WebUI server")
        guard doc.objectValue != nil else { throw ProviderError(.badUpstream, "the SD WebUI answer is a \(doc.typeName), not an object") }
        let images = (doc["images"]?.arrayValue ?? []).compactMap(\.stringValue).filter { !$0.isEmpty }
        if images.isEmpty { throw ProviderError(.noImage, "the SD WebUI server answered without images", httpStatus: response.status) }
        if images.count < expected {
            throw ProviderError(.noImage, "the SD WebUI server returned \(images.count) of \(expected) images", httpStatus: response.status)
        }
        var info: JSONValue?
        switch doc["info"] {
        case .string(let s)?: info = try? JSONParser.parse(s)
        case .object(let o)?: info = .object(o)
        default: info = nil
        }
        let all = (info?["all_seeds"]?.arrayValue ?? []).map { Wire.int($0) }
        let first = Wire.int(info?["seed"])
        var seeds: [Int64?] = []
        for i in 0..<expected {
            if i < all.count, let s = all[i] { seeds.append(s) } else if let f = first { seeds.append(f + Int64(i)) } else { seeds.append(nil) }
        }
        return Output(images: Array(images.prefix(expected)), seeds: seeds)
    }

    /// Base64 strings at least this long are decoded as they stream in (``Base64JSONLift``).
    static let liftThreshold = 1024

    /// A lift for an answer's `images` array.
    public static func lift() -> Base64JSONLift { Base64JSONLift(keys: ["images"], minimumLength: liftThreshold) }

    /// Decodes an answer whose body went through `lift` (``lift()``) instead of into `response.body`: each image that
    /// was lifted comes back as its marker, its decoded bytes at ``Base64JSONLift/span(marking:)``; on any doubt, as
    /// ``decode(_:expected:)`` on the whole body (``Base64JSONLift/decode(_:images:with:)``).
    public static func decode(_ response: inout HTTPResponse, lifted lift: Base64JSONLift, expected: Int) throws(ProviderError) -> Output {
        try lift.decode(&response, images: \.images) { (r) throws(ProviderError) -> Output in try decode(r, expected: expected) }
    }

    /// Maps a failed call: 401/403 → auth, 404 → unavailable (server started without `--api`), 422 → invalid_request
    /// naming the field, other 4xx → invalid_request, 5xx (e.g. out of GPU memory) → unavailable.
    public static func decodeError(_ response: HTTPResponse) -> ProviderError {
        let status = response.status
        let doc = try? JSONParser.parse(response.body)
        var message = "HTTP \(status)"
        var field: String?
        if case .array(let items)? = doc?["detail"] {
            var parts: [String] = []
            for item in items {
                let name = (item["loc"]?.arrayValue ?? []).reversed().compactMap(\.stringValue).first { $0 != "body" }
                if field == nil, let name { field = fieldPointer(name) }
                parts.append((name.map { "\($0): " } ?? "") + (item["msg"]?.stringValue ?? ""))
            }
            message = Wire.clip(parts.joined(separator: "; "))
        } else if let o = doc?.objectValue {
            let bits = ["error", "detail", "errors", "body"].compactMap { o[$0]?.stringValue }.filter { !$0.isEmpty }
            if !bits.isEmpty { message = Wire.clip(bits.joined(separator: ": ")) }
        } else if !response.body.isEmpty {
            message = "HTTP \(status): \(Wire.excerpt(response.body))"
        }
        let code: ErrorCode
        switch status {
        case 401, 403: code = .auth
        case 404:
            return ProviderError(.unavailable, "SD WebUI: \(message) (is the server started with --api?)", httpStatus: status)
        case 408, 504: code = .timeout
        case 429: code = .rateLimited
        case 400..<500: code = .invalidRequest
        case 200..<300: code = .badUpstream
        default: code = .unavailable
        }
        return ProviderError(code, "SD WebUI: \(message)", httpStatus: status, field: code == .invalidRequest ? field : nil)
    }

    /// `prompt` → `/positivePrompt`, `negative_prompt` → `/negativePrompt`, `init_images` → `/referenceImages`.
    public static func fieldPointer(_ name: String) -> String {
        switch name {
        case "prompt": return "/positivePrompt"
        case "negative_prompt": return "/negativePrompt"
        case "init_images": return "/referenceImages"
        case "batch_size": return "/numberResults"
        case "width", "height", "seed": return "/" + name
        default: return "/" + name
        }
    }

    /// `GET {base}/sdapi/v1/sd-models`.
    public static func encodeListModels(baseURL: String, credentials: Credentials?) -> HTTPRequest {
        HTTPRequest(method: "GET", url: Wire.trimBase(baseURL) + "/sdapi/v1/sd-models", headers: authHeaders(credentials), timeoutSeconds: 30)
    }

    /// Checkpoint names (`title` and `model_name`) the server lists.
    public static func decodeListModels(_ response: HTTPResponse) throws(ProviderError) -> Set<String> {
        guard (200..<300).contains(response.status) else { throw decodeError(response) }
        let doc = try Wire.parse(response.body, provider: "the SD WebUI server")
        var names = Set<String>()
        for m in doc.arrayValue ?? [] {
            for k in ["title", "model_name", "filename"] { if let s = m[k]?.stringValue { names.insert(s) } }
        }
        return names
    }
}
