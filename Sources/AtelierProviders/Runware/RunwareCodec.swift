import AtelierCore
import Foundation

/// The Runware task API (`POST /v1` with an array of tasks), as pure functions (no I/O).
public enum RunwareCodec {
    /// The public API host.
    public static let defaultBaseURL = "https://api.runware.ai"

    /// Keys of a model's `parameters` that configure Atelier and are never sent:
    /// `acceptsResolution` (the model takes `resolution` instead of width/height, see ``sizeFields(_:)``).
    public static let atelierParameterKeys: Set<String> = ["acceptsResolution"]

    /// Error codes that mean "this taskUUID was already submitted": keep polling instead of failing.
    public static let alreadySubmittedCodes: Set<String> = ["conflictTaskUUID"]

    // MARK: Request

    /// How a model treats `negativePrompt`.
    enum NegativePromptHandling { case field, foldIntoPrompt, drop }

    /// Runware-hosted open weights (`runware:`) take `negativePrompt`; Google's models (LLM-based) get it as an
    /// instruction in the prompt; other provider models (BFL, ByteDance) have no such field and it is dropped.
    static func negativeHandling(_ air: String) -> NegativePromptHandling {
        if air.hasPrefix("runware:") { return .field }
        if air.hasPrefix("google:") { return .foldIntoPrompt }
        return .drop
    }

    /// The `resolution` wire value of a tier (`0.5K`, `1K`, `2K`, `4K`).
    public static func resolutionValue(_ t: ResolutionTier) -> String { t == .r512 ? "0.5K" : t.rawValue }

    /// `width`/`height`, or `resolution` alone when the model accepts it, the caller asked by tier without
    /// choosing a ratio, and reference images are given (the output then follows the reference's ratio).
    public static func sizeFields(_ r: GenerationRequest) -> JSONObject {
        if r.model.parameters["acceptsResolution"]?.boolValue == true, r.size.requestedByTier, r.task.size.aspectRatio == nil,
            !r.references.isEmpty, case .table = r.model.sizes
        {
            return ["resolution": .string(resolutionValue(r.size.tier))]
        }
        return ["width": .int(Int64(r.size.pixels.width)), "height": .int(Int64(r.size.pixels.height))]
    }

    /// The `imageInference` task for a request. `taskUUID` is the attempt key, so a resubmission is recognisable.
    public static func task(_ r: GenerationRequest) -> JSONObject {
        var t = JSONObject()
        t.append("taskType", "imageInference")
        t.append("taskUUID", .string(r.attemptKey))
        t.append("model", .string(r.model.upstreamID))
        var prompt = r.task.positivePrompt
        let negative = r.task.negativePrompt?.trimmingCharacters(in: .whitespacesAndNewlines)
        switch (negativeHandling(r.model.upstreamID), negative) {
        case (.foldIntoPrompt, let n?) where !n.isEmpty: prompt += "\n\nAvoid: " + n
        default: break
        }
        t.append("positivePrompt", .string(prompt))
        if case .field = negativeHandling(r.model.upstreamID), let n = negative, !n.isEmpty {
            t.append("negativePrompt", .string(n))
        }
        for (k, v) in sizeFields(r) { t.append(k, v) }
        if r.model.seedAccepted, let seed = r.seed { t.append("seed", .int(seed)) }
        t.append("numberResults", .int(Int64(max(r.task.numberResults, 1))))
        if !r.references.isEmpty {
            t.append("inputs", ["referenceImages": .array(r.references.map { .string(Wire.dataURI($0)) })])
        }
        t.append("outputType", "URL")
        t.append("outputFormat", .string(r.task.outputFormat.rawValue))
        t.append("includeCost", true)
        t.append("deliveryMethod", "async")
        for (k, v) in r.model.parameters where !atelierParameterKeys.contains(k) && t[k] == nil { t.append(k, v) }
        return t
    }

    /// What a recipe records: the task minus prompts and images.
    public static func sentParameters(_ r: GenerationRequest) -> JSONObject {
        var t = task(r)
        t["positivePrompt"] = nil
        t["negativePrompt"] = nil
        t["inputs"] = nil
        return t
    }

    static func headers(_ apiKey: String) -> [(String, String)] { [("Authorization", "Bearer \(apiKey)")] }

    /// `POST {base}/v1` with `[task]`.
    public static func encodeSubmit(_ r: GenerationRequest, baseURL: String, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        .postJSON(endpoint(baseURL), [.object(task(r))], headers: headers(apiKey), timeoutSeconds: timeoutSeconds)
    }

    /// `POST {base}/v1` with `[{"taskType":"getResponse","taskUUID":…}]`.
    public static func encodePoll(baseURL: String, taskUUID: String, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        .postJSON(
            endpoint(baseURL), [["taskType": "getResponse", "taskUUID": .string(taskUUID)]], headers: headers(apiKey),
            timeoutSeconds: timeoutSeconds)
    }

    static func endpoint(_ base: String) -> String { Wire.trimBase(base) + "/v1" }

    // MARK: Envelope

    /// One error object, from any envelope shape.
    public struct APIError: Sendable, Equatable {
        public var code: String?
        public var message: String
        /// The blamed parameters (`parameter` may be a string or an array).
        public var parameters: [String]
        public var taskUUID: String?
        public var min: Double?
        public var max: Double?

        public init(code: String?, message: String, parameters: [String] = [], taskUUID: String? = nil, min: Double? = nil, max: Double? = nil) {
            self.code = code
            self.message = message
            self.parameters = parameters
            self.taskUUID = taskUUID
            self.min = min
            self.max = max
        }

        init(_ o: JSONObject, defaultTaskUUID: String?) {
            code = o["code"]?.stringValue
            message = o["message"]?.stringValue ?? o["errorMessage"]?.stringValue ?? ""
            switch o["parameter"] {
            case .string(let s)?: parameters = [s]
            case .array(let a)?: parameters = a.compactMap(\.stringValue)
            default: parameters = []
            }
            taskUUID = o["taskUUID"]?.stringValue ?? defaultTaskUUID
            min = Wire.double(o["min"])
            max = Wire.double(o["max"])
        }
    }

    /// A parsed answer: result items and errors, whatever the envelope.
    public struct Envelope: Sendable, Equatable {
        public var items: [JSONObject]
        public var errors: [APIError]
    }

    /// Parses every envelope seen in the wild: `{data:[…]}`, `{errors:[…]}`, both, `data` as one object,
    /// `{"error":{…},"taskUUID":…}`, the legacy `{"error":true,"errorId":…,"errorMessage":…}`, and a bare array.
    /// A body that is not JSON is `bad_upstream` on 2xx and classified by status otherwise.
    public static func parseEnvelope(_ response: HTTPResponse) throws(ProviderError) -> Envelope {
        let doc: JSONValue
        do { doc = try Wire.parse(response.body, provider: "Runware") } catch {
            if (200..<300).contains(response.status) { throw error.with(status: response.status) }
            let code = Wire.code(forStatus: response.status)
            throw ProviderError(
                code, "Runware: HTTP \(response.status)\(response.body.isEmpty ? "" : ": " + Wire.excerpt(response.body))",
                retryAfterSeconds: code == .rateLimited ? Wire.retryAfter(response) : nil, httpStatus: response.status)
        }
        var env = Envelope(items: [], errors: [])
        func addItems(_ v: JSONValue?) {
            switch v {
            case .array(let a)?: env.items += a.compactMap(\.objectValue)
            case .object(let o)?: env.items.append(o)
            default: break
            }
        }
        switch doc {
        case .array:
            addItems(doc)
        case .object(let root):
            addItems(root["data"])
            let rootTask = root["taskUUID"]?.stringValue
            switch root["errors"] {
            case .array(let a)?: env.errors += a.compactMap(\.objectValue).map { APIError($0, defaultTaskUUID: rootTask) }
            case .object(let o)?: env.errors.append(APIError(o, defaultTaskUUID: rootTask))
            default: break
            }
            switch root["error"] {
            case .object(let o)?:
                env.errors.append(APIError(o, defaultTaskUUID: rootTask))
            case .bool(true)?, .string?:
                var e = APIError(root, defaultTaskUUID: rootTask)
                if e.code == nil, let id = Wire.int(root["errorId"]) { e.code = "legacyError\(id)" }
                if e.message.isEmpty, let s = root["error"]?.stringValue { e.message = s }
                env.errors.append(e)
            default: break
            }
        default:
            throw ProviderError(.badUpstream, "Runware answered with a \(doc.typeName)", httpStatus: response.status)
        }
        // Items with status "error" are errors too.
        var kept: [JSONObject] = []
        for item in env.items {
            if item["status"]?.stringValue?.lowercased() == "error" {
                let nested = item["error"]?.objectValue ?? item
                env.errors.append(APIError(nested, defaultTaskUUID: nested["taskUUID"]?.stringValue ?? item["taskUUID"]?.stringValue))
            } else {
                kept.append(item)
            }
        }
        env.items = kept
        if env.items.isEmpty && env.errors.isEmpty && !(200..<300).contains(response.status) {
            let code = Wire.code(forStatus: response.status)
            throw ProviderError(
                code, "Runware: HTTP \(response.status)", retryAfterSeconds: code == .rateLimited ? Wire.retryAfter(response) : nil,
                httpStatus: response.status)
        }
        return env
    }

    // MARK: Error mapping

    static let creditCodes: Set<String> = ["insufficientCredits", "providerInsufficientCredits", "paymentRequired"]
    static let authCodes: Set<String> = ["invalidApiKey", "missingApiKey", "insufficientPermissions", "accountSuspended"]
    static let rateCodes: Set<String> = ["rateLimitExceeded", "inferenceRateLimitExceeded", "providerRateLimitExceeded"]
    static let timeoutCodes: Set<String> = ["timeoutProvider"]
    static let transientCodes: Set<String> = [
        "providerError", "providerUnavailable", "inferenceError", "noAvailableServer", "modelUnavailable", "taskFailed",
    ]
    static let refusalCodes: Set<String> = [
        "contentPolicyViolation", "providerContentPolicyViolation", "nsfwContentDetected", "promptBlocked", "imageBlocked",
    ]

    /// The taxonomy code for a Runware error code, or nil when the code says nothing known.
    public static func classify(_ code: String?) -> ErrorCode? {
        guard let c = code, !c.isEmpty else { return nil }
        if creditCodes.contains(c) { return .insufficientCredits }
        if authCodes.contains(c) { return .auth }
        if rateCodes.contains(c) { return .rateLimited }
        if timeoutCodes.contains(c) { return .timeout }
        if transientCodes.contains(c) { return .unavailable }
        if refusalCodes.contains(c) { return .refused }
        if c == "unknownModel" { return .invalidRequest }
        if c.hasSuffix("NotFound") || c.hasSuffix("Expired") { return .unavailable }
        for p in ["invalid", "missing", "unsupported", "unknown", "incompatible", "valueToo", "arrayToo", "conflict", "max", "min"]
        where c.hasPrefix(p) {
            return .invalidRequest
        }
        if c.hasSuffix("Exceeded") { return .invalidRequest }
        return nil
    }

    /// The job field a Runware parameter name stands for, as a JSON pointer (`width` → `/width`,
    /// `inputs.referenceImages` → `/referenceImages`).
    public static func fieldPointer(_ parameter: String) -> String {
        switch parameter {
        case "inputs.referenceImages", "referenceImages", "inputs": return "/referenceImages"
        default: return "/" + parameter.split(separator: ".").joined(separator: "/")
        }
    }

    /// One Runware error as a ``ProviderError``.
    public static func providerError(_ e: APIError, httpStatus: Int?, retryAfter: Double? = nil) -> ProviderError {
        var code = classify(e.code)
        if code == nil, e.code == nil || e.code!.hasPrefix("legacyError") {
            let m = e.message.lowercased()
            if m.contains("api key") || m.contains("apikey") { code = .auth }
        }
        let resolved = code ?? httpStatus.flatMap { (200..<300).contains($0) ? nil : Wire.code(forStatus: $0) } ?? .unavailable
        var text = "Runware \(e.code ?? "error")"
        if !e.message.isEmpty { text += ": " + Wire.clip(e.message) }
        if !e.parameters.isEmpty { text += " (parameter \(e.parameters.joined(separator: ", "))" }
        if let lo = e.min, let hi = e.max {
            text += e.parameters.isEmpty ? " (" : "; "
            text += "allowed \(fmt(lo))–\(fmt(hi))"
        }
        if !e.parameters.isEmpty || (e.min != nil && e.max != nil) { text += ")" }
        return ProviderError(
            resolved, text, retryAfterSeconds: resolved == .rateLimited ? retryAfter : nil, httpStatus: httpStatus, upstreamCode: e.code,
            field: resolved == .invalidRequest ? e.parameters.first.map(fieldPointer) : nil)
    }

    static func fmt(_ d: Double) -> String { d.rounded() == d ? String(Int64(d)) : String(d) }

    // MARK: Results

    /// One finished image.
    public struct ResultItem: Sendable, Equatable {
        public var imageUUID: String?
        public var imageURL: String?
        /// `imageBase64Data` or `imageDataURI`, when the output type asked for them.
        public var base64: String?
        public var seed: Int64?
        public var costUSD: Double?
    }

    /// The state of one task after an answer.
    public struct PollState: Sendable, Equatable {
        /// Finished images, in the order reported, without duplicates.
        public var successes: [ResultItem]
        /// Items still running.
        public var processing: Int
        /// True when the answer told us the taskUUID already exists upstream (`conflictTaskUUID`).
        public var alreadySubmitted: Bool
        /// Done when every expected image has succeeded.
        public func isDone(expected: Int) -> Bool { successes.count >= expected }
    }

    /// Reduces an envelope to the state of task `taskUUID`; any error for it (except an already-submitted
    /// conflict) fails the whole task.
    public static func state(_ env: Envelope, taskUUID: String, httpStatus: Int?, retryAfter: Double? = nil) throws(ProviderError) -> PollState {
        var st = PollState(successes: [], processing: 0, alreadySubmitted: false)
        for e in env.errors where e.taskUUID == nil || e.taskUUID == taskUUID {
            if let c = e.code, alreadySubmittedCodes.contains(c) {
                st.alreadySubmitted = true
                continue
            }
            throw providerError(e, httpStatus: httpStatus, retryAfter: retryAfter)
        }
        var seen = Set<String>()
        for item in env.items {
            if let t = item["taskUUID"]?.stringValue, t != taskUUID { continue }
            let status = item["status"]?.stringValue?.lowercased()
            let hasImage = item["imageURL"] != nil || item["imageBase64Data"] != nil || item["imageDataURI"] != nil
            guard status == "success" || (status == nil && hasImage) else {
                st.processing += 1
                continue
            }
            let r = ResultItem(
                imageUUID: item["imageUUID"]?.stringValue, imageURL: item["imageURL"]?.stringValue,
                base64: item["imageBase64Data"]?.stringValue ?? item["imageDataURI"]?.stringValue, seed: Wire.int(item["seed"]),
                costUSD: Wire.double(item["cost"]))
            guard r.imageURL != nil || r.base64 != nil else {
                throw ProviderError(.badUpstream, "Runware reported success without an image", httpStatus: httpStatus)
            }
            let key = r.imageUUID ?? r.imageURL ?? "\(st.successes.count)"
            if seen.insert(key).inserted { st.successes.append(r) }
        }
        return st
    }

    /// Decodes the answer to a submit or a poll into the task's state, or a ``ProviderError``.
    public static func decode(_ response: HTTPResponse, taskUUID: String) throws(ProviderError) -> PollState {
        let env = try parseEnvelope(response)
        return try state(env, taskUUID: taskUUID, httpStatus: response.status, retryAfter: Wire.retryAfter(response))
    }

    // MARK: Model search

    /// One `modelSearch` task per AIR, in one request. Returns the request and the taskUUID of each AIR.
    public static func encodeModelSearch(
        baseURL: String, airs: [String], apiKey: String, timeoutSeconds: Double, uuid: () -> String = { UUIDv4.generate() }
    ) -> (HTTPRequest, [String: String]) {
        var tasks: [JSONValue] = []
        var byTask: [String: String] = [:]
        for air in airs {
            let id = uuid()
            byTask[id] = air
            tasks.append(["taskType": "modelSearch", "taskUUID": .string(id), "search": .string(air), "limit": 20])
        }
        return (.postJSON(endpoint(baseURL), .array(tasks), headers: headers(apiKey), timeoutSeconds: timeoutSeconds), byTask)
    }

    /// Which AIRs the search answers list. AIRs whose task errored are left out (unknown).
    public static func decodeModelSearch(_ response: HTTPResponse, byTask: [String: String]) throws(ProviderError) -> [String: ModelVerification] {
        let env = try parseEnvelope(response)
        if env.items.isEmpty, let e = env.errors.first { throw providerError(e, httpStatus: response.status) }
        var out: [String: ModelVerification] = [:]
        for item in env.items {
            guard let t = item["taskUUID"]?.stringValue, let air = byTask[t] else { continue }
            let results = item["results"]?.arrayValue ?? []
            let found = results.contains { $0["air"]?.stringValue?.lowercased() == air.lowercased() }
            out[air] = found ? .present : .missing
        }
        return out
    }
}

extension ProviderError {
    func with(status: Int) -> ProviderError {
        var e = self
        e.httpStatus = status
        return e
    }
}
