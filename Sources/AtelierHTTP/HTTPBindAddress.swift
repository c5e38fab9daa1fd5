import AtelierCore

/// Where the HTTP face listens (`--http HOST:PORT`, env `ATELIER_HTTP`): an IP literal and a port. Only loopback
/// addresses (127.0.0.0/8, ::1, `localhost`) are accepted unless remote binding is allowed explicitly.
public struct HTTPBindAddress: Sendable, Equatable, CustomStringConvertible {
    /// The host: an IPv4 or IPv6 literal (without brackets), or `localhost`.
    public var host: String
    /// The port; 0 picks a free one (the bound port is logged and written next to the socket).
    public var port: Int

    /// A bind address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (`127.0.0.1:8080`, `[::1]:8080`, `localhost:0`).
    /// - Throws: ``AtelierError`` `invalid_value` on anything else.
    public init(parsing text: String) throws(AtelierError) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw AtelierError(.invalidValue, "--http must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080", field: "--http")
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw AtelierError(.invalidValue, "--http must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080", field: "--http")
            }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let p = Int(port), (0...65535).contains(p), !host.isEmpty else {
            throw AtelierError(.invalidValue, "--http must be HOST:PORT with a port from 0 to 65535", field: "--http")
        }
        guard host == "localhost" || Self.ipv4(host) != nil || host.contains(":") else {
            throw AtelierError(.invalidValue, "--http's host must be an IP address or localhost, not '\(host)'", field: "--http")
        }
        self.host = String(host)
        self.port = p
    }

    /// True for 127.0.0.0/8, ::1 (and its IPv4-mapped form of 127/8), and `localhost`.
    public var isLoopback: Bool {
        if host == "localhost" { return true }
        if let v4 = Self.ipv4(Substring(host)) { return v4[0] == 127 }
        let lower = host.lowercased()
        if lower == "::1" || lower == "0:0:0:0:0:0:0:1" { return true }
        if lower.hasPrefix("::ffff:"), let v4 = Self.ipv4(Substring(lower.dropFirst(7))) { return v4[0] == 127 }
        return false
    }

    /// `HOST:PORT`, with IPv6 hosts in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    private static func ipv4(_ s: Substring) -> [Int]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [Int] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), let v = Int(p), (0...255).contains(v) else { return nil }
            out.append(v)
        }
        return out
    }
}
