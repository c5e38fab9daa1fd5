import AtelierCore
import Foundation
import Synchronization
import Testing

/// One connection's huge frame does not hold up the others: `daemon.health` on other connections answers while a
/// 21 MB object of 100,000 members is parsed.
@Suite("large frames do not stall other connections", .serialized)
struct LargeFrameTests {
    /// Answers in the order they arrived.
    final class Arrivals: Sendable {
        private let names = Mutex<[String]>([])
        func record(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    /// `{"jsonrpc":"2.0","id":"big","method":"daemon.health","params":{"m000000":"xx…",…}}` with `members` members
    /// whose values have `valueBytes` bytes: about 2 MB for 100,000 members of 8 bytes.
    static func bigFrame(members: Int, valueBytes: Int = 8) -> [UInt8] {
        var s = #"{"jsonrpc":"2.0","id":"big","method":"daemon.health","params":{"#
        s.reserveCapacity(members * (13 + valueBytes) + 100)
        let value = "\"" + String(repeating: "x", count: valueBytes) + "\""
        for i in 0..<members {
            if i > 0 { s += "," }
            let n = String(i)
            s += "\"m" + String(repeating: "0", count: 6 - n.count) + n + "\":" + value
        }
        s += "}}\n"
        return Array(s.utf8)
    }

    @Test func healthAnswersBeforeAHundredThousandMemberObject() async throws {
        // 100,000 members, the old quadratic duplicate check's 10-second case; values of 200 bytes (21 MB) so that
        // even a linear parse takes clearly longer than a health round trip on a loaded machine — with 8-byte values
        // (2 MB) a debug build parses the frame about as fast as it answers health, and the order was a coin toss.
        let frame = Self.bigFrame(members: 100_000, valueBytes: 200)
        #expect(frame.count > 20_000_000)
        let dir = TempDir("bigframe")
        defer { dir.cleanup() }
        let daemon = try await DaemonProcess.start(in: dir)
        // Stopped on every path, also when an expectation throws.
        do {
            // The connection with the big frame, then four probes: connections are spread over the event loops in turn,
            // so at least one probe shares the big frame's loop (the machine has at most four loops' worth of cores
            // here; with more, the probes still must not wait).
            let big = try RawConnection(socketPath: daemon.socketPath)
            let probes = try (0..<4).map { _ in try RawConnection(socketPath: daemon.socketPath) }
            for p in probes {
                p.send(#"{"jsonrpc":"2.0","id":"warm","method":"daemon.health"}"#)
                #expect(p.readLine()?.contains(#""id":"warm""#) == true)
            }

            let order = Arrivals()
            // The frame without its newline first: the daemon buffers it, and parsing starts only at the newline.
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    big.send(Array(frame.dropLast()))
                    c.resume()
                }
            }
            // Every answer is read as it arrives, and its arrival recorded.
            let bigAnswer = Task<String?, Never> {
                let line = await big.nextLine()
                order.record("big")
                return line
            }
            let probeAnswers = probes.enumerated().map { (i, p) in
                Task<String?, Never> {
                    let line = await p.nextLine()
                    order.record("h\(i)")
                    return line
                }
            }
            // The newline starts the parse; the four health requests follow at once, so they are in the daemon while
            // it parses (a parse on the event loop would hold the probes sharing its loop until it is done).
            big.send([0x0A])
            for (i, p) in probes.enumerated() { p.send(#"{"jsonrpc":"2.0","id":"h\#(i)","method":"daemon.health"}"#) }
            for (i, t) in probeAnswers.enumerated() {
                let line = await t.value
                #expect(line?.contains(#""id":"h\#(i)""#) == true, "probe \(i): \(line?.prefix(200) ?? "nil")")
            }
            let answer = await bigAnswer.value
            let arrived = order.all
            #expect(arrived.count == 5 && arrived.last == "big", "every health answer first, then the large frame's: \(arrived)")
            // The large frame was parsed and answered properly: params of daemon.health take no members.
            let parsed = try JSONParser.parse(try #require(answer))
            #expect(parsed["id"] == "big")
            #expect(parsed["error"]?["data"]?["code"] == "unknown_field", "\(answer?.prefix(300) ?? "")")
            #expect(parsed["error"]?["data"]?["field"] == "/m000000")
        } catch {
            await daemon.terminate()
            throw error
        }
        await daemon.terminate()
    }
}
