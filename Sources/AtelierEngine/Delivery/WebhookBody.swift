import AtelierCore

/// Webhook bodies: `{"type", "timestamp", "data"}`. No image bytes; URLs without query strings or credentials.
public enum WebhookBody {
    /// The body of one message.
    public static func render(_ type: WebhookEvent, eventMs: Int64, data: JSONValue) -> String {
        render(type: type.rawValue, eventMs: eventMs, data: data)
    }

    /// The body of one message of any type (jobs' ``WebhookEvent``s, workflows' `workflow.*` events).
    static func render(type: String, eventMs: Int64, data: JSONValue) -> String {
        JSONWriter.string(["type": .string(type), "timestamp": .string(Timestamp(milliseconds: eventMs).iso8601), "data": data])
    }

    /// `job.result` data: the task id, the image's position, the stored result (path, sha256, …).
    public static func resultData(job: Job, result: JobResult, index: Int) -> JSONValue {
        var o: JSONObject = ["taskUUID": .string(job.taskUUID), "index": .int(Int64(index))]
        for (k, v) in result.json.objectValue ?? [:] { o.append(k, v) }
        return .object(o)
    }

    /// `job.succeeded`/`failed`/`cancelled` data: the whole job, with the task's URLs redacted.
    public static func jobData(_ job: Job) -> JSONValue {
        guard case .object(var o) = job.json else { return job.json }
        o["deliveries"] = JSONValue?.none
        return redactingURLs(in: "task", of: .object(o))
    }

    /// `data` with the delivery URLs of its `member` object (a job's `task`, a workflow's `request`) stripped of
    /// query strings and credentials: bodies never echo tokens or presigned signatures back to receivers.
    static func redactingURLs(in member: String, of data: JSONValue) -> JSONValue {
        guard case .object(var o) = data, case .object(var t)? = o[member] else { return data }
        if let w = t["webhookURL"]?.stringValue { t["webhookURL"] = .string(URLCheck.redacted(w)) }
        switch t["uploadEndpoint"] {
        case .string(let u)?: t["uploadEndpoint"] = .string(URLCheck.redacted(u))
        case .array(let a)?: t["uploadEndpoint"] = .array(a.map { .string(URLCheck.redacted($0.stringValue ?? "")) })
        default: break
        }
        o[member] = .object(t)
        return .object(o)
    }

    /// How an upload ended, as told to webhook receivers.
    struct UploadOutcome {
        var url: String
        var state: DeliveryState
        func apply(to o: inout JSONObject) {
            if state.status == .delivered {
                o["uploadURL"] = .string(URLCheck.redacted(url))
            } else if let e = state.lastError {
                var err: JSONObject = ["code": .string(e.code.rawValue), "message": .string(e.message)]
                if let s = state.lastHTTPStatus { err.append("httpStatus", .int(Int64(s))) }
                o["uploadError"] = .object(err)
            }
        }
    }

    /// Adds upload outcomes to held `data` (a result, or a job's results).
    static func withUploads(_ data: JSONValue, event: String, uploads: [String: UploadOutcome]) -> JSONValue {
        guard case .object(var o) = data else { return data }
        if event == WebhookEvent.result.rawValue {
            if let id = o["imageUUID"]?.stringValue, let u = uploads[id] { u.apply(to: &o) }
            return .object(o)
        }
        if case .array(let results)? = o["results"] {
            o["results"] = .array(
                results.map { r in
                    guard case .object(var ro) = r, let id = ro["imageUUID"]?.stringValue, let u = uploads[id] else { return r }
                    u.apply(to: &ro)
                    return .object(ro)
                })
        }
        return .object(o)
    }
}
