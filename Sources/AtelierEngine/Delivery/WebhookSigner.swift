import AtelierCore
import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The webhook signing secret, in the Standard Webhooks form `whsec_<base64 of the key bytes>`.
///
/// Its `description` never shows the key, so it can be logged or interpolated by mistake without leaking.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    /// The key bytes (the base64-DECODED part after `whsec_`): what the HMAC is keyed with.
    public let key: [UInt8]

    /// The shareable form, `whsec_…`: give this to receivers.
    public var text: String { "whsec_" + Data(key).base64EncodedString() }

    public var description: String { "whsec_…(redacted)" }

    public init(key: [UInt8]) { self.key = key }

    /// Parses `whsec_<base64>` (the prefix is optional); the key must be 16 to 128 bytes.
    public static func parse(_ text: String) -> WebhookSecret? {
        var t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.hasPrefix("whsec_") { t.removeFirst(6) }
        while t.count % 4 != 0 { t += "=" }
        guard let d = Data(base64Encoded: t), (16...128).contains(d.count) else { return nil }
        return WebhookSecret(key: Array(d))
    }

    /// A new random 32-byte secret.
    public static func generate() -> WebhookSecret {
        var g = SystemRandomNumberGenerator()
        return WebhookSecret(key: (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    /// Where the generated secret lives: `<data-dir>/webhook-secret`.
    public static func path(dataDirectory: String) -> String { dataDirectory + "/webhook-secret" }

    /// Where the secret came from.
    public enum Source: String, Sendable {
        case environment
        case file
        case generated
    }

    /// The secret from `ATELIER_WEBHOOK_SECRET`, else from `<data-dir>/webhook-secret`, else a new one written
    /// there (mode 0600, created exclusively so two starts cannot race).
    ///
    /// Blocking (read, write, `fsync`): call it from a thread pool, never from a Swift concurrency thread —
    /// `atelierd` runs it through `BlockingWork.run` at start.
    public static func load(dataDirectory: String, environment: [String: String]) throws(AtelierError) -> (WebhookSecret, Source) {
        if let env = environment["ATELIER_WEBHOOK_SECRET"], !env.isEmpty {
            guard let s = parse(env) else {
                throw AtelierError(
                    .invalidValue, "ATELIER_WEBHOOK_SECRET must be whsec_ followed by base64 of 16 to 128 bytes", field: "ATELIER_WEBHOOK_SECRET")
            }
            return (s, .environment)
        }
        let p = path(dataDirectory: dataDirectory)
        for _ in 0..<2 {
            if let data = FileManager.default.contents(atPath: p) {
                guard let s = parse(String(decoding: data, as: UTF8.self)) else {
                    throw AtelierError(.invalidValue, "\(p) does not hold a whsec_ secret; fix or remove it", field: p)
                }
                // Keep it private even if someone loosened the mode.
                chmod(p, 0o600)
                return (s, .file)
            }
            let s = generate()
            let fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw AtelierError(.storeFailure, "cannot create \(p): \(String(cString: strerror(errno)))")
            }
            let bytes = Array((s.text + "\n").utf8)
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd) == 0
            close(fd)
            guard n == bytes.count, synced else {
                unlink(p)
                throw AtelierError(.storeFailure, "cannot write \(p)")
            }
            return (s, .generated)
        }
        throw AtelierError(.storeFailure, "cannot read or create \(p)")
    }
}

/// Signs webhook messages per Standard Webhooks: `webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{ts}.{body}"))>`.
public struct WebhookSigner: Sendable {
    private let key: SymmetricKey

    public init(secret: WebhookSecret) { self.key = SymmetricKey(data: secret.key) }

    /// The `v1,…` signature of `body` sent as message `id` at `timestamp` (unix seconds).
    public func signature(id: String, timestamp: Int64, body: [UInt8]) -> String {
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Array("\(id).\(timestamp).".utf8))
        mac.update(data: body)
        return "v1," + Data(mac.finalize()).base64EncodedString()
    }

    /// The three Standard Webhooks headers.
    public func headers(id: String, timestamp: Int64, body: [UInt8]) -> [(String, String)] {
        [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature(id: id, timestamp: timestamp, body: body))]
    }
}
