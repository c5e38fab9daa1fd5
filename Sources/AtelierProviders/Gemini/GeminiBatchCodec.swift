import AtelierCore
import Foundation

/// The Gemini Batch API wire format (`batchGenerateContent`, `batches/{id}`, the Files API upload and download), as
/// pure functions. Shapes: docs/providers.md "Gemini Batch" (from the reference's §A.6 and the SDK).
public enum GeminiBatchCodec {
    /// One request of a batch: its key (`<attemptKey>-<index>`) and its `GenerateContentRequest` body.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var request: JSONObject
        /// The encoded size of ``request`` (for the inline limit).
        public var bytes: Int
        /// The request for `key`; its size is measured here.
        public init(key: String, request: JSONObject) {
            self.key = key
            self.request = request
            self.bytes = JSONWriter.bytes(.object(request)).count + key.utf8.count + 40
        }
    }

    /// `BATCH_STATE_*`, and what came back.
    public struct Status: Sendable {
        /// The state without its prefix: `PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`, `CANCELLED`, `EXPIRED` (or what
        /// the server said).
        public var state: String
        /// Per key: the `GenerateContentResponse`, or an error object (`{"error": …}`), when results are inline or
        /// were downloaded.
        public var results: [String: JSONValue]
        /// The results file (`files/…`) when the results are not inline.
        public var responsesFile: String?
        /// The batch's own error message, when it failed.
        public var error: String?

        /// True for the states that will not change.
        public var isTerminal: Bool { ["SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"].contains(state) }

        /// A status as read from a batch.
        public init(state: String, results: [String: JSONValue] = [:], responsesFile: String? = nil, error: String? = nil) {
            self.state = state
            self.results = results
            self.responsesFile = responsesFile
            self.error = error
        }
    }

    // MARK: Create

    /// `POST {base}/v1beta/models/{model}:batchGenerateContent` with the requests inline.
    public static func encodeCreate(
        model upstreamID: String, displayName: String, entries: [Entry], baseURL: String, apiKey: String, timeoutSeconds: Double
    ) -> HTTPRequest {
        let requests: [JSONValue] = entries.map { e in ["request": .object(e.request), "metadata": ["key": .string(e.key)]] }
        let input: JSONValue = ["requests": ["requests": .array(requests)]]
        return create(model: upstreamID, displayName: displayName, input: input, baseURL: baseURL, apiKey: apiKey, timeoutSeconds: timeoutSeconds)
    }

    /// `POST {base}/v1beta/models/{model}:batchGenerateContent` naming an uploaded JSONL file.
    public static func encodeCreate(
        model upstreamID: String, displayName: String, fileName: String, baseURL: String, apiKey: String, timeoutSeconds: Double
    ) -> HTTPRequest {
        create(
            model: upstreamID, displayName: displayName, input: ["fileName": .string(fileName)], baseURL: baseURL, apiKey: apiKey,
            timeoutSeconds: timeoutSeconds)
    }

    static func create(
        model: String, displayName: String, input: JSONValue, baseURL: String, apiKey: String, timeoutSeconds: Double
    )
        -> HTTPRequest
    {
        let url = "\(Wire.trimBase(baseURL))/v1beta/models/\(model):batchGenerateContent"
        let body: JSONValue = ["batch": ["displayName": .string(displayName), "inputConfig": input]]
        return .postJSON(url, body, headers: [("x-goog-api-key", apiKey)], timeoutSeconds: timeoutSeconds)
    }

    /// The batch name (`batches/…`) from the create answer (an operation whose `name`, or `metadata.name`, is it).
    public static func decodeCreated(_ response: HTTPResponse) throws(ProviderError) -> String {
        guard (200..<300).contains(response.status) else { throw GeminiCodec.decodeError(response) }
        let doc = try Wire.parse(response.body, provider: "Gemini")
        for candidate in [doc["metadata"]?["name"]?.stringValue, doc["name"]?.stringValue] {
            if let n = candidate, n.hasPrefix("batches/") { return n }
        }
        throw ProviderError(.badUpstream, "Gemini's batch answer names no batches/… resource", httpStatus: response.status)
    }

    /// The JSONL input file: one `{"key": …, "request": …}` per line.
    public static func jsonl(_ entries: [Entry]) -> [UInt8] {
        var out: [UInt8] = []
        for e in entries {
            out += JSONWriter.bytes(["key": .string(e.key), "request": .object(e.request)])
            out.append(0x0A)
        }
        return out
    }

    // MARK: Files API

    /// Starts a resumable upload: `POST {base}/upload/v1beta/files` (`X-Goog-Upload-Protocol: resumable`,
    /// `X-Goog-Upload-Command: start`); the answer's `X-Goog-Upload-URL` header is where the bytes go.
    public static func encodeUploadStart(displayName: String, bytes: Int, baseURL: String, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        .postJSON(
            "\(Wire.trimBase(baseURL))/upload/v1beta/files", ["file": ["displayName": .string(displayName)]],
            headers: [
                ("x-goog-api-key", apiKey), ("X-Goog-Upload-Protocol", "resumable"), ("X-Goog-Upload-Command", "start"),
                ("X-Goog-Upload-Header-Content-Length", String(bytes)), ("X-Goog-Upload-Header-Content-Type", "application/jsonl"),
            ], timeoutSeconds: timeoutSeconds)
    }

    /// The upload URL from the start answer.
    public static func decodeUploadURL(_ response: HTTPResponse) throws(ProviderError) -> String {
        guard (200..<300).contains(response.status) else { throw GeminiCodec.decodeError(response) }
        guard let url = response.header("X-Goog-Upload-URL"), !url.isEmpty else {
            throw ProviderError(.badUpstream, "Gemini's Files API gave no upload URL", httpStatus: response.status)
        }
        return url
    }

    /// Sends the whole file and finalises the upload.
    public static func encodeUpload(url: String, body: [UInt8], apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        HTTPRequest(
            method: "POST", url: url,
            headers: [
                ("x-goog-api-key", apiKey), ("X-Goog-Upload-Command", "upload, finalize"), ("X-Goog-Upload-Offset", "0"),
                ("Content-Type", "application/jsonl"),
            ], body: body, timeoutSeconds: timeoutSeconds)
    }

    /// The uploaded file's name (`files/…`).
    public static func decodeUploadedFile(_ response: HTTPResponse) throws(ProviderError) -> String {
        guard (200..<300).contains(response.status) else { throw GeminiCodec.decodeError(response) }
        let doc = try Wire.parse(response.body, provider: "Gemini")
        guard let name = (doc["file"]?["name"] ?? doc["name"])?.stringValue, name.hasPrefix("files/") else {
            throw ProviderError(.badUpstream, "Gemini's Files API answer names no files/… resource", httpStatus: response.status)
        }
        return name
    }

    /// `GET {base}/download/v1beta/{file}:download?alt=media`: the results file.
    public static func encodeDownload(file: String, baseURL: String, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        HTTPRequest(
            method: "GET", url: "\(Wire.trimBase(baseURL))/download/v1beta/\(file):download?alt=media", headers: [("x-goog-api-key", apiKey)],
            timeoutSeconds: timeoutSeconds)
    }

    /// A results file: one `{"key": …, "response": …}` (or `"error"`) per line; lines without a key are skipped.
    public static func decodeResults(jsonl response: HTTPResponse) throws(ProviderError) -> [String: JSONValue] {
        guard (200..<300).contains(response.status) else { throw GeminiCodec.decodeError(response) }
        var out: [String: JSONValue] = [:]
        for line in response.body.split(separator: 0x0A) where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
            guard let doc = try? JSONParser.parse(Array(line)), let key = (doc["key"] ?? doc["metadata"]?["key"])?.stringValue else { continue }
            out[key] = doc["response"] ?? doc["error"].map { ["error": $0] } ?? .null
        }
        return out
    }

    // MARK: Poll

    /// `GET {base}/v1beta/{batches/…}`.
    public static func encodeGet(name: String, baseURL: String, apiKey: String, timeoutSeconds: Double) -> HTTPRequest {
        HTTPRequest(
            method: "GET", url: "\(Wire.trimBase(baseURL))/v1beta/\(name)", headers: [("x-goog-api-key", apiKey), ("Accept", "application/json")],
            timeoutSeconds: timeoutSeconds)
    }

    /// The batch's state (`metadata.state`, or `state`), its inline results (`response.inlinedResponses.inlinedResponses[]`,
    /// keyed by `metadata.key`) or its results file (`response.responsesFile`), and its error.
    public static func decodeStatus(_ response: HTTPResponse) throws(ProviderError) -> Status {
        guard (200..<300).contains(response.status) else { throw GeminiCodec.decodeError(response) }
        let doc = try Wire.parse(response.body, provider: "Gemini")
        guard doc.objectValue != nil else { throw ProviderError(.badUpstream, "Gemini's batch status is not an object") }
        let meta = doc["metadata"]
        let raw = (meta?["state"] ?? doc["state"])?.stringValue ?? "BATCH_STATE_UNSPECIFIED"
        let state = raw.hasPrefix("BATCH_STATE_") ? String(raw.dropFirst(12)) : raw
        let output = doc["response"] ?? meta?["output"] ?? doc["output"]
        var results: [String: JSONValue] = [:]
        let inlined = output?["inlinedResponses"]?["inlinedResponses"]?.arrayValue ?? output?["inlinedResponses"]?.arrayValue ?? []
        for (i, item) in inlined.enumerated() {
            let key = item["metadata"]?["key"]?.stringValue ?? item["key"]?.stringValue ?? "#\(i)"
            results[key] = item["response"] ?? item["error"].map { ["error": $0] } ?? .null
        }
        let file = output?["responsesFile"]?.stringValue
        let error = (doc["error"]?["message"] ?? meta?["error"]?["message"])?.stringValue
        return Status(state: state, results: results, responsesFile: file, error: error)
    }

    // MARK: Resume handle

    /// What a batched job records before it waits: the batch, its key prefix (`<key>-<index>` per image), the image
    /// count and the deadline it must meet.
    public struct Handle: Sendable, Equatable {
        public var batch: String
        public var key: String
        public var count: Int
        public var deadline: Timestamp?
        /// A handle for `count` images keyed `<key>-<i>` in `batch`, due by `deadline`.
        public init(batch: String, key: String, count: Int, deadline: Timestamp?) {
            self.batch = batch
            self.key = key
            self.count = count
            self.deadline = deadline
        }

        /// The prefix that marks a batch handle.
        public static let prefix = "gemini-batch:"

        /// `gemini-batch:{"batch":…,"key":…,"n":…,"deadlineMs":…}`.
        public var encoded: String {
            var o: JSONObject = ["batch": .string(batch), "key": .string(key), "n": .int(Int64(count))]
            o.append("deadlineMs", ifPresent: deadline.map { .int($0.milliseconds) })
            return Self.prefix + JSONWriter.string(.object(o))
        }

        /// Reads an encoded handle; nil for anything else.
        public init?(_ text: String) {
            guard text.hasPrefix(Self.prefix), let doc = try? JSONParser.parse(Array(text.utf8.dropFirst(Self.prefix.utf8.count))),
                let b = doc["batch"]?.stringValue, let k = doc["key"]?.stringValue, let n = Wire.int(doc["n"]), n > 0
            else { return nil }
            batch = b
            key = k
            count = Int(n)
            deadline = Wire.int(doc["deadlineMs"]).map(Timestamp.init(milliseconds:))
        }

        /// The key of image `index`.
        public func key(_ index: Int) -> String { "\(key)-\(index)" }
    }
}
