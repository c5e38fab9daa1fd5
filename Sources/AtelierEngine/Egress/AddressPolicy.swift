import AtelierCore
import Foundation
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address (4 or 16 bytes).
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses a literal address strictly (`inet_pton`): `192.0.2.1`, `2001:db8::1`, `[::1]`, `fe80::1%eth0`.
    public init?(_ text: String) {
        var t = text
        if t.hasPrefix("["), t.hasSuffix("]") { t = String(t.dropFirst().dropLast()) }
        if let pct = t.firstIndex(of: "%") { t = String(t[..<pct]) }
        var v4 = in_addr()
        if inet_pton(AF_INET, t, &v4) == 1 {
            self.bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, t, &v6) == 1 {
            self.bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    /// Parses the lenient IPv4 forms that resolvers accept as well (`inet_aton`): `2852039166`, `0xA9.0xFE.0xA9.0xFE`,
    /// `169.254.43518`, `0251.0376.0251.0376`. Used at submit so that such a spelling cannot slip past the policy.
    public static func lenientIPv4(_ text: String) -> IPAddress? {
        guard !text.isEmpty, text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x78 || $0 == 0x58 || Self.isHex($0) })
        else { return nil }
        var a = in_addr()
        guard inet_aton(text, &a) != 0 else { return nil }
        return IPAddress(bytes: withUnsafeBytes(of: &a) { Array($0) })
    }

    private static func isHex(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46) }

    /// True for IPv4.
    public var isIPv4: Bool { bytes.count == 4 }

    /// IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible IPv6 addresses as the IPv4 address they carry.
    public var normalized: IPAddress {
        guard bytes.count == 16 else { return self }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return IPAddress(bytes: Array(bytes[12..<16]))!
        }
        return self
    }

    public var description: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var a = in6_addr()
        withUnsafeMutableBytes(of: &a) { raw in for i in 0..<16 { raw[i] = bytes[i] } }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count)) != nil else { return "?" }
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An address range such as `169.254.0.0/16` or `fe80::/10` (a bare address is a /32 or /128).
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let a = IPAddress(first) else { return nil }
        let maxBits = a.bytes.count * 8
        var p = maxBits
        if parts.count == 2 {
            guard let v = Int(parts[1]), (0...maxBits).contains(v) else { return nil }
            p = v
        }
        self.address = a
        self.prefix = p
    }

    /// True when `ip` (normalized) lies in this range; IPv4 ranges never match IPv6 addresses and vice versa.
    public func contains(_ ip: IPAddress) -> Bool {
        let x = ip.normalized
        guard x.bytes.count == address.bytes.count else { return false }
        var bits = prefix
        var i = 0
        while bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : UInt8(0xFF << (8 - bits) & 0xFF)
            if x.bytes[i] & mask != address.bytes[i] & mask { return false }
            bits -= 8
            i += 1
        }
        return true
    }

    public var description: String { "\(address)/\(prefix)" }
}

/// Which addresses the daemon's outbound fetches may reach: webhook and upload deliveries, and `http(s)`
/// reference images (one policy, configured with `--egress-deny` / `--egress-allow`; `--delivery-deny` /
/// `--delivery-allow` are the older names of the same flags).
///
/// An address is refused when it is in a deny range and in no allow range. The defaults refuse link-local
/// (169.254.0.0/16, fe80::/10 — which includes the cloud metadata endpoint 169.254.169.254), the other metadata
/// endpoints (fd00:ec2::254, 100.100.100.200), "this network" (0.0.0.0/8, ::/128) and multicast. Loopback and
/// private ranges stay allowed: local services and tests use them (add them to the deny list to forbid them).
public struct AddressPolicy: Sendable, Equatable {
    public var allow: [CIDR]
    public var deny: [CIDR]

    public static let defaultDeny: [CIDR] = [
        "169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32", "0.0.0.0/8", "::/128", "224.0.0.0/4", "ff00::/8",
        "255.255.255.255/32",
    ].map { CIDR($0)! }

    /// The default policy plus `extraDeny`, with `allow` as exceptions.
    public init(allow: [CIDR] = [], extraDeny: [CIDR] = [], replaceDefaults: Bool = false) {
        self.allow = allow
        self.deny = (replaceDefaults ? [] : Self.defaultDeny) + extraDeny
    }

    /// True when outbound fetches may connect to `ip`.
    public func permits(_ ip: IPAddress) -> Bool {
        if allow.contains(where: { $0.contains(ip) }) { return true }
        return !deny.contains(where: { $0.contains(ip) })
    }

    /// The range that forbids `ip`, if any.
    public func forbiddingRange(_ ip: IPAddress) -> CIDR? {
        if allow.contains(where: { $0.contains(ip) }) { return nil }
        return deny.first { $0.contains(ip) }
    }

    /// How a refusal is worded: the policy and the range, so an operator knows which flag to change.
    public static func refusal(_ range: CIDR) -> String {
        "the address policy forbids (\(range); see --egress-deny / --egress-allow)"
    }

    /// The host of a URL as written (brackets removed), or nil.
    public static func host(of url: String) -> String? {
        guard let c = URLComponents(string: url), var h = c.host, !h.isEmpty else { return nil }
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h.hasSuffix(".") { h.removeLast() }
        return h.removingPercentEncoding ?? h
    }

    /// The literal address a host names, in any spelling a resolver would accept; nil for host names.
    public static func literal(_ host: String) -> IPAddress? {
        IPAddress(host) ?? IPAddress.lenientIPv4(host)
    }

    /// Submit-time check: refuses a URL whose host is a literal address the policy forbids (`invalid_url` at `field`).
    /// Host names are checked at send time, after resolution.
    public func checkLiteral(_ url: String, field: String) throws(AtelierError) {
        guard let host = Self.host(of: url), let ip = Self.literal(host) else { return }
        if let range = forbiddingRange(ip) {
            throw AtelierError(
                .invalidURL, "\(URLCheck.redacted(url)) points at \(ip), which \(Self.refusal(range))", field: field,
                details: ["reason": "forbidden_address"])
        }
    }
}

/// Where a vetted outbound request connects.
public struct VettedTarget: Sendable, Equatable {
    /// The host as written in the URL.
    public var host: String
    /// The address to connect to when the host is a name (pinned, so a second resolution cannot swap in another
    /// address); nil when the URL names the address itself.
    public var pinnedAddress: IPAddress?
}

/// Resolves host names and applies the ``AddressPolicy`` to every address, at send time.
///
/// A host is refused when ANY of its addresses is forbidden (a name that answers with both a public and a
/// link-local address is not trusted). The checked address is the one connected to (see ``VettedTarget``).
public final class AddressGuard: Sendable {
    public typealias Resolver = @Sendable (String) async throws -> [IPAddress]

    public let policy: AddressPolicy
    private let resolver: Resolver
    private let cache = Mutex<[String: (addresses: [IPAddress], expiresMs: Int64)]>([:])
    private let ttlMs: Int64

    public init(policy: AddressPolicy, resolver: Resolver? = nil, cacheSeconds: Double = 30) {
        self.policy = policy
        self.resolver = resolver ?? AddressGuard.systemResolve
        self.ttlMs = Int64(cacheSeconds * 1000)
    }

    /// Vets the URL: http(s) only, a host, and addresses the policy permits.
    public func vet(_ url: String, nowMs: Int64) async -> Result<VettedTarget, TransportFailure> {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return .failure(.unusable("\(URLCheck.redacted(url)) is not an http(s) URL"))
        }
        guard let host = AddressPolicy.host(of: url) else { return .failure(.unusable("\(URLCheck.redacted(url)) has no host")) }
        if let ip = AddressPolicy.literal(host) {
            if let range = policy.forbiddingRange(ip) {
                return .failure(.forbiddenAddress("\(host) is \(ip), which \(AddressPolicy.refusal(range))"))
            }
            // A lenient spelling (2852039166) connects to the address it means.
            return .success(VettedTarget(host: host, pinnedAddress: IPAddress(host) == nil ? ip : nil))
        }
        let addresses: [IPAddress]
        if let hit = cache.withLock({ c -> [IPAddress]? in
            guard let e = c[host.lowercased()], e.expiresMs > nowMs else { return nil }
            return e.addresses
        }) {
            addresses = hit
        } else {
            do { addresses = try await resolver(host) } catch {
                return .failure(.network("cannot resolve \(host): \(error)"))
            }
            if addresses.isEmpty { return .failure(.network("cannot resolve \(host): no addresses")) }
            let ttl = ttlMs
            cache.withLock { c in
                if c.count > 1024 { c.removeAll() }
                c[host.lowercased()] = (addresses, nowMs + ttl)
            }
        }
        for ip in addresses {
            if let range = policy.forbiddingRange(ip) {
                return .failure(.forbiddenAddress("\(host) resolves to \(ip), which \(AddressPolicy.refusal(range))"))
            }
        }
        // Prefer IPv4 (loopback services commonly listen on 127.0.0.1 only).
        let pick = addresses.first(where: \.normalized.isIPv4) ?? addresses[0]
        return .success(VettedTarget(host: host, pinnedAddress: pick.normalized))
    }

    /// `getaddrinfo` on NIO's thread pool (it blocks; the cooperative pool must not), rather than on a new thread
    /// per lookup.
    public static let systemResolve: Resolver = { host in
        let result = try await NIOThreadPool.singleton.runIfActive { AddressGuard.resolveBlocking(host) }
        return try result.get()
    }

    /// One blocking `getaddrinfo`: the distinct IPv4 and IPv6 addresses of `host`.
    static func resolveBlocking(_ host: String) -> Result<[IPAddress], ResolveError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &res)
        guard rc == 0 else { return .failure(ResolveError(message: "getaddrinfo error \(rc)")) }
        defer { freeaddrinfo(res) }
        var out: [IPAddress] = []
        var p = res
        while let ai = p {
            if let sa = ai.pointee.ai_addr {
                if ai.pointee.ai_family == AF_INET {
                    let sin = UnsafeRawPointer(sa).assumingMemoryBound(to: sockaddr_in.self).pointee
                    var addr = sin.sin_addr
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: &addr) { Array($0) }), !out.contains(ip) { out.append(ip) }
                } else if ai.pointee.ai_family == AF_INET6 {
                    let sin6 = UnsafeRawPointer(sa).assumingMemoryBound(to: sockaddr_in6.self).pointee
                    var addr = sin6.sin6_addr
                    if let ip = IPAddress(bytes: withUnsafeBytes(of: &addr) { Array($0) }), !out.contains(ip) { out.append(ip) }
                }
            }
            p = ai.pointee.ai_next
        }
        return .success(out)
    }

    struct ResolveError: Error, Sendable, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
