import AtelierCore
import Foundation
import Synchronization

/// A loopback Black Forest Labs API with three hosts, as BFL really has them: the global API (`api.bfl.ai`)
/// that takes submits, a regional cluster (`api.eu.bfl.ai`) the `polling_url` points at, and the blob-storage
/// delivery host the signed `result.sample` URL points at.
///
/// - `POST /v1/{endpoint}` with `x-key` → `{id, polling_url, cost, input_mp, output_mp}` (cost in credits,
///   1 credit = $0.01, by BFL's per-megapixel prices). Validates the FastAPI way (422 `detail[]` of
///   `{loc,msg,type}`): prompt present, width/height on the endpoint's grid (×16; ×32 for `flux-pro-1.1`),
///   `aspect_ratio` for Kontext / Ultra, `output_format`, `safety_tolerance`.
/// - `GET /v1/get_result?id=` on the regional host, with `x-key`: `Pending` (with `progress`) for
///   ``pollsBeforeReady`` polls, then `Ready` with `result.sample` on the delivery host and `result.seed`. The
///   global host does not know regional tasks: polling it answers `Task not found`, as BFL does.
/// - The delivery host serves the sample only with a valid signature and **rejects any `x-key`** (403), as blob
///   storage would.
///
/// FLUX honours the seed: the same seed, prompt and size draw the same bytes.
///
/// Scenarios at submit: `rate-limit` (429), `503`, `no-credits` (402), `invalid` (422), `malformed`, `reset`.
/// While polling: `blocked` (`Request Moderated` with `moderation_reasons`), `failed` (`Error`), `hold`
/// (`Pending` until ``FakeScript/release()``); queued poll scenarios `503`, `malformed`, `reset` answer one poll.
/// Queued download scenarios: `503`, `reset`.
public final class BFLFake: FakeProvider {
    public let name = "bfl"
    public let apiKey: String
    public let log: FakeRequestLog
    public let script = FakeScript(provider: "bfl", pollScenarios: [.blocked, .failed])
    public let api: FakeHTTPServer
    public let regional: FakeHTTPServer
    public let delivery: FakeHTTPServer
    public var baseURL: String { api.baseURL }
    public let pollsBeforeReady: Int
    public let echoKeyInErrors: Bool

    /// A submitted generation.
    public struct TaskRecord: Sendable {
        public var id: String
        public var endpoint: String
        public var prompt: String
        public var width: Int
        public var height: Int
        public var seed: UInt64
        public var format: FakeImages.Format
        public var credits: Double
        public var polls: Int
        public var held: Bool
        public var failure: String?
        public var signature: String
    }

    private struct State {
        var tasks: [String: TaskRecord] = [:]
        var files: [String: (bytes: [UInt8], mime: String, signature: String)] = [:]
        var served: [FakeServedImage] = []
    }

    private let state = Mutex(State())

    /// Endpoints and their prices: first megapixel, each further megapixel, each input megapixel (credits).
    public static let endpoints: [String: (first: Double, extra: Double, input: Double)] = [
        "flux-2-pro": (3, 1.5, 1.5), "flux-2-max": (7, 3, 3), "flux-2-flex": (5, 5, 5), "flux-2-klein-4b": (1.4, 0.1, 0.1),
        "flux-2-klein-9b": (1.5, 0.2, 0.2), "flux-pro-1.1": (4, 0, 0), "flux-pro-1.1-ultra": (6, 0, 0), "flux-kontext-pro": (4, 0, 0),
        "flux-kontext-max": (8, 0, 0),
    ]

    private init(
        apiKey: String, api: FakeHTTPServer, regional: FakeHTTPServer, delivery: FakeHTTPServer, log: FakeRequestLog, pollsBeforeReady: Int,
        echoKeyInErrors: Bool
    ) {
        self.apiKey = apiKey
        self.api = api
        self.regional = regional
        self.delivery = delivery
        self.log = log
        self.pollsBeforeReady = pollsBeforeReady
        self.echoKeyInErrors = echoKeyInErrors
    }

    /// Starts the three hosts on ephemeral loopback ports.
    public static func start(apiKey: String, pollsBeforeReady: Int = 2, echoKeyInErrors: Bool = false) async throws -> BFLFake {
        let box = WeakRef<BFLFake>()
        let log = FakeRequestLog()
        func server(_ host: String) async throws -> FakeHTTPServer {
            try await FakeHTTPServer.start(host: host, log: log) { req in
                guard let me = box.value else { return .respond(status: 503, headers: [], body: []) }
                return me.handle(req, host: host)
            }
        }
        let api = try await server("api")
        let regional = try await server("regional")
        let delivery = try await server("delivery")
        let fake = BFLFake(
            apiKey: apiKey, api: api, regional: regional, delivery: delivery, log: log, pollsBeforeReady: pollsBeforeReady,
            echoKeyInErrors: echoKeyInErrors)
        box.set(fake)
        return fake
    }

    public func shutdown() async {
        await api.shutdown()
        await regional.shutdown()
        await delivery.shutdown()
    }

    public var served: [FakeServedImage] { state.withLock { $0.served } }

    /// Submitted generations by id.
    public var tasks: [String: TaskRecord] { state.withLock { $0.tasks } }

    func handle(_ req: RecordedRequest, host: String) -> FakeReply {
        if host == "delivery" { return sample(req) }
        if req.method == "GET", req.path == "/v1/get_result" { return poll(req, host: host) }
        if req.method == "POST", req.path.hasPrefix("/v1/"), host == "api" { return submit(req) }
        return .json(404, ["detail": "Not Found"])
    }

    private func authError(_ req: RecordedRequest) -> FakeReply? {
        guard let key = req.header("x-key"), !key.isEmpty else {
            return .json(401, ["detail": "Not authenticated: send your API key in the x-key header"])
        }
        guard key == apiKey else {
            return .json(401, ["detail": .string("Invalid API key" + (echoKeyInErrors ? " '\(key)'" : ""))])
        }
        return nil
    }

    private static func detail(_ field: String, _ msg: String, type: String = "value_error", input: JSONValue? = nil) -> FakeReply {
        var item: JSONObject = ["type": .string(type), "loc": ["body", .string(field)], "msg": .string(msg)]
        item.append("input", ifPresent: input)
        return .json(422, ["detail": [.object(item)]])
    }

    // MARK: - Submit

    private func submit(_ req: RecordedRequest) -> FakeReply {
        let endpoint = String(req.path.dropFirst(4))
        guard let price = Self.endpoints[endpoint] else { return .json(404, ["detail": "Not Found"]) }
        if let e = authError(req) { return e }
        guard let body = req.json, body.objectValue != nil else {
            return .json(422, ["detail": [["type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"]]])
        }
        let prompt = body["prompt"]?.stringValue
        let (failure, modifiers) = script.decide(stage: .generate, prompt: prompt)
        switch failure {
        case .rateLimited?:
            return .json(
                429, ["detail": "You have reached the maximum number of active tasks (24). Please wait for some to finish."],
                headers: [("Retry-After", "1")])
        case .unavailable?: return .json(503, ["detail": "Service temporarily unavailable. Please retry."])
        case .noCredits?: return .json(402, ["detail": "Insufficient credits. Add credits at https://dashboard.bfl.ai."])
        case .invalid?: return Self.detail("width", "Input should be a multiple of 16", input: body["width"])
        case .malformed?: return .malformedJSON(#"{"id":"3f2a","polling_url":"https://api.eu.bfl.ai/v1/get_res"#)
        case .reset?:
            let full = JSONWriter.bytes(["id": "reset", "polling_url": .string("\(regional.baseURL)/v1/get_result?id=reset"), "cost": 3])
            return .resetMidBody(status: 200, headers: [("Content-Type", "application/json")], body: full, afterBytes: full.count / 2)
        default: break
        }
        guard let prompt, !prompt.isEmpty else { return Self.detail("prompt", "Field required", type: "missing") }
        let usesRatio = endpoint.hasPrefix("flux-kontext") || endpoint.hasPrefix("flux-pro-1.1-ultra")
        var width = 1024
        var height = 768
        if usesRatio {
            if body["width"] != nil { return Self.detail("width", "Extra inputs are not permitted", type: "extra_forbidden") }
            let ratio = body["aspect_ratio"]?.stringValue ?? "16:9"
            let parts = ratio.split(separator: ":").compactMap { Double($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 0, parts[0] / parts[1] <= 21.0 / 9 + 1e-9, parts[1] / parts[0] <= 21.0 / 9 + 1e-9 else {
                return Self.detail("aspect_ratio", "Aspect ratio must be between 21:9 and 9:21", input: body["aspect_ratio"])
            }
            // About one megapixel at that ratio, on a 16-pixel grid.
            let r = parts[0] / parts[1]
            width = Int((sqrt(1_048_576 * r) / 16).rounded()) * 16
            height = Int((sqrt(1_048_576 / r) / 16).rounded()) * 16
        } else {
            let grid = endpoint == "flux-pro-1.1" ? 32 : 16
            let lo = endpoint == "flux-pro-1.1" ? 256 : 64
            let hi = endpoint == "flux-pro-1.1" ? 1440 : 2048
            if let w = body["width"]?.intValue { width = Int(w) }
            if let h = body["height"]?.intValue { height = Int(h) }
            for (name, v) in [("width", width), ("height", height)] {
                if v % grid != 0 { return Self.detail(name, "Input should be a multiple of \(grid)", input: .int(Int64(v))) }
                if v < lo || v > hi { return Self.detail(name, "Input should be between \(lo) and \(hi)", input: .int(Int64(v))) }
            }
            if Double(width * height) > 4.2e6 { return Self.detail("width", "width × height must be at most 4 megapixels") }
        }
        if let f = body["output_format"], f.stringValue.map({ ["jpeg", "png", "webp"].contains($0) }) != true {
            return Self.detail("output_format", "Input should be 'jpeg', 'png' or 'webp'", type: "enum", input: f)
        }
        if let t = body["safety_tolerance"], t.intValue.map({ (0...6).contains($0) }) != true {
            return Self.detail("safety_tolerance", "Input should be less than or equal to 6", input: t)
        }
        let seed: UInt64 = body["seed"]?.intValue.map { UInt64(max($0, 0)) } ?? FakeImages.randomSeed()
        let inputs = (body.objectValue ?? [:]).keys.filter { $0.hasPrefix("input_image") }.count
        let outMP = Double(width * height) / 1_000_000
        let credits = ((price.first + max(0, outMP.rounded(.up) - 1) * price.extra + Double(inputs) * price.input) * 100).rounded() / 100
        let id = UUIDv4.generate()
        let record = TaskRecord(
            id: id, endpoint: endpoint, prompt: prompt, width: width, height: height, seed: seed,
            format: .init(loose: body["output_format"]?.stringValue),
            credits: credits, polls: 0, held: modifiers.contains(.hold), failure: nil, signature: String(UInt64.random(in: 1...UInt64.max), radix: 16)
        )
        state.withLock { $0.tasks[id] = record }
        return .json(
            200,
            [
                "id": .string(id), "polling_url": .string("\(regional.baseURL)/v1/get_result?id=\(id)"), "cost": .number(credits),
                "input_mp": .number(Double(inputs)), "output_mp": .number((outMP * 100).rounded() / 100),
            ])
    }

    // MARK: - Poll

    private func poll(_ req: RecordedRequest, host: String) -> FakeReply {
        if let e = authError(req) { return e }
        let id = req.query["id"] ?? ""
        // Tasks live on the regional cluster: the global host does not know them.
        guard host == "regional", var t = state.withLock({ $0.tasks[id] }) else {
            return .json(200, ["id": .string(id), "status": "Task not found", "result": .null, "progress": .null])
        }
        let (failure, _) = script.decide(stage: .poll, prompt: t.prompt)
        switch failure {
        case .blocked?: t.failure = t.failure ?? "Request Moderated"
        case .failed?: t.failure = t.failure ?? "Error"
        case .unavailable?: return .json(503, ["detail": "Service temporarily unavailable"])
        case .rateLimited?: return .json(429, ["detail": "Too many requests"], headers: [("Retry-After", "1")])
        case .malformed?: return .malformedJSON(#"{"id":"\#(id)","status":"Pen"#)
        case .reset?:
            let full = JSONWriter.bytes(["id": .string(id), "status": "Pending", "result": .null, "progress": 0.5])
            return .resetMidBody(status: 200, headers: [("Content-Type", "application/json")], body: full, afterBytes: full.count / 2)
        default: break
        }
        t.polls += 1
        let released = script.isReleased
        state.withLock { $0.tasks[id] = t }
        if let f = t.failure {
            var details: JSONObject = [:]
            if f == "Request Moderated" {
                details.append("moderation_reasons", ["Derivative Works Filter"])
            } else {
                details.append("error", "Generation failed on the worker.")
            }
            return .json(200, ["id": .string(id), "status": .string(f), "result": .null, "progress": .null, "details": .object(details)])
        }
        guard (!t.held || released) && t.polls > pollsBeforeReady else {
            let progress = t.held ? 0.1 : Double(t.polls) / Double(pollsBeforeReady + 1)
            return .json(
                200,
                ["id": .string(id), "status": "Pending", "result": .null, "progress": .number((progress * 100).rounded() / 100), "details": .null])
        }
        let ext = t.format.fileExtension
        if state.withLock({ $0.files[id] == nil }) {
            let bytes = FakeImages.image(
                label: "bfl", prompt: FakePromptToken.strip(t.prompt), seed: t.seed, width: t.width, height: t.height, format: t.format)
            state.withLock { s in
                s.files[id] = (bytes, t.format.mimeType, t.signature)
                s.served.append(
                    FakeServedImage(
                        prompt: t.prompt, model: t.endpoint, seed: t.seed, width: t.width, height: t.height, bytes: bytes,
                        mimeType: t.format.mimeType,
                        reportedCostUSD: t.credits / 100, extra: ["id": id], thoughtImages: []))
            }
        }
        let sample = "\(delivery.baseURL)/results/\(id)/sample.\(ext)?se=2026-11-21T10%3A10%3A00Z&sp=r&sv=2024-11-04&sr=b&sig=\(t.signature)"
        return .json(
            200,
            [
                "id": .string(id), "status": "Ready",
                "result": [
                    "sample": .string(sample), "prompt": .string(t.prompt), "seed": .int(Int64(t.seed)), "start_time": 1_763_719_800.5,
                    "end_time": 1_763_719_804.25, "duration": 3.75,
                ],
                "progress": .null, "details": .null, "preview": .null,
            ])
    }

    // MARK: - Delivery

    private func sample(_ req: RecordedRequest) -> FakeReply {
        let (failure, _) = script.decide(stage: .download, prompt: nil)
        let parts = req.path.split(separator: "/")
        guard req.method == "GET", parts.count == 3, parts[0] == "results", let file = state.withLock({ $0.files[String(parts[1])] }) else {
            return .bytes(
                404, Array("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code></Error>".utf8), contentType: "application/xml")
        }
        // Blob storage authenticates by the signature only; a stray x-key header is an error, as with Azure.
        if req.header("x-key") != nil || req.header("Authorization") != nil || req.query["sig"] != file.signature {
            return .bytes(
                403,
                Array(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.</Message></Error>"
                        .utf8),
                contentType: "application/xml")
        }
        switch failure {
        case .unavailable?: return .bytes(503, Array("Service Unavailable".utf8), contentType: "text/plain")
        case .reset?: return .resetMidBody(status: 200, headers: [("Content-Type", file.mime)], body: file.bytes, afterBytes: file.bytes.count / 2)
        default: return .bytes(200, file.bytes, contentType: file.mime)
        }
    }
}
