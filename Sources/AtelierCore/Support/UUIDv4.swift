import Foundation

/// UUID v4 identifiers in their canonical lowercase text form.
public enum UUIDv4 {
    /// A new random UUID v4, lowercase.
    public static func generate() -> String { UUID().uuidString.lowercased() }

    /// The canonical lowercase form of `text` when it is a UUID v4 (version nibble 4, RFC 4122 variant), else nil.
    public static func canonical(_ text: String) -> String? {
        let u = Array(text.utf8)
        guard u.count == 36 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, c) in u.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
                out.append(c)
                continue
            }
            let l: UInt8
            switch c {
            case 0x30...0x39, 0x61...0x66: l = c
            case 0x41...0x46: l = c + 0x20
            default: return nil
            }
            out.append(l)
        }
        guard out[14] == UInt8(ascii: "4") else { return nil }
        guard [UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(out[19]) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// A deterministic UUID v4-shaped id derived from `seed` bytes (for ids that must be stable across
    /// retries, such as image ids of a re-run render).
    public static func derived(from seed: String) -> String {
        var h1 = StableHash.fnv1a64(seed)
        var h2 = StableHash.fnv1a64(seed + "#2")
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: h1)
            bytes[8 + i] = UInt8(truncatingIfNeeded: h2)
            h1 >>= 8
            h2 >>= 8
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}

/// Hashes that are the same in every process and on every machine (unlike `Hasher`, which is seeded per run).
/// Used for sticky A/B splits, deterministic rendering and derived ids.
public enum StableHash {
    /// 64-bit FNV-1a over the UTF-8 bytes, then a SplitMix64 finaliser for good bit mixing.
    public static func fnv1a64(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01B3
        }
        return mix(h)
    }

    /// The SplitMix64 finaliser.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Base64 helpers.
public enum Base64 {
    /// True for bytes of the standard or URL-safe base64 alphabet, padding and line breaks.
    @inline(__always)
    public static func isAlphabet(_ b: UInt8) -> Bool {
        switch b {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2B, 0x2F, 0x3D, 0x2D, 0x5F, 0x0A, 0x0D: return true
        default: return false
        }
    }
}

/// Syntax checks for caller-supplied URLs. Address checks (SSRF guard) happen at delivery time, after DNS.
public enum URLCheck {
    /// Fails with `invalid_url` unless `text` is an absolute http(s) URL with a host.
    public static func validateHTTP(_ text: String, field: String) throws(AtelierError) {
        guard text.utf8.count <= ImageTask.Limits.urlLength else {
            throw AtelierError(.invalidURL, "URL longer than \(ImageTask.Limits.urlLength) bytes", field: field)
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw AtelierError(.invalidURL, "not a valid URL", field: field)
        }
        guard scheme == "http" || scheme == "https" else {
            throw AtelierError(.invalidURL, "only http and https URLs are accepted, not \(scheme)", field: field,
                               details: ["allowed": ["http", "https"]])
        }
        guard let host = url.host, !host.isEmpty else {
            throw AtelierError(.invalidURL, "URL has no host", field: field)
        }
    }

    /// `text` without its query string, fragment or credentials: safe to log and to show.
    public static func redacted(_ text: String) -> String {
        guard var c = URLComponents(string: text) else { return "<invalid url>" }
        c.query = nil
        c.fragment = nil
        c.user = nil
        c.password = nil
        return c.string ?? "<invalid url>"
    }
}
