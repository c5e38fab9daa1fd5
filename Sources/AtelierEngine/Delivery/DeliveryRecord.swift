import AtelierCore
import Foundation

/// One row of the outbox: one webhook message or one image upload.
public struct DeliveryRecord: Sendable, Equatable {
    /// Insertion order (the list cursor).
    public var seq: Int64
    /// `msg_…` (the `webhook-id`, stable across retries) or `upl_…`.
    public var id: String
    public var kind: DeliveryKind
    public var taskUUID: String
    /// The webhook event type (`job.result`, …) or `upload`.
    public var event: String
    /// The image it is about (`job.result`, uploads).
    public var imageUUID: String?
    /// The image's position in the job's results.
    public var resultIndex: Int?
    /// The full target URL. It may carry credentials (a presigned query): never logged, never shown.
    public var url: String
    /// `scheme://host:port`: the unit of per-host concurrency.
    public var hostKey: String
    public var state: DeliveryState
    public var createdMs: Int64
    public var updatedMs: Int64
    /// When the event happened (the body's `timestamp`).
    public var eventMs: Int64
    /// Webhooks: the body's `data` before upload details are added (held rows); uploads: the stored result.
    public var payload: String?
    /// Webhooks: the exact body sent, rendered once so every retry carries the same bytes.
    public var body: String?

    /// The caller's view (URL without query or credentials; no body).
    public var json: JSONValue {
        var o = JSONObject()
        o.append("id", .string(id))
        o.append("kind", .string(kind.rawValue))
        o.append("event", .string(event))
        o.append("taskUUID", .string(taskUUID))
        o.append("imageUUID", imageUUID.map(JSONValue.string) ?? .null)
        o.append("index", resultIndex.map { .int(Int64($0)) } ?? .null)
        o.append("url", .string(URLCheck.redacted(url)))
        o.append("status", .string(state.status.external))
        o.append("attempts", .int(Int64(state.attempts)))
        o.append("nextAttemptAt", state.nextAttemptMs.map { .string(Timestamp(milliseconds: $0).iso8601) } ?? .null)
        o.append("lastHTTPStatus", state.lastHTTPStatus.map { .int(Int64($0)) } ?? .null)
        o.append("lastError", state.lastError?.json ?? .null)
        o.append("deliveredAt", state.deliveredMs.map { .string(Timestamp(milliseconds: $0).iso8601) } ?? .null)
        o.append("createdAt", .string(Timestamp(milliseconds: createdMs).iso8601))
        if state.held { o.append("waitingFor", "uploads") }
        if state.status == .sending { o.append("inFlight", true) }
        return .object(o)
    }

    /// ``json`` plus the webhook body (for `delivery.get`).
    public var detailJSON: JSONValue {
        guard case .object(var o) = json else { return json }
        if let body { o.append("body", (try? JSONParser.parse(body)) ?? .string(body)) }
        return .object(o)
    }

    /// A new row, due as its kind's schedule says, or held until the job's uploads settle. Webhooks get a `msg_…` id,
    /// uploads an `upl_…` one; the id stays the same across every retry.
    static func new(
        _ kind: DeliveryKind, event: String, taskUUID: String, url: String, image: String? = nil, index: Int? = nil, held: Bool = false,
        payload: String? = nil, body: String?, nowMs: Int64, eventMs: Int64, configuration: DeliveryConfiguration
    ) -> DeliveryRecord {
        let state = DeliveryStateMachine.initial(nowMs: nowMs, held: held, schedule: configuration.schedule(kind), unitRandom: configuration.random())
        return DeliveryRecord(
            seq: 0, id: (kind == .webhook ? "msg_" : "upl_") + UUIDv4.generate().replacingOccurrences(of: "-", with: ""), kind: kind,
            taskUUID: taskUUID, event: event, imageUUID: image, resultIndex: index, url: url, hostKey: hostKey(url), state: state,
            createdMs: nowMs, updatedMs: nowMs, eventMs: eventMs, payload: payload, body: body)
    }

    /// `scheme://host:port` of a URL, lowercased.
    public static func hostKey(_ url: String) -> String {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased() else { return "?" }
        let host = (c.host ?? "?").lowercased()
        let port = c.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(host):\(port)"
    }
}
