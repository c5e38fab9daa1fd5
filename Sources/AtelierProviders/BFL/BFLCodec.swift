import AtelierCore
import Foundation

/// The Black Forest Labs FLUX API (submit, then poll `polling_url`), as pure functions (no I/O).
public enum BFLCodec {
    /// The global API host (automatic failover).
    public static let defaultBaseURL = "https://api.bfl.ai"

    /// The default `safety_tolerance` sent (BFL's own default, written out so recipes are explicit).
    public static let defaultSafetyTolerance: Int64 = 2

    // MARK: Request

    /// Endpoints that take `aspect_ratio` instead of `width`/`height`.
    public static func usesAspectRatio(_ upstream: String) -> Bool {
        upstream.hasPrefix("flux-kontext") || upstream.hasPrefix("flux-pro-1.1-ultra")
    }

    /// The `output_format` value (`png`, `jpeg`, `webp`).
    public static func outputFormat(_ f: OutputFormat) -> String {
        switch f {
        case .png: return "png"
        case .jpg: return "jpeg"
        case .webp: return "webp"
        }
    }

    /// `input_image`, `input_image_2`, … for reference `i` (0-based).
    public static func inputImageKey(_ i: Int) -> String { i == 0 ? "input_image" : "input_image_\(i + 1)" }

    /// The reduced `w:h` ratio of a size, or its named ratio when known.
    static func ratio(_ r: GenerationRequest) -> String {
        if let a = r.size.aspectRatio { return a.description }
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let g = max(gcd(r.size.pixels.width, r.size.pixels.height), 1)
        return "\(r.size.pixels.width / g):\(r.size.pixels.height / g)"
    }

    /// The JSON body of one submit.
    public static func body(_ r: GenerationRequest) -> JSONObject {
        var b = JSONObject()
        b.append("prompt", .string(r.task.positivePrompt))
        for (i, ref) in r.references.enumerated() { b.append(inputImageKey(i), .string(Wire.base64(ref.data))) }
        if usesAspectRatio(r.model.upstreamID) {
            b.append("aspect_ratio", .string(ratio(r)))
        } else {
            b.append("width", .int(Int64(r.size.pixels.width)))
            b.append("height", .int(Int64(r.size.pixels.height)))
        }
        if r.model.seedAccepted, let seed = r.seed { b.append("seed", .int(seed)) }
        b.append("output_format", .string(outputFormat(r.task.outputFormat)))
        b.append("safety_tolerance", .int(defaultSafetyTolerance))
        for (k, v) in r.model.parameters {
            if k == "safety_tolerance" { b[k] = v } else if b[k] == nil { b.append(k, v) }
        }
        return b
    }

    /// `POST {base}/v1/{upstream}` with `x-key`.
    public static func encodeSubmit(_ r: GenerationRequest, baseURL: String, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        .postJSON(
            "\(Wire.trimBase(baseURL))/v1/\(r.model.upstreamID)", .object(body(r)), headers: [("x-key", apiKey)], timeoutSeconds: timeoutSeconds)
    }

    /// What a recipe records: the body minus the prompt and images.
    public static func sentParameters(_ r: GenerationRequest) -> JSONObject {
        var b = body(r)
        b["prompt"] = nil
        for i in 0..<r.references.count { b[inputImageKey(i)] = nil }
        return b
    }

    // MARK: Submit answer

    /// One submitted generation: what to poll, and its price.
    public struct Job: Sendable, Equatable {
        public var id: String
        public var pollingURL: String
        /// The charge in credits (1 credit = $0.01), when reported.
        public var costCredits: Double?

        public init(id: String, pollingURL: String, costCredits: Double? = nil) {
            self.id = id
            self.pollingURL = pollingURL
            self.costCredits = costCredits
        }

        /// The charge in USD.
        public var costUSD: Double? { costCredits.map { ($0 / 100 * 1e6).rounded() / 1e6 } }

        var json: JSONValue {
            var o: JSONObject = ["id": .string(id), "pollingURL": .string(pollingURL)]
            o.append("cost", ifPresent: costCredits.map(JSONValue.number))
            return .object(o)
        }

        init?(json: JSONValue) {
            guard let id = json["id"]?.stringValue, let url = json["pollingURL"]?.stringValue else { return nil }
            self.init(id: id, pollingURL: url, costCredits: Wire.double(json["cost"]))
        }
    }

    /// Decodes `{id, polling_url, cost?}`; without `polling_url` the global `get_result` URL is used.
    public static func decodeSubmit(_ response: HTTPResponse, baseURL: String) throws(ProviderError) -> Job {
        guard (200..<300).contains(response.status) else { throw decodeError(response) }
        let doc = try Wire.parse(response.body, provider: "BFL")
        guard let id = doc["id"]?.stringValue, !id.isEmpty else {
            throw ProviderError(.badUpstream, "BFL's submit answer has no id: \(Wire.excerpt(response.body))", httpStatus: response.status)
        }
        let url = doc["polling_url"]?.stringValue ?? "\(Wire.trimBase(baseURL))/v1/get_result?id=\(id)"
        return Job(id: id, pollingURL: url, costCredits: Wire.double(doc["cost"]))
    }

    // MARK: Resume handle

    /// The handle recorded before waiting: `{"jobs":[{"id","pollingURL","cost"}…]}` (one job per image).
    public static func handle(_ jobs: [Job]) -> String {
        JSONWriter.string(["jobs": .array(jobs.map(\.json))])
    }

    /// Reads a handle written by ``handle(_:)``; a bare polling URL is accepted too.
    public static func jobs(fromHandle h: String) -> [Job]? {
        if h.hasPrefix("http://") || h.hasPrefix("https://") {
            let id = URLComponents(string: h)?.queryItems?.first { $0.name == "id" }?.value ?? ""
            return [Job(id: id, pollingURL: h)]
        }
        guard let doc = try? JSONParser.parse(h), let arr = doc["jobs"]?.arrayValue else { return nil }
        let jobs = arr.compactMap(Job.init(json:))
        return jobs.count == arr.count && !jobs.isEmpty ? jobs : nil
    }

    // MARK: Poll

    /// `GET polling_url` with `x-key`.
    public static func encodePoll(_ job: Job, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        HTTPRequest(method: "GET", url: job.pollingURL, headers: [("x-key", apiKey), ("Accept", "application/json")], timeoutSeconds: timeoutSeconds)
    }

    /// What one poll says.
    public enum PollStatus: Sendable, Equatable {
        /// Still running (`Pending`, or any status we do not know).
        case pending(status: String)
        /// Done: the signed sample URL (download at once, without the key) and the seed used.
        case ready(sampleURL: String, seed: Int64?)
    }

    /// Decodes a poll answer: `Ready` → the sample URL; `Request Moderated`/`Content Moderated` → refused;
    /// `Error`/`Task not found`/`Failed` → unavailable; anything else → still pending.
    public static func decodePoll(_ response: HTTPResponse) throws(ProviderError) -> PollStatus {
        guard (200..<300).contains(response.status) else {
            if response.status == 404 { throw ProviderError(.unavailable, "BFL: task not found", httpStatus: 404, upstreamCode: "Task not found") }
            throw decodeError(response)
        }
        let doc = try Wire.parse(response.body, provider: "BFL")
        guard doc.objectValue != nil else { throw ProviderError(.badUpstream, "BFL's poll answer is a \(doc.typeName), not an object") }
        let status = doc["status"]?.stringValue ?? ""
        switch status {
        case "Ready":
            guard let sample = doc["result"]?["sample"]?.stringValue, !sample.isEmpty else {
                throw ProviderError(.noImage, "BFL reported Ready without a sample URL", httpStatus: response.status, upstreamCode: status)
            }
            return .ready(sampleURL: sample, seed: Wire.int(doc["result"]?["seed"]))
        case "Request Moderated", "Content Moderated":
            var reasons = ""
            if let r = doc["details"]?["moderation_reasons"]?.arrayValue?.compactMap(\.stringValue), !r.isEmpty {
                reasons = ": " + r.joined(separator: ", ")
            }
            throw ProviderError(
                .refused, "BFL moderation refused the \(status == "Request Moderated" ? "request" : "image") (\(status))\(reasons)",
                httpStatus: response.status, upstreamCode: status)
        case "Error", "Failed", "Task not found":
            let detail = (doc["details"].map { JSONWriter.string($0) }).map { ": " + Wire.clip($0, limit: 300) } ?? ""
            throw ProviderError(.unavailable, "BFL generation failed (\(status))\(detail)", httpStatus: response.status, upstreamCode: status)
        default:
            return .pending(status: status)
        }
    }

    // MARK: Errors

    /// BFL field names as job fields (`prompt` → `/positivePrompt`, `input_image_2` → `/referenceImages`).
    public static func fieldPointer(_ name: String) -> String {
        switch name {
        case "prompt": return "/positivePrompt"
        case "width": return "/width"
        case "height": return "/height"
        case "seed": return "/seed"
        case "output_format": return "/outputFormat"
        case "aspect_ratio": return "/aspectRatio"
        default:
            if name.hasPrefix("input_image") { return "/referenceImages" }
            return "/" + name
        }
    }

    /// Maps a failed submit or poll: 402 → insufficient_credits, 422 (FastAPI `detail[]`) → invalid_request
    /// naming the field, 429 → rate_limited, 401/403 → auth, 5xx → unavailable.
    public static func decodeError(_ response: HTTPResponse) -> ProviderError {
        let status = response.status
        let doc = try? JSONParser.parse(response.body)
        var message = "HTTP \(status)"
        var field: String?
        switch doc?["detail"] {
        case .array(let items)?:
            var parts: [String] = []
            for item in items {
                let loc = item["loc"]?.arrayValue ?? []
                let name = loc.reversed().compactMap(\.stringValue).first { $0 != "body" }
                if field == nil, let name { field = fieldPointer(name) }
                let msg = item["msg"]?.stringValue ?? ""
                parts.append(name.map { "\($0): \(msg)" } ?? msg)
            }
            if !parts.isEmpty { message = Wire.clip(parts.joined(separator: "; ")) }
        case .string(let s)?:
            message = Wire.clip(s)
        case .object(let o)?:
            message = Wire.clip(o["message"]?.stringValue ?? JSONWriter.string(.object(o)))
        default:
            if let m = doc?["message"]?.stringValue ?? doc?["error"]?.stringValue {
                message = Wire.clip(m)
            } else if !response.body.isEmpty && doc == nil {
                message = "HTTP \(status): \(Wire.excerpt(response.body))"
            }
        }
        let code: ErrorCode
        switch status {
        case 200..<300: code = .badUpstream
        case 401, 403: code = .auth
        case 402: code = .insufficientCredits
        case 422, 400: code = .invalidRequest
        case 404: code = .invalidRequest
        case 429: code = .rateLimited
        case 500..<600: code = .unavailable
        default: code = Wire.code(forStatus: status)
        }
        return ProviderError(
            code, "BFL: \(message)", retryAfterSeconds: code == .rateLimited ? Wire.retryAfter(response) : nil, httpStatus: status,
            field: code == .invalidRequest ? field : nil)
    }
}
