import AtelierCore
import AtelierTestSupport
import Foundation
import Testing

/// Replays every ```jsonrpc example of docs/protocol.md against a live daemon.
@Suite("docs/protocol.md examples")
struct ProtocolDocTests {
    struct Exchange: Sendable {
        var send: String
        var expect: [String]
    }

    static func examples() throws -> [[Exchange]] {
        let text = try String(contentsOfFile: PackagePaths.root + "/docs/protocol.md", encoding: .utf8)
        var blocks: [[Exchange]] = []
        var current: [Exchange]? = nil
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "```jsonrpc" {
                current = []
            } else if line == "```", let c = current {
                blocks.append(c)
                current = nil
            } else if current != nil {
                if line.hasPrefix("> ") {
                    current!.append(Exchange(send: String(line.dropFirst(2)), expect: []))
                } else if line.hasPrefix("< ") {
                    current![current!.count - 1].expect.append(String(line.dropFirst(2)))
                }
            }
        }
        return blocks
    }

    @Test func everyExampleMatches() async throws {
        let blocks = try Self.examples()
        #expect(blocks.count >= 8, "the doc should have its examples")
        let dir = TempDir("doc")
        defer { dir.cleanup() }
        let daemon = try await DaemonProcess.start(in: dir)
        defer { Task { await daemon.terminate() } }
        let conn = try RawConnection(socketPath: daemon.socketPath)
        var checked = 0
        for block in blocks {
            for ex in block {
                conn.send(ex.send)
                for expected in ex.expect {
                    let line = try #require(await conn.nextLine(), "no answer to \(ex.send)")
                    let actual = try JSONParser.parse(line)
                    let pattern = try JSONParser.parse(expected)
                    #expect(jsonMatches(actual, pattern), "sent \(ex.send)\nexpected \(expected)\ngot \(line)")
                    checked += 1
                }
            }
        }
        #expect(checked >= 20)
        await daemon.terminate()
    }
}
