import AtelierCore
import Foundation

/// Small helpers shared by the codecs.
enum Wire {
    /// Parses a response body as JSON, or fails with `bad_upstream` naming the provider.
    static func parse(_ body: [UInt8], provider: String) throws(ProviderError) -> JSONValue {
        if body.isEmpty { throw ProviderError(.badUpstream, "\(provider) answered with an empty body") }
        do { return try JSONParser.parse(body) } catch {
            throw ProviderError(.badUpstream, "\(provider) answered with malformed JSON (\(error.reason) at byte \(error.offset)): \(excerpt(body))")
        }
    }

    /// The first bytes of a body as text, for error messages.
    static func excerpt(_ body: [UInt8], limit: Int = 200) -> String {
        let s = String(decoding: body.prefix(limit), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
        return body.count > limit ? s + "…" : s
    }

    /// Shortens an upstream message for our errors.
    static func clip(_ s: String, limit: Int = 500) -> String {
        s.count > limit ? String(s.prefix(limit)) + "…" : s
    }

    /// `Retry-After` in seconds (delta-seconds form; an HTTP date is ignored).
    static func retryAfter(_ response: HTTPResponse) -> Double? {
        guard let v = response.header("Retry-After")?.trimmingCharacters(in: .whitespaces), let d = Double(v), d >= 0, d.isFinite else {
            return nil
        }
        return d
    }

    /// A taxonomy code from an HTTP status alone (used when the body says nothing better).
    static func code(forStatus status: Int) -> ErrorCode {
        switch status {
        case 401, 403: return .auth
        case 402: return .insufficientCredits
        case 408, 504: return .timeout
        case 429: return .rateLimited
        case 400..<500: return .invalidRequest
        default: return .unavailable
        }
    }

    /// Base64 of bytes (standard alphabet, padded).
    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// `data:<mime>;base64,<…>`.
    static func dataURI(_ ref: LoadedReference) -> String { "data:\(ref.mimeType);base64,\(base64(ref.data))" }

    /// `base` without a trailing slash.
    static func trimBase(_ base: String) -> String {
        var b = base
        while b.hasSuffix("/") { b.removeLast() }
        return b
    }

    /// An integer member, accepting integral doubles and numeric strings.
    static func int(_ v: JSONValue?) -> Int64? {
        guard let v else { return nil }
        if let i = v.intValue { return i }
        if let s = v.stringValue { return Int64(s) }
        return nil
    }

    /// A numeric member, accepting numeric strings.
    static func double(_ v: JSONValue?) -> Double? {
        guard let v else { return nil }
        if let d = v.doubleValue { return d }
        if let s = v.stringValue { return Double(s) }
        return nil
    }
}

extension ProviderError {
    /// This error with every occurrence of the secrets replaced by `<redacted>` (belt and braces: upstreams
    /// sometimes echo the key they were given).
    func redacting(_ secrets: [String]) -> ProviderError {
        var e = self
        for s in secrets where s.count >= 4 {
            e.message = e.message.replacingOccurrences(of: s, with: "<redacted>")
            e.upstreamCode = e.upstreamCode?.replacingOccurrences(of: s, with: "<redacted>")
            e.field = e.field?.replacingOccurrences(of: s, with: "<redacted>")
        }
        return e
    }
}

/// Runs `body`, redacting `credentials` from any error it throws.
func redactingErrors<T>(_ credentials: Credentials?, _ body: () async throws(ProviderError) -> T) async throws(ProviderError) -> T {
    do { return try await body() } catch { throw error.redacting(secretForms(credentials)) }
}

/// The forms a secret may take on the wire: as is, each half of `user:pass`, and base64 of it.
func secretForms(_ credentials: Credentials?) -> [String] {
    guard let s = credentials?.secret, !s.isEmpty else { return [] }
    var forms = [s, Data(s.utf8).base64EncodedString()]
    if let colon = s.firstIndex(of: ":") {
        forms.append(String(s[s.index(after: colon)...]))
    }
    return forms
}

/// The error for a missing API key.
func missingKey(_ provider: String) -> ProviderError {
    ProviderError(.auth, "no API key is configured for provider \(provider)")
}

extension ProviderClientConfiguration {
    /// The client's API key, or the `auth` error every provider gives when none is configured (the one key guard).
    func requireKey() throws(ProviderError) -> String {
        guard let key = credentials?.secret, !key.isEmpty else { throw missingKey(id) }
        return key
    }
}
