import AtelierCore
import Foundation
import Synchronization

/// A loopback Runware task API (`api.runware.ai`) plus its image host (`im.runware.ai`).
///
/// - `POST /v1` with a JSON array of tasks; the key is `Authorization: Bearer …` (or an `authentication` task).
///   Answers `{"data":[…]}`, `{"errors":[…]}` or both, pairing each item with its `taskUUID`.
///   - `imageInference` with `deliveryMethod: "async"` is acknowledged at once; the generations then report
///     `processing` for ``pollsBeforeDone`` polls (image i one poll later than image i−1, so partial results
///     are seen) and then `success` with `imageUUID`, `imageURL` (on the image host), `seed` and `cost`.
///     Synchronous delivery answers the results directly. A reused taskUUID is `conflictTaskUUID`.
///   - `getResponse` returns the complete state of a task; an unknown taskUUID is `taskFailedOrNotFound`.
///   - `modelSearch` searches the known AIRs (``models``) by substring: `data[0].results[].air`.
/// - The image host serves `GET /image/ws/2/ii/<imageUUID>.<ext>` without credentials.
///
/// Runware-hosted open weights (`runware:` AIRs) honour the seed (the same seed, prompt and size draw the same
/// bytes); other AIRs (Google, BFL, ByteDance via Runware) ignore it.
///
/// Scenarios at submit: `rate-limit` (429 `providerRateLimitExceeded`, `Retry-After: 1`), `503`
/// (`noAvailableServer`), `no-credits` (402 `insufficientCredits`), `invalid` (400 `invalidWidth` with min/max)
/// reject the task; `malformed` and `reset` accept it (it runs and is charged) but garble or cut the answer. While polling: `blocked` (`contentPolicyViolation`), `failed` (`taskFailed`), and
/// `hold` (processing until ``FakeScript/release()``); queued poll scenarios `503`, `rate-limit`, `malformed`, `reset`
/// answer one poll.
public final class RunwareFake: FakeProvider {
    public let name = "runware"
    public let apiKey: String
    public let log: FakeRequestLog
    public let script = FakeScript(provider: "runware", pollScenarios: [.blocked, .failed])
    public let api: FakeHTTPServer
    public let images: FakeHTTPServer
    public var baseURL: String { api.baseURL }
    /// Polls that answer `processing` before the first image succeeds (image i takes i polls more).
    public let pollsBeforeDone: Int
    public let echoKeyInErrors: Bool

    /// A submitted task.
    public struct TaskRecord: Sendable {
        public var taskUUID: String
        public var model: String
        public var prompt: String
        public var width: Int
        public var height: Int
        public var seed: UInt64
        public var numberResults: Int
        public var format: FakeImages.Format
        public var includeCost: Bool
        public var polls: Int
        public var held: Bool
        /// A failure decided while polling (sticky).
        public var failure: JSONValue?
        /// imageUUID of each finished image.
        public var imageUUIDs: [String?]
    }

    private struct State {
        var models: [String: String]
        var tasks: [String: TaskRecord] = [:]
        var files: [String: (bytes: [UInt8], mime: String)] = [:]
        var served: [FakeServedImage] = []
    }

    private let state: Mutex<State>

    /// AIRs known by default, with a name: the catalog's, minus `bytedance:5@0` (to show a missing id), plus some.
    public static let defaultModels: [String: String] = [
        "google:4@1": "Nano Banana", "google:4@2": "Nano Banana Pro", "google:4@3": "Nano Banana 2", "bfl:5@1": "FLUX.2 [pro]",
        "bfl:6@1": "FLUX.2 [flex]", "bfl:7@1": "FLUX.2 [max]", "runware:400@1": "FLUX.2 [dev]", "runware:400@2": "FLUX.2 [klein] 9B",
        "runware:400@4": "FLUX.2 [klein] 4B", "runware:101@1": "FLUX.1 [dev]", "runware:100@1": "FLUX.1 [schnell]",
        "runware:5@1": "Stable Diffusion 3",
        "bytedance:seedream@4.5": "Seedream 4.5", "openai:4@1": "GPT Image 1.5",
    ]

    /// USD per image by AIR (per megapixel for `runware:` weights), as the fake reports with `includeCost`.
    static func cost(model: String, width: Int, height: Int) -> Double {
        let mp = Double(width * height) / 1_000_000
        let usd: Double
        switch model {
        case "google:4@1": usd = 0.039
        case "google:4@2": usd = max(width, height) > 4000 ? 0.244 : 0.138
        case "google:4@3": usd = 0.06895
        case "bfl:5@1": usd = 0.03 + max(0, mp.rounded(.up) - 1) * 0.015
        case "bfl:6@1": usd = 0.06
        case "runware:400@4": usd = 0.0019 * max(mp, 0.25)
        case "runware:400@1": usd = 0.0128 * max(mp, 0.25)
        case "runware:101@1": usd = 0.0038 * max(mp, 0.25)
        case "runware:100@1": usd = 0.0013 * max(mp, 0.25)
        default: usd = 0.0065
        }
        return (usd * 1e6).rounded() / 1e6
    }

    private init(
        apiKey: String, api: FakeHTTPServer, images: FakeHTTPServer, log: FakeRequestLog, models: [String: String], pollsBeforeDone: Int,
        echoKeyInErrors: Bool
    ) {
        self.apiKey = apiKey
        self.api = api
        self.images = images
        self.log = log
        self.pollsBeforeDone = pollsBeforeDone
        self.echoKeyInErrors = echoKeyInErrors
        self.state = Mutex(State(models: models))
    }

    /// Starts the API and the image host on ephemeral loopback ports.
    public static func start(
        apiKey: String, models: [String: String] = defaultModels, pollsBeforeDone: Int = 2, echoKeyInErrors: Bool = false
    ) async throws -> RunwareFake {
        let box = WeakRef<RunwareFake>()
        let log = FakeRequestLog()
        let api = try await FakeHTTPServer.start(host: "api", log: log) { req in
            guard let me = box.value else { return .respond(status: 503, headers: [], body: []) }
            return me.handleAPI(req)
        }
        let images = try await FakeHTTPServer.start(host: "images", log: log) { req in
            guard let me = box.value else { return .respond(status: 503, headers: [], body: []) }
            return me.handleImage(req)
        }
        let fake = RunwareFake(
            apiKey: apiKey, api: api, images: images, log: log, models: models, pollsBeforeDone: pollsBeforeDone, echoKeyInErrors: echoKeyInErrors)
        box.set(fake)
        return fake
    }

    public func shutdown() async {
        await api.shutdown()
        await images.shutdown()
    }

    public var served: [FakeServedImage] { state.withLock { $0.served } }

    /// Replaces the known AIRs (`modelSearch` and `imageInference` use them).
    public func setModels(_ models: [String: String]) { state.withLock { $0.models = models } }

    /// The tasks submitted so far, by taskUUID.
    public var tasks: [String: TaskRecord] { state.withLock { $0.tasks } }

    /// The tasks of a given type in the requests received (each request body is an array of tasks).
    public func tasks(ofType type: String) -> [JSONValue] {
        log.all.filter { $0.host == "api" }.flatMap { ($0.json?.arrayValue ?? []).filter { $0["taskType"]?.stringValue == type } }
    }

    // MARK: - API

    func handleAPI(_ req: RecordedRequest) -> FakeReply {
        guard req.method == "POST", req.path == "/v1" || req.path == "/v1/" else {
            return .json(404, ["errors": [["code": "notFound", "message": .string("No route for \(req.method) \(req.path). Use POST /v1.")]]])
        }
        guard let body = req.json, case .array(let tasks) = body else {
            return .json(
                400,
                ["errors": [["code": "invalidRequestBody", "message": "The request body must be a JSON array of task objects."]]])
        }
        // Authentication: the header, or an authentication task first in the array.
        var key: String?
        if let h = req.header("Authorization"), h.hasPrefix("Bearer ") { key = String(h.dropFirst(7)) }
        if key == nil, let first = tasks.first, first["taskType"]?.stringValue == "authentication" { key = first["apiKey"]?.stringValue }
        guard let key, !key.isEmpty else {
            return .json(
                401,
                [
                    "errors": [
                        [
                            "code": "missingApiKey", "message": "An API key is required. Send Authorization: Bearer <key>.",
                            "taskType": "authentication",
                        ]
                    ]
                ])
        }
        guard key == apiKey else {
            let msg = "Invalid API key. Get one at https://my.runware.ai/signup" + (echoKeyInErrors ? " (received '\(key)')" : "")
            return .json(401, ["errors": [["code": "invalidApiKey", "message": .string(msg), "parameter": "apiKey", "taskType": "authentication"]]])
        }
        var data: [JSONValue] = []
        var errors: [JSONValue] = []
        var status = 200
        for task in tasks {
            let type = task["taskType"]?.stringValue ?? ""
            let reply: TaskReply
            switch type {
            case "authentication": continue
            case "imageInference": reply = imageInference(task)
            case "getResponse": reply = getResponse(task)
            case "modelSearch": reply = modelSearch(task)
            default:
                reply = .errors(
                    400,
                    [
                        [
                            "code": "unsupportedTaskType", "message": .string("The fake does not implement taskType '\(type)'."),
                            "taskType": .string(type),
                        ]
                    ])
            }
            switch reply {
            case .data(let items): data += items
            case .errors(let s, let es):
                errors += es
                if status == 200 { status = s }
            case .raw(let r): return r
            }
        }
        if !data.isEmpty { status = 200 }
        var out = JSONObject()
        if !data.isEmpty || errors.isEmpty { out.append("data", .array(data)) }
        if !errors.isEmpty { out.append("errors", .array(errors)) }
        var headers: [(String, String)] = []
        if status == 429 { headers.append(("Retry-After", "1")) }
        return .json(status, .object(out), headers: headers)
    }

    private enum TaskReply {
        case data([JSONValue])
        case errors(Int, [JSONValue])
        case raw(FakeReply)
    }

    private func taskError(_ code: String, _ message: String, task: JSONValue, parameter: JSONValue? = nil, extra: JSONObject = [:]) -> JSONValue {
        var e: JSONObject = ["code": .string(code), "message": .string(message)]
        e.append("parameter", ifPresent: parameter)
        e.append("taskType", ifPresent: task["taskType"])
        e.append("taskUUID", ifPresent: task["taskUUID"])
        for (k, v) in extra { e.append(k, v) }
        e.append("documentation", "https://runware.ai/docs/platform/errors")
        return .object(e)
    }

    private func imageInference(_ task: JSONValue) -> TaskReply {
        guard let uuid = task["taskUUID"]?.stringValue, UUIDv4.canonical(uuid) != nil else {
            return .errors(400, [taskError("invalidTaskUUID", "taskUUID must be a UUID v4.", task: task, parameter: "taskUUID")])
        }
        let prompt = task["positivePrompt"]?.stringValue ?? ""
        let (failure, modifiers) = script.decide(stage: .generate, prompt: prompt)
        if let f = failure {
            switch f {
            case .rateLimited:
                return .errors(
                    429, [taskError("providerRateLimitExceeded", "The provider's rate limit was exceeded. Please retry shortly.", task: task)])
            case .unavailable:
                return .errors(503, [taskError("noAvailableServer", "No available server to process the task. Please try again later.", task: task)])
            case .noCredits:
                return .errors(402, [taskError("insufficientCredits", "Insufficient credits. Top up at https://my.runware.ai.", task: task)])
            case .invalid:
                return .errors(
                    400,
                    [
                        taskError(
                            "invalidWidth", "Invalid value for width. Must be an integer between 128 and 2048, in multiples of 16.", task: task,
                            parameter: "width", extra: ["type": "integer", "min": 128, "max": 2048, "multiplier": 16])
                    ])
            default: break
            }
        }
        let model = task["model"]?.stringValue ?? ""
        let known = state.withLock { $0.models[model] != nil }
        guard known else {
            return .errors(
                400, [taskError("unknownModel", "Unknown model '\(model)'. Check the AIR with modelSearch.", task: task, parameter: "model")])
        }
        guard prompt.count >= 2 else {
            return .errors(
                400, [taskError("invalidPositivePrompt", "positivePrompt must be 2-3000 characters.", task: task, parameter: "positivePrompt")])
        }
        var width = Int(task["width"]?.intValue ?? 0)
        var height = Int(task["height"]?.intValue ?? 0)
        if width == 0 || height == 0 {
            guard let res = task["resolution"]?.stringValue else {
                return .errors(
                    400, [taskError("missingWidth", "width and height (or resolution) are required.", task: task, parameter: ["width", "height"])])
            }
            let side = ["0.5K": 512, "1K": 1024, "2K": 2048, "4K": 4096][res.uppercased()] ?? 1024
            width = side
            height = side
        }
        guard (64...8192).contains(width), (64...8192).contains(height) else {
            return .errors(
                400,
                [
                    taskError(
                        "invalidWidth", "Invalid value for width/height.", task: task, parameter: ["width", "height"],
                        extra: ["min": 64, "max": 8192])
                ])
        }
        let n = Int(task["numberResults"]?.intValue ?? 1)
        guard (1...20).contains(n) else {
            return .errors(
                400,
                [
                    taskError(
                        "invalidNumberResults", "numberResults must be 1-20.", task: task, parameter: "numberResults", extra: ["min": 1, "max": 20])
                ])
        }
        let seed: UInt64 = task["seed"]?.intValue.map { UInt64(max($0, 1)) } ?? FakeImages.randomSeed()
        let record = TaskRecord(
            taskUUID: uuid, model: model, prompt: prompt, width: width, height: height, seed: seed, numberResults: n,
            format: .init(loose: task["outputFormat"]?.stringValue), includeCost: task["includeCost"]?.boolValue == true, polls: 0,
            held: modifiers.contains(.hold), failure: nil, imageUUIDs: Array(repeating: nil, count: n))
        let conflict = state.withLock { s -> Bool in
            if s.tasks[uuid] != nil { return true }
            s.tasks[uuid] = record
            return false
        }
        if conflict {
            return .errors(400, [taskError("conflictTaskUUID", "A task with this taskUUID already exists.", task: task, parameter: "taskUUID")])
        }
        // The task was accepted (and will be charged); only the answer is lost or garbled on the way back.
        switch failure {
        case .malformed?:
            return .raw(.malformedJSON(#"{"data":[{"taskType":"imageInference","taskUUID":""#))
        case .reset?:
            let full = JSONWriter.bytes(["data": [["taskType": "imageInference", "taskUUID": .string(uuid), "status": "processing"]]])
            return .raw(.resetMidBody(status: 200, headers: [("Content-Type", "application/json")], body: full, afterBytes: full.count / 2))
        default: break
        }
        if task["deliveryMethod"]?.stringValue == "async" {
            return .data([["taskType": "imageInference", "taskUUID": .string(uuid), "status": "processing"]])
        }
        // Synchronous delivery: the results at once (no status field).
        return .data(
            (0..<n).map { i in
                var item = finish(uuid, index: i)
                item["status"] = nil
                return .object(item)
            })
    }

    /// Draws image `i` of a task (once) and returns its result item.
    private func finish(_ uuid: String, index i: Int) -> JSONObject {
        let (t, existing) = state.withLock { s in (s.tasks[uuid]!, s.tasks[uuid]!.imageUUIDs[i]) }
        let honoured = t.model.hasPrefix("runware:")
        let seed = t.seed &+ UInt64(i)
        let imageUUID: String
        if let existing {
            imageUUID = existing
        } else {
            let drawSeed = honoured ? seed : FakeImages.randomSeed()
            let bytes = FakeImages.image(
                label: "runware", prompt: FakePromptToken.strip(t.prompt), seed: drawSeed, width: t.width, height: t.height, format: t.format)
            imageUUID = UUIDv4.generate()
            let cost = t.includeCost ? Self.cost(model: t.model, width: t.width, height: t.height) : nil
            state.withLock { s in
                s.tasks[uuid]?.imageUUIDs[i] = imageUUID
                s.files[imageUUID] = (bytes, t.format.mimeType)
                s.served.append(
                    FakeServedImage(
                        prompt: t.prompt, model: t.model, seed: seed, width: t.width, height: t.height, bytes: bytes, mimeType: t.format.mimeType,
                        reportedCostUSD: cost, extra: ["taskUUID": uuid, "imageUUID": imageUUID], thoughtImages: []))
            }
        }
        var item: JSONObject = [
            "taskType": "imageInference", "taskUUID": .string(uuid), "imageUUID": .string(imageUUID),
            "imageURL": .string("\(images.baseURL)/image/ws/2/ii/\(imageUUID).\(t.format.fileExtension)"), "seed": .int(Int64(seed)),
        ]
        if t.includeCost { item.append("cost", .number(Self.cost(model: t.model, width: t.width, height: t.height))) }
        item.append("status", "success")
        return item
    }

    private func getResponse(_ task: JSONValue) -> TaskReply {
        guard let uuid = task["taskUUID"]?.stringValue, var t = state.withLock({ $0.tasks[uuid] }) else {
            return .errors(
                400,
                [taskError("taskFailedOrNotFound", "No task with this taskUUID was found, or it failed.", task: task, extra: ["status": "error"])])
        }
        let (failure, _) = script.decide(stage: .poll, prompt: t.prompt)
        if let f = failure, t.failure == nil {
            switch f {
            case .blocked:
                t.failure = taskError(
                    "contentPolicyViolation", "The prompt or the generated image violates the content policy.",
                    task: ["taskType": "imageInference", "taskUUID": .string(uuid)],
                    extra: ["status": "error"])
            case .failed:
                t.failure = taskError(
                    "taskFailed", "The task failed during inference.", task: ["taskType": "imageInference", "taskUUID": .string(uuid)],
                    extra: ["status": "error"])
            case .unavailable:
                return .errors(503, [taskError("noAvailableServer", "No available server. Please try again later.", task: task)])
            case .rateLimited:
                return .errors(429, [taskError("rateLimitExceeded", "Too many requests.", task: task)])
            case .malformed:
                return .raw(.malformedJSON(#"{"data":[{"taskType":"imageInference","status":"proce"#))
            case .reset:
                let full = JSONWriter.bytes(["data": [["taskType": "imageInference", "taskUUID": .string(uuid), "status": "processing"]]])
                return .raw(.resetMidBody(status: 200, headers: [("Content-Type", "application/json")], body: full, afterBytes: full.count / 2))
            default: break
            }
        }
        t.polls += 1
        let released = script.isReleased
        state.withLock { $0.tasks[uuid] = t }
        if let failure = t.failure { return .errors(400, [failure]) }
        var items: [JSONValue] = []
        for i in 0..<t.numberResults {
            let ready = (!t.held || released) && t.polls > pollsBeforeDone + i
            if ready {
                items.append(.object(finish(uuid, index: i)))
            } else {
                items.append(["taskType": "imageInference", "taskUUID": .string(uuid), "status": "processing"])
            }
        }
        return .data(items)
    }

    private func modelSearch(_ task: JSONValue) -> TaskReply {
        let (failure, _) = script.decide(stage: .list, prompt: nil)
        if failure == .unavailable {
            return .errors(503, [taskError("noAvailableServer", "Model search is temporarily unavailable.", task: task)])
        }
        let search = (task["search"]?.stringValue ?? "").lowercased()
        let limit = Int(task["limit"]?.intValue ?? 20)
        let models = state.withLock { $0.models }
        let hits = models.keys.sorted().filter { search.isEmpty || $0.lowercased().contains(search) || models[$0]!.lowercased().contains(search) }
        let results: [JSONValue] = hits.prefix(max(1, min(limit, 100))).map { air in
            let source = air.split(separator: ":").first.map(String.init) ?? ""
            return [
                "air": .string(air), "name": .string(models[air]!), "version": .string(String(air.split(separator: "@").last ?? "1")),
                "category": "checkpoint", "type": "base", "architecture": .string(source == "runware" ? "flux1d" : source),
                "defaultWidth": 1024, "defaultHeight": 1024, "private": false,
            ]
        }
        return .data([
            [
                "taskType": "modelSearch", "taskUUID": task["taskUUID"] ?? .null, "results": .array(results),
                "totalResults": .int(Int64(hits.count)),
            ]
        ])
    }

    // MARK: - Image host

    func handleImage(_ req: RecordedRequest) -> FakeReply {
        let (failure, _) = script.decide(stage: .download, prompt: nil)
        let name = req.path.split(separator: "/").last.map(String.init) ?? ""
        let imageUUID = name.split(separator: ".").first.map(String.init) ?? ""
        guard req.method == "GET", req.path.hasPrefix("/image/"), let file = state.withLock({ $0.files[imageUUID] }) else {
            return .bytes(404, Array("Not Found".utf8), contentType: "text/plain")
        }
        switch failure {
        case .unavailable?: return .bytes(503, Array("Service Unavailable".utf8), contentType: "text/plain")
        case .reset?: return .resetMidBody(status: 200, headers: [("Content-Type", file.mime)], body: file.bytes, afterBytes: file.bytes.count / 2)
        default: return .bytes(200, file.bytes, contentType: file.mime, headers: [("Cache-Control", "public, max-age=604800")])
        }
    }
}
