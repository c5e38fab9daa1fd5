import AtelierRPC
import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP face's bearer token: 32 random bytes in hex, generated at every start and written with mode 0600 next to
/// the socket, so that only the daemon's user can read it. Requests other than `/metrics` and `/healthz` must carry
/// `Authorization: Bearer <token>`.
public struct BearerToken: Sendable {
    /// The token text (64 lowercase hex digits).
    public let value: String
    private let digest: SHA256.Digest

    /// A new random token (from the system's cryptographic random source).
    public init() {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        self.init(value: bytes.map { String(format: "%02x", $0) }.joined())
    }

    /// A token with a known value (tests).
    public init(value: String) {
        self.value = value
        self.digest = SHA256.hash(data: Data(value.utf8))
    }

    /// True when `presented` is this token. The comparison does not depend on where the two differ: both sides are
    /// hashed and the digests compared with swift-crypto's constant-time equality, so neither length nor content
    /// leaks through timing.
    public func matches(_ presented: String) -> Bool {
        SHA256.hash(data: Data(presented.utf8)) == digest
    }

    /// True when the `Authorization` header value is `Bearer <this token>` (scheme case-insensitive).
    public func authorizes(header: String?) -> Bool {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            _ = matches("")  // the same work whether or not a header came
            return false
        }
        return matches(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces))
    }

    /// Where the token is written for a daemon on `socketPath`: the socket's name with `.token` (`atelierd.token`).
    public static func path(socketPath: String) -> String { HTTPFacePaths.token(socketPath: socketPath) }

    /// Where the HTTP face's URL is written once it listens: the socket's name with `.http` (`atelierd.http`).
    public static func urlPath(socketPath: String) -> String { HTTPFacePaths.url(socketPath: socketPath) }

    /// Writes `text` to `path` with mode 0600, replacing an older file (never following a link left there). Blocking:
    /// call it on a thread pool (``BlockingWork``).
    public static func writePrivate(_ text: String, to path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let bytes = Array((text + "\n").utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            off += n
        }
        guard fchmod(fd, 0o600) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}
