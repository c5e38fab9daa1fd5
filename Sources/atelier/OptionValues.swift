import ArgumentParser
import AtelierCore

/// Option values the CLI checks before it asks the daemon.
enum OptionValues {
    /// `value` as one of `E`'s cases, nil when the option was not given; a usage error naming the cases otherwise.
    static func choice<E: RawRepresentable & CaseIterable>(_ option: String, _ value: String?) throws -> E? where E.RawValue == String {
        guard let value else { return nil }
        guard let v = E(rawValue: value) else {
            throw ValidationError("\(option) must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), not '\(value)'")
        }
        return v
    }

    /// Repeated `--tag key=value` options as a tags object, nil when there are none.
    static func tags(_ tags: [String]) throws -> JSONValue? {
        guard !tags.isEmpty else { return nil }
        var t = JSONObject()
        for tag in tags {
            guard let eq = tag.firstIndex(of: "=") else { throw ValidationError("--tag must be key=value, not '\(tag)'") }
            t.append(String(tag[..<eq]), .string(String(tag[tag.index(after: eq)...])))
        }
        return .object(t)
    }
}
