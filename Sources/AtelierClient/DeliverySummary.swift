import AtelierCore

/// One webhook message or upload as `delivery.list`, `delivery.get` and `delivery.retry` answer it, with typed
/// access to what the CLI's table shows. ``json`` is the whole document (docs/delivery.md).
public struct DeliverySummary: Sendable, Equatable {
    /// The delivery's error, when its last attempt failed.
    public struct LastError: Sendable, Equatable {
        /// The stable code.
        public var code: String
        /// What went wrong.
        public var message: String
    }

    /// `msg_…` (webhook) or `upl_…` (upload).
    public var id: String
    /// `webhook` or `upload`.
    public var kind: String
    /// The event delivered (`job.succeeded`, `upload`…).
    public var event: String
    /// The job it belongs to.
    public var taskUUID: String
    /// `pending`, `delivered` or `failed`.
    public var status: String
    /// Attempts so far.
    public var attempts: Int
    /// The destination, without query or credentials.
    public var url: String
    /// When the next attempt is due (ISO 8601), while pending.
    public var nextAttemptAt: String?
    /// When it was delivered (ISO 8601).
    public var deliveredAt: String?
    /// The webhook waits for the job's uploads before it is sent.
    public var waitsForUploads: Bool
    /// The last attempt's error.
    public var lastError: LastError?
    /// The whole document.
    public var json: JSONValue

    /// Reads a rendered delivery; throws ``AtelierClientError/Code/badResponse`` when it is not one.
    public init(_ v: JSONValue) throws(AtelierClientError) {
        let r = try AnswerReader(v, "delivery")
        id = try r.string("id")
        kind = try r.string("kind")
        event = try r.string("event")
        taskUUID = try r.string("taskUUID")
        status = try r.string("status")
        attempts = try r.int("attempts")
        url = try r.string("url")
        nextAttemptAt = r.optionalString("nextAttemptAt")
        deliveredAt = r.optionalString("deliveredAt")
        waitsForUploads = r.optionalString("waitingFor") == "uploads"
        if let e = try r.optionalObject("lastError") {
            lastError = LastError(code: e.optionalString("code") ?? "error", message: try e.string("message"))
        }
        json = v
    }
}
