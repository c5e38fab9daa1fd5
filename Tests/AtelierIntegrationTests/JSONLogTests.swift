import AtelierCore
import AtelierOperations
import Foundation
import Logging
import Synchronization
import Testing

/// `--log-format json` lines: one object per line with the standard fields and the metadata, and no secret in any
/// form the handler knows (environment keys, named credential fields, Bearer tokens, URL passwords).
@Suite("JSON log lines")
struct JSONLogTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func add(_ bytes: [UInt8]) { lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        var all: [String] { lines.withLock { $0 } }
    }

    @Test("fields from logger metadata; keys and credentials scrubbed everywhere")
    func linesParseAndHoldNoSecret() throws {
        let key = "rw-Zx81kQ0pLmN4"
        let secrets = LogSecrets(environment: ["RUNWARE_API_KEY": key, "SDWEBUI_AUTH": "atelier:pa55word", "HOME": "/root"])
        secrets.add("tok-0123456789abcdef")
        let out = Lines()
        var logger = Logger(label: "atelierd") { label in JSONLogHandler(label: label, secrets: secrets, logLevel: .debug, sink: out.add) }
        logger[metadataKey: "provider"] = "runware"
        logger.warning(
            "attempt failed with \(key) and Authorization: Bearer tok-0123456789abcdef",
            metadata: [
                "taskUUID": "9b0c3c55-1f6e-4c5e-9a55-0b3f3f0d8b11", "workflowUUID": "1c3b1e0a-44f1-4a7e-b53b-2b8c7d1b8c9e",
                "model": "runware-flux-1-schnell", "attempt": "2", "apiKey": "anything", "url": "https://user:hunter22@host.example/x",
                "detail": ["nested": .string("x \(key) y"), "password": "p"], "message": "shadowed",
            ])
        logger.trace("not written")
        let lines = out.all
        try #require(lines.count == 1)
        let line = lines[0]
        #expect(line.hasSuffix("\n") && !line.dropLast().contains("\n"))
        let o = try JSONParser.parse(Array(line.utf8))
        #expect(o["time"]?.stringValue.flatMap(Timestamp.init(iso8601:)) != nil)
        #expect(o["level"]?.stringValue == "warning")
        #expect(o["logger"]?.stringValue == "atelierd")
        #expect(o["taskUUID"]?.stringValue == "9b0c3c55-1f6e-4c5e-9a55-0b3f3f0d8b11")
        #expect(o["workflowUUID"]?.stringValue == "1c3b1e0a-44f1-4a7e-b53b-2b8c7d1b8c9e")
        #expect(o["provider"]?.stringValue == "runware")
        #expect(o["model"]?.stringValue == "runware-flux-1-schnell")
        #expect(o["attempt"]?.stringValue == "2")
        #expect(o["apiKey"]?.stringValue == "[redacted]")
        #expect(o["metadata.message"]?.stringValue == "shadowed")
        #expect(o["message"]?.stringValue?.hasPrefix("attempt failed with [redacted]") == true)
        for secret in [key, "pa55word", "tok-0123456789abcdef", "hunter22", "anything"] {
            #expect(!line.contains(secret), "\(secret) reached the line: \(line)")
        }
        #expect(line.contains("https://user:[redacted]@host.example/x"))
    }
}
