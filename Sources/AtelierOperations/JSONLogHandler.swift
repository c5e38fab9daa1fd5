import AtelierCore
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Values that must never reach a log line (provider keys, the webhook secret, the HTTP token): every occurrence
/// in a message or metadata value is replaced by `[redacted]`. Shared by every handler of the process; the daemon
/// adds the HTTP token once it is generated.
public final class LogSecrets: Sendable {
    private let values = Mutex<[String]>([])

    /// The secrets of `environment`: values of variables whose name says key, token, secret or password
    /// or auth (`RUNWARE_API_KEY`, `SDWEBUI_AUTH`, `ATELIER_WEBHOOK_SECRET`, …).
    public init(environment: [String: String]) {
        let markers = ["KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH"]
        for (name, value) in environment where markers.contains(where: { name.uppercased().contains($0) }) { add(value) }
    }

    /// Adds a secret (values shorter than 6 characters are too common to scrub and are ignored).
    public func add(_ secret: String) {
        let s = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        guard s.count >= 6 else { return }
        values.withLock { if !$0.contains(s) { $0.append(s) } }
    }

    /// `text` with every secret, every `Bearer …` credential and every URL password replaced.
    public func scrub(_ text: String) -> String {
        var out = text
        for s in values.withLock({ $0 }) where out.contains(s) { out = out.replacingOccurrences(of: s, with: "[redacted]") }
        out = out.replacing(#/(?i)(bearer\s+)[A-Za-z0-9._~+\/=-]+/#) { "\($0.output.1)[redacted]" }
        out = out.replacing(#/(://[^/@\s:]*:)[^/@\s]+@/#) { "\($0.output.1)[redacted]@" }
        return out
    }
}

/// `--log-format json`: one JSON object per line on stderr — `time` (ISO 8601 UTC, milliseconds), `level`,
/// `message`, `logger`, then the logger metadata as top-level fields (`taskUUID`, `workflowUUID`, `provider`,
/// `model`, `attempt`, …). Secrets never appear: metadata whose name says key, token, secret, password, credential
/// or authorization is replaced by `[redacted]`, and every value goes through ``LogSecrets/scrub(_:)``.
public struct JSONLogHandler: LogHandler {
    /// Serializes whole lines onto stderr.
    private static let output = Mutex(())

    /// The logger's label, written as `logger`.
    public let label: String
    let secrets: LogSecrets
    /// The lowest level written.
    public var logLevel: Logger.Level
    /// Metadata added to every line of this handler's logger.
    public var metadata: Logger.Metadata = [:]
    /// Contextual metadata (task-local values), merged under the line's own.
    public var metadataProvider: Logger.MetadataProvider?

    /// Where whole lines go (stderr unless a test captures them).
    let sink: @Sendable ([UInt8]) -> Void

    /// A handler for the logger `label`, scrubbing `secrets`, writing from `logLevel` up to stderr, or to `sink`.
    public init(label: String, secrets: LogSecrets, logLevel: Logger.Level = .info, sink: (@Sendable ([UInt8]) -> Void)? = nil) {
        self.label = label
        self.secrets = secrets
        self.logLevel = logLevel
        self.sink = sink ?? Self.writeStandardError
    }

    /// Metadata of this handler's logger.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Field names that hold credentials whatever their value looks like.
    public static func isSensitive(_ key: String) -> Bool {
        let k = key.lowercased()
        return ["key", "token", "secret", "password", "credential", "authorization"].contains { k.contains($0) }
    }

    /// Writes one line.
    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var o = JSONObject()
        o.append("time", .string(Timestamp.now().iso8601))
        o.append("level", .string(event.level.rawValue))
        o.append("message", .string(secrets.scrub(event.message.description)))
        o.append("logger", .string(label))
        for key in all.keys.sorted() {
            guard let value = all[key] else { continue }
            let name = ["time", "level", "message", "logger"].contains(key) ? "metadata." + key : key
            o.append(name, Self.isSensitive(key) ? .string("[redacted]") : json(value))
        }
        var line = JSONWriter.bytes(.object(o))
        line.append(0x0A)
        sink(line)
    }

    /// Writes one line to stderr, whole (lines of concurrent loggers never interleave).
    static func writeStandardError(_ line: [UInt8]) {
        Self.output.withLock { _ in
            var off = 0
            while off < line.count {
                let n = line[off...].withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    return
                }
                off += n
            }
        }
    }

    private func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): .string(secrets.scrub(s))
        case .stringConvertible(let c): .string(secrets.scrub(c.description))
        case .array(let a): .array(a.map(json))
        case .dictionary(let d):
            .object(
                JSONObject(
                    d.keys.sorted().map { k in (k, Self.isSensitive(k) ? JSONValue.string("[redacted]") : json(d[k]!)) }))
        }
    }
}
