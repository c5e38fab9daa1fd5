import Foundation

/// Reads the members of one JSON object with typed accessors that fail with a precise ``AtelierError``
/// (`invalid_type`, `missing_field`, `unknown_field`) naming the member as a JSON pointer.
///
/// Call ``finish()`` after reading every known member: any member left unread is reported as unknown, so a
/// typo such as `positive_prompt` is refused instead of silently ignored.
public struct FieldReader {
    /// The object being read.
    public let object: JSONObject
    /// The JSON pointer of the object itself ("" for the root).
    public let path: String
    private var seen: Set<String> = []

    /// Starts reading `value`, which must be an object.
    public init(_ value: JSONValue, path: String = "") throws(AtelierError) {
        guard case .object(let o) = value else {
            throw AtelierError(
                .invalidType, "\(path.isEmpty ? "params" : path) must be an object, not \(value.typeName)",
                field: path.isEmpty ? "" : path)
        }
        self.object = o
        self.path = path
    }

    /// The JSON pointer of member `key`.
    public func pointer(_ key: String) -> String { JSONPointer.appending(key, to: path) }

    /// The raw member, marking it read. `null` counts as absent.
    public mutating func raw(_ key: String) -> JSONValue? {
        seen.insert(key)
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    /// True when the member is present and not null.
    public func has(_ key: String) -> Bool {
        if let v = object[key], !v.isNull { return true }
        return false
    }

    private func typeError(_ key: String, _ expected: String, _ v: JSONValue) -> AtelierError {
        AtelierError(.invalidType, "\(key) must be \(expected), not \(v.typeName)", field: pointer(key))
    }

    /// An optional string member.
    public mutating func string(_ key: String) throws(AtelierError) -> String? {
        guard let v = raw(key) else { return nil }
        guard case .string(let s) = v else { throw typeError(key, "a string", v) }
        return s
    }

    /// A required string member.
    public mutating func requiredString(_ key: String) throws(AtelierError) -> String {
        guard let s = try string(key) else { throw AtelierError(.missingField, "\(key) is required", field: pointer(key)) }
        return s
    }

    /// An optional boolean member.
    public mutating func bool(_ key: String) throws(AtelierError) -> Bool? {
        guard let v = raw(key) else { return nil }
        guard case .bool(let b) = v else { throw typeError(key, "a boolean", v) }
        return b
    }

    /// An optional integer member (a JSON number without a fractional part).
    public mutating func int(_ key: String) throws(AtelierError) -> Int64? {
        guard let v = raw(key) else { return nil }
        guard let i = v.intValue else {
            if case .double = v { throw AtelierError(.invalidType, "\(key) must be an integer", field: pointer(key)) }
            throw typeError(key, "an integer", v)
        }
        return i
    }

    /// An optional integer member within `range`.
    public mutating func int(_ key: String, in range: ClosedRange<Int64>, code: ErrorCode = .invalidValue) throws(AtelierError) -> Int64? {
        guard let i = try int(key) else { return nil }
        guard range.contains(i) else {
            throw AtelierError(
                code, "\(key) must be between \(range.lowerBound) and \(range.upperBound), not \(i)", field: pointer(key),
                details: ["min": .int(range.lowerBound), "max": .int(range.upperBound)])
        }
        return i
    }

    /// An optional number member.
    public mutating func double(_ key: String) throws(AtelierError) -> Double? {
        guard let v = raw(key) else { return nil }
        guard let d = v.doubleValue else { throw typeError(key, "a number", v) }
        return d
    }

    /// An optional array of strings.
    public mutating func stringArray(_ key: String) throws(AtelierError) -> [String]? {
        guard let v = raw(key) else { return nil }
        guard case .array(let a) = v else { throw typeError(key, "an array of strings", v) }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for (i, e) in a.enumerated() {
            guard case .string(let s) = e else {
                throw AtelierError(
                    .invalidType, "\(key)[\(i)] must be a string, not \(e.typeName)", field: pointer(key) + "/\(i)")
            }
            out.append(s)
        }
        return out
    }

    /// An optional object whose members are all strings.
    public mutating func stringMap(_ key: String) throws(AtelierError) -> [String: String]? {
        guard let v = raw(key) else { return nil }
        guard case .object(let o) = v else { throw typeError(key, "an object of strings", v) }
        var out: [String: String] = [:]
        for (k, e) in o {
            guard case .string(let s) = e else {
                throw AtelierError(
                    .invalidType, "\(key).\(k) must be a string, not \(e.typeName)",
                    field: JSONPointer.appending(k, to: pointer(key)))
            }
            out[k] = s
        }
        return out
    }

    /// An optional string member that must be the raw value of one of `allowed`. Otherwise fails with `code`,
    /// `details.allowed`, and "unknown <what> 'x'" when `what` is given, else "<key> must be one of a, b, not 'x'".
    public mutating func enumValue<E: RawRepresentable>(
        _ key: String, allowed: [E], what: String? = nil, code: ErrorCode = .invalidValue
    ) throws(AtelierError) -> E? where E.RawValue == String {
        guard let s = try string(key) else { return nil }
        if let v = allowed.first(where: { $0.rawValue == s }) { return v }
        let names = allowed.map(\.rawValue)
        let message =
            what.map { "unknown \($0) '\(s.prefix(32))'" } ?? "\(key) must be one of \(names.joined(separator: ", ")), not '\(s.prefix(32))'"
        throw AtelierError(code, message, field: pointer(key), details: ["allowed": .array(names.map(JSONValue.string))])
    }

    /// An optional string member that must be one of the type's cases (see ``enumValue(_:allowed:what:code:)``).
    public mutating func enumValue<E: RawRepresentable & CaseIterable>(
        _ key: String, what: String? = nil, code: ErrorCode = .invalidValue
    ) throws(AtelierError) -> E? where E.RawValue == String {
        try enumValue(key, allowed: Array(E.allCases), what: what, code: code)
    }

    /// An optional UUID v4 member, in canonical (lower-case) form; `invalid_uuid` otherwise.
    public mutating func uuid(_ key: String) throws(AtelierError) -> String? {
        guard let raw = try string(key) else { return nil }
        guard let id = UUIDv4.canonical(raw) else {
            throw AtelierError(.invalidUUID, "\(key) must be a UUID v4, not '\(raw.prefix(64))'", field: pointer(key))
        }
        return id
    }

    /// A required UUID v4 member (see ``uuid(_:)``).
    public mutating func requiredUUID(_ key: String) throws(AtelierError) -> String {
        guard let id = try uuid(key) else { throw AtelierError(.missingField, "\(key) is required", field: pointer(key)) }
        return id
    }

    /// An optional number member within `range` (`invalid_value` otherwise).
    public mutating func double(_ key: String, in range: ClosedRange<Double>) throws(AtelierError) -> Double? {
        guard let d = try double(key) else { return nil }
        guard range.contains(d) else {
            func text(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x) }
            throw AtelierError(
                .invalidValue, "\(key) must be between \(text(range.lowerBound)) and \(text(range.upperBound))", field: pointer(key))
        }
        return d
    }

    /// The longest wait a request may ask for, in seconds.
    public static let maxTimeoutSeconds: Double = 3600

    /// An optional `timeoutSeconds` member (0 to ``maxTimeoutSeconds``), `value` when absent.
    public mutating func timeoutSeconds(default value: Double) throws(AtelierError) -> Double {
        try double("timeoutSeconds", in: 0...Self.maxTimeoutSeconds) ?? value
    }

    /// The paging members of a list request: `limit` (1–1000, default 50) and the opaque `cursor` a previous page
    /// returned (a positive integer in a string).
    public mutating func page() throws(AtelierError) -> (limit: Int, cursor: Int64?) {
        let limit = Int(try int("limit", in: 1...1000) ?? 50)
        guard let c = try string("cursor") else { return (limit, nil) }
        guard let v = Int64(c), v > 0 else { throw AtelierError(.invalidValue, "cursor is not one this daemon issued", field: pointer("cursor")) }
        return (limit, v)
    }

    /// A reader for a nested object member, or nil when absent.
    public mutating func nested(_ key: String) throws(AtelierError) -> FieldReader? {
        guard let v = raw(key) else { return nil }
        return try FieldReader(v, path: pointer(key))
    }

    /// Fails with `unknown_field` on the first member that was never read.
    public func finish() throws(AtelierError) {
        for (k, _) in object where !seen.contains(k) {
            throw AtelierError(.unknownField, "unknown field '\(k)'", field: pointer(k))
        }
    }
}

/// RFC 6901 JSON pointers.
public enum JSONPointer {
    /// `base` + "/" + the escaped `token`.
    public static func appending(_ token: String, to base: String) -> String {
        base + "/" + token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// `base` + "/" + index.
    public static func appending(_ index: Int, to base: String) -> String { base + "/\(index)" }
}
