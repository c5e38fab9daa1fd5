import AtelierCore
import Foundation
import Synchronization

/// One batch the fake holds.
struct FakeGeminiBatch: Sendable {
    var name: String
    var model: String
    var displayName: String
    var requests: [(key: String, request: JSONValue)]
    /// Created from an uploaded JSONL file: the results go to a results file too.
    var fromFile: Bool
    var polls = 0
    var state = "PENDING"
    var inlined: [JSONValue] = []
    var resultsFile: String?
    var error: String?
}

/// The fake's Batch API state.
struct BatchState: Sendable {
    var batches: [String: FakeGeminiBatch] = [:]
    /// Uploaded and result files by name (`files/…`).
    var files: [String: [UInt8]] = [:]
    /// Upload sessions: id → display name.
    var uploads: [String: String] = [:]
    var counter = 0
    /// Polls answered `RUNNING` before a batch finishes.
    var pollsBeforeDone = 1
}

/// The Batch API of the Gemini fake.
///
/// - `POST /v1beta/models/{model}:batchGenerateContent` with `batch.inputConfig.requests.requests[{request, metadata.key}]`
///   or `batch.inputConfig.fileName` → an operation named `batches/fake-N` (`BATCH_STATE_PENDING`).
/// - `GET /v1beta/batches/{id}` → `RUNNING` for ``batchPollsBeforeDone`` polls (and for as long as a request's prompt
///   carries `[fake:hold]` and the script is not released), then final: every request is answered as
///   `generateContent` would (so prompt tokens and queued scenarios fail single requests), inline
///   (`response.inlinedResponses.inlinedResponses[]`) or, for a file batch, as a results file (`response.responsesFile`).
///   A prompt with `[fake:batch-failed]` or `[fake:batch-expired]` ends the batch `FAILED` / `EXPIRED`.
/// - Files API: `POST /upload/v1beta/files` (`X-Goog-Upload-Command: start` → `X-Goog-Upload-URL`; then
///   `upload, finalize` with the bytes → `{"file": {"name": "files/…"}}`) and `GET /download/v1beta/files/{id}:download?alt=media`.
extension GeminiFake {
    /// `batchGenerateContent` requests received.
    public var batchCreateRequests: [RecordedRequest] { log.filter { $0.path.hasSuffix(":batchGenerateContent") } }

    /// `GET batches/…` polls received.
    public var batchPolls: [RecordedRequest] { log.filter { $0.method == "GET" && $0.path.hasPrefix("/v1beta/batches/") } }

    /// Polls answered `RUNNING` before a batch finishes (default 1).
    public func setBatchPollsBeforeDone(_ n: Int) { batchState.withLock { $0.pollsBeforeDone = n } }

    /// The state of every batch (`PENDING`, `RUNNING`, `SUCCEEDED`, …) by name.
    public var batchStates: [String: String] { batchState.withLock { $0.batches.mapValues(\.state) } }

    /// The number of requests of each batch, by name.
    public var batchSizes: [String: Int] { batchState.withLock { $0.batches.mapValues(\.requests.count) } }

    func createBatch(_ req: RecordedRequest, model: String) -> FakeReply {
        guard let body = req.json, let batch = body["batch"]?.objectValue, let input = batch["inputConfig"]?.objectValue else {
            return Self.error(400, "INVALID_ARGUMENT", "* BatchGenerateContentRequest.batch.input_config: input_config is required")
        }
        var requests: [(key: String, request: JSONValue)] = []
        var fromFile = false
        if let file = input["fileName"]?.stringValue {
            guard let bytes = batchState.withLock({ $0.files[file] }) else { return Self.error(404, "NOT_FOUND", "File \(file) not found.") }
            fromFile = true
            for line in bytes.split(separator: 0x0A) {
                guard let doc = try? JSONParser.parse(Array(line)), let key = doc["key"]?.stringValue, let r = doc["request"] else {
                    return Self.error(400, "INVALID_ARGUMENT", "Invalid JSONL line in \(file).")
                }
                requests.append((key, r))
            }
        } else if let list = input["requests"]?["requests"]?.arrayValue {
            for (i, item) in list.enumerated() {
                guard let r = item["request"] else {
                    return Self.error(400, "INVALID_ARGUMENT", "* inline request \(i): request is required")
                }
                requests.append((item["metadata"]?["key"]?.stringValue ?? "\(i)", r))
            }
        }
        guard !requests.isEmpty else { return Self.error(400, "INVALID_ARGUMENT", "A batch needs at least one request.") }
        let inlineBytes = JSONWriter.bytes(.object(input)).count
        if !fromFile && inlineBytes > 20_000_000 {
            return Self.error(400, "INVALID_ARGUMENT", "Inline batch requests exceed 20 MB; use the Files API.")
        }
        let name = batchState.withLock { s -> String in
            s.counter += 1
            let name = "batches/fake-\(s.counter)"
            s.batches[name] = FakeGeminiBatch(
                name: name, model: model, displayName: batch["displayName"]?.stringValue ?? "", requests: requests, fromFile: fromFile)
            return name
        }
        return .json(200, batchJSON(name))
    }

    func batchRoute(_ req: RecordedRequest) -> FakeReply {
        let path = req.path
        if path.hasPrefix("/v1beta/batches/"), req.method == "GET" {
            return pollBatch(String(path.dropFirst("/v1beta/".count)))
        }
        if path == "/upload/v1beta/files", req.method == "POST" {
            let command = req.header("X-Goog-Upload-Command")?.lowercased() ?? ""
            if command == "start" {
                let id = batchState.withLock { s -> String in
                    s.counter += 1
                    let id = "up-\(s.counter)"
                    s.uploads[id] = req.json?["file"]?["displayName"]?.stringValue ?? ""
                    return id
                }
                return .json(
                    200, [:], headers: [("X-Goog-Upload-URL", "\(baseURL)/upload/v1beta/files?upload_id=\(id)"), ("X-Goog-Upload-Status", "active")])
            }
            guard command.contains("upload"), command.contains("finalize"), let id = req.query["upload_id"] else {
                return Self.error(400, "INVALID_ARGUMENT", "Unknown upload command '\(command)'.")
            }
            let name: String? = batchState.withLock { s in
                guard s.uploads.removeValue(forKey: id) != nil else { return nil }
                s.counter += 1
                let name = "files/fake-\(s.counter)"
                s.files[name] = req.body
                return name
            }
            guard let name else { return Self.error(404, "NOT_FOUND", "Upload session \(id) not found.") }
            return .json(
                200,
                ["file": ["name": .string(name), "mimeType": "application/jsonl", "sizeBytes": .string(String(req.body.count)), "state": "ACTIVE"]],
                headers: [("X-Goog-Upload-Status", "final")])
        }
        if path.hasPrefix("/download/v1beta/files/"), path.hasSuffix(":download"), req.method == "GET" {
            let name = String(path.dropFirst("/download/v1beta/".count).dropLast(":download".count))
            guard let bytes = batchState.withLock({ $0.files[name] }) else { return Self.error(404, "NOT_FOUND", "File \(name) not found.") }
            return .bytes(200, bytes, contentType: "application/jsonl")
        }
        return Self.error(404, "NOT_FOUND", "The requested URL \(path) was not found on this server.")
    }

    private func pollBatch(_ name: String) -> FakeReply {
        let released = script.isReleased
        let due: FakeGeminiBatch? = batchState.withLock { s in
            guard var b = s.batches[name] else { return nil }
            b.polls += 1
            let held = b.requests.contains { r in Self.prompt(of: r.request).contains("[fake:hold]") } && !released
            if b.state == "PENDING" || b.state == "RUNNING" {
                b.state = held || b.polls <= s.pollsBeforeDone ? "RUNNING" : "FINISHING"
            }
            s.batches[name] = b
            return b
        }
        guard var b = due else { return Self.error(404, "NOT_FOUND", "Batch \(name) not found.") }
        if b.state == "FINISHING" {
            finish(&b)
            let done = b
            batchState.withLock { $0.batches[name] = done }
        }
        return .json(200, batchJSON(name))
    }

    /// Answers every request of a batch (outside the batch lock: generating takes the fake's own lock).
    private func finish(_ b: inout FakeGeminiBatch) {
        let prompts = b.requests.map { Self.prompt(of: $0.request) }
        if prompts.contains(where: { $0.contains("[fake:batch-failed]") }) {
            b.state = "FAILED"
            b.error = "The batch failed: an internal error occurred while processing it."
            return
        }
        if prompts.contains(where: { $0.contains("[fake:batch-expired]") }) {
            b.state = "EXPIRED"
            b.error = "The batch expired: it did not complete within 48 hours."
            return
        }
        var inlined: [JSONValue] = []
        var lines: [UInt8] = []
        for r in b.requests {
            var item: JSONObject = [:]
            switch generate(json: r.request, model: b.model) {
            case .respond(let status, _, let body), .resetMidBody(let status, _, let body, _), .stallMidBody(let status, _, let body, _):
                let doc = (try? JSONParser.parse(body)) ?? .null
                if status == 200, doc.objectValue != nil {
                    item.append("response", doc)
                } else {
                    item.append("error", doc["error"] ?? ["code": .int(Int64(status)), "message": "The request failed."])
                }
            }
            if b.fromFile {
                var line = item
                line.append("key", .string(r.key))
                lines += JSONWriter.bytes(.object(line)) + [0x0A]
            } else {
                item.append("metadata", ["key": .string(r.key)])
                inlined.append(.object(item))
            }
        }
        b.state = "SUCCEEDED"
        if b.fromFile {
            let file = "files/fake-results-\(b.name.split(separator: "-").last ?? "0")"
            batchState.withLock { $0.files[file] = lines }
            b.resultsFile = file
        } else {
            b.inlined = inlined
        }
    }

    private func batchJSON(_ name: String) -> JSONValue {
        guard let b = batchState.withLock({ $0.batches[name] }) else { return .null }
        let terminal = ["SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"].contains(b.state)
        var meta: JSONObject = [
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch", "name": .string(name),
            "model": .string("models/\(b.model)"), "displayName": .string(b.displayName), "state": .string("BATCH_STATE_\(b.state)"),
            "batchStats": ["requestCount": .string(String(b.requests.count))],
        ]
        var o: JSONObject = ["name": .string(name)]
        if b.state == "SUCCEEDED" {
            var output: JSONObject = ["@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"]
            if let f = b.resultsFile {
                output.append("responsesFile", .string(f))
            } else {
                output.append("inlinedResponses", ["inlinedResponses": .array(b.inlined)])
            }
            o.append("response", .object(output))
            meta.append("output", .object(output))
        }
        o.append("metadata", .object(meta))
        o.append("done", .bool(terminal))
        if let e = b.error { o.append("error", ["code": 13, "message": .string(e)]) }
        return .object(o)
    }

    static func prompt(of request: JSONValue) -> String {
        (request["contents"]?.arrayValue?.first?["parts"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
    }
}
