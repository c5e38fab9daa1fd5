/// How one delivered image compares with what was asked for: `ok` when nothing differs, else each difference.
///
/// Recorded on every result as `verification` (`{ok, mismatches: [{field, requested, delivered}]}`); what a
/// mismatch does to the job is the routing policy's ``MismatchPolicy``.
public struct ResultVerification: Sendable, Equatable {
    /// The differences found, in a fixed field order (`width`, `height`, `mimeType`, `model`, `seed`, `count`).
    public var mismatches: [ResultMismatch]

    /// A verification with these differences (none: the result is what was asked for).
    public init(mismatches: [ResultMismatch] = []) {
        self.mismatches = mismatches
    }

    /// True when the result is what was asked for.
    public var ok: Bool { mismatches.isEmpty }

    /// The fields that differ, in order.
    public var fields: [String] { mismatches.map(\.field) }

    /// The wire form `{ok, mismatches: [{field, requested, delivered}]}`.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("ok", .bool(ok))
        o.append("mismatches", .array(mismatches.map(\.json)))
        return .object(o)
    }

    /// Reads the wire form written by ``json``.
    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        _ = try r.bool("ok")
        var mismatches: [ResultMismatch] = []
        for v in r.raw("mismatches")?.arrayValue ?? [] { mismatches.append(try ResultMismatch(json: v)) }
        self.mismatches = mismatches
    }
}

/// One field of a result that differs from the request: what was asked for and what came back.
public struct ResultMismatch: Sendable, Equatable {
    /// The field: `width`, `height`, `mimeType`, `model`, `seed` or `count`.
    public var field: String
    /// What was asked for (the resolved value sent to the provider).
    public var requested: JSONValue
    /// What was delivered (read from the image bytes, or echoed by the provider).
    public var delivered: JSONValue

    /// A difference in `field`.
    public init(field: String, requested: JSONValue, delivered: JSONValue) {
        self.field = field
        self.requested = requested
        self.delivered = delivered
    }

    /// The wire form `{field, requested, delivered}`.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("field", .string(field))
        o.append("requested", requested)
        o.append("delivered", delivered)
        return .object(o)
    }

    /// Reads the wire form written by ``json``.
    public init(json: JSONValue) throws(AtelierError) {
        var r = try FieldReader(json)
        field = try r.requiredString("field")
        requested = r.raw("requested") ?? .null
        delivered = r.raw("delivered") ?? .null
    }
}
