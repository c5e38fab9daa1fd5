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

    private func missing(_ key: String, _ type: String) -> AtelierClientError {
        AtelierClientError.badResponse("\(what): \(key) must be \(type): \(value.description.prefix(200))")
    }

    func string(_ key: String) throws(AtelierClientError) -> String {
        guard let s = value[key]?.stringValue else { throw missing(key, "a string") }
        return s
    }

    /// A string member that may be absent or null.
    func optionalString(_ key: String) -> String? { value[key]?.stringValue }

    func int(_ key: String) throws(AtelierClientError) -> Int {
        guard let i = value[key]?.intValue else { throw missing(key, "an integer") }
        return Int(i)
    }

    func double(_ key: String) throws(AtelierClientError) -> Double {
        guard let d = value[key]?.doubleValue else { throw missing(key, "a number") }
        return d
    }

    /// A number member that may be absent or null.
    func optionalDouble(_ key: String) -> Double? { value[key]?.doubleValue }

    func bool(_ key: String) throws(AtelierClientError) -> Bool {
        guard let b = value[key]?.boolValue else { throw missing(key, "true or false") }
        return b
    }

    /// An array member (absent reads as empty).
    func array(_ key: String) throws(AtelierClientError) -> [JSONValue] {
        guard let v = value[key], !v.isNull else { return [] }
        guard let a = v.arrayValue else { throw missing(key, "an array") }
        return a
    }

    /// An object member that may be absent or null.
    func optionalObject(_ key: String) throws(AtelierClientError) -> AnswerReader? {
        guard let v = value[key], !v.isNull else { return nil }
        return try AnswerReader(v, "\(what).\(key)")
    }
}
