import AtelierCore

/// Reads the members of a daemon's answer into typed values. Members the client needs must be there with their
/// documented type (else ``AtelierClientError/Code/badResponse`` naming the member); unknown members are ignored,
/// so an older client keeps reading a newer daemon. (Core's `FieldReader` is the strict reader for requests: it
/// refuses unknown members, which a client must not.)
struct AnswerReader {
    /// The object being read.
    let value: JSONValue
    /// What it is, for error messages (`delivery`, `stats report`…).
    let what: String

    init(_ value: JSONValue, _ what: String) throws(AtelierClientError) {
        guard case .object = value else { throw AtelierClientError.badResponse("\(what): not an object: \(value.description.prefix(200))") }
        self.value = value
        self.what = what
    }

    /// The member `key` read by `get`; a bad response saying it must be `type` when absent or of another type.
    private func required<T>(_ key: String, _ type: String, _ get: (JSONValue) -> T?) throws(AtelierClientError) -> T {
        guard let v = value[key].flatMap(get) else {
            throw AtelierClientError.badResponse("\(what): \(key) must be \(type): \(value.description.prefix(200))")
        }
        return v
    }

    /// Required members of each JSON type.
    func string(_ key: String) throws(AtelierClientError) -> String { try required(key, "a string", \.stringValue) }

    func int(_ key: String) throws(AtelierClientError) -> Int { Int(try required(key, "an integer", \.intValue)) }

    func double(_ key: String) throws(AtelierClientError) -> Double { try required(key, "a number", \.doubleValue) }

    func bool(_ key: String) throws(AtelierClientError) -> Bool { try required(key, "true or false", \.boolValue) }

    /// A string member that may be absent or null.
    func optionalString(_ key: String) -> String? { value[key]?.stringValue }

    /// A number member that may be absent or null.
    func optionalDouble(_ key: String) -> Double? { value[key]?.doubleValue }

    /// An array member (absent reads as empty).
    func array(_ key: String) throws(AtelierClientError) -> [JSONValue] {
        guard let v = value[key], !v.isNull else { return [] }
        return try required(key, "an array", \.arrayValue)
    }

    /// An object member that may be absent or null.
    func optionalObject(_ key: String) throws(AtelierClientError) -> AnswerReader? {
        guard let v = value[key], !v.isNull else { return nil }
        return try AnswerReader(v, "\(what).\(key)")
    }
}
