import AtelierCore
import Foundation
import Synchronization
import Testing

/// One connection's huge frame does not hold up the others: `daemon.health` on other connections answers while a
/// 21 MB object of 100,000 members is parsed.
@Suite("large frames do not stall other connections", .serialized)
struct LargeFrameTests {
    /// Answers in the order they arrived, each read by a thread of its own that records it the moment `recv`
    /// returns it — not when a task resumes afterwards, which on a busy cooperative pool can be in any order.
    final class Arrivals: Sendable {
        private let state = Mutex<(order: [String], lines: [String: String], waiter: CheckedContinuation<Void, Never>?, expected: Int)>(
            ([], [:], nil, 0))

        /// Starts reading one line from `connection` now, on a new thread.
        func read(_ connection: RawConnection, as name: String) {
            state.withLock { $0.expected += 1 }
            Thread.detachNewThread {
                let line = connection.readLine()
                let waiter = self.state.withLock { s -> CheckedContinuation<Void, Never>? in
                    s.order.append(name)
                    s.lines[name] = line
                    guard s.order.count == s.expected else { return nil }
                    defer { s.waiter = nil }
                    return s.waiter
                }
                waiter?.resume()
            }
        }

        /// Waits until every started read has returned; the names in arrival order, and the lines by name.
        func all() async -> (order: [String], lines: [String: String]) {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let done = state.withLock { s -> Bool in
                    if s.order.count == s.expected { return true }
                    s.waiter = c
                    return false
                }
                if done { c.resume() }
            }
            return state.withLock { ($0.order, $0.lines) }
        }
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
        // even a linear parse takes clearly longer than a health round trip on a loaded machine.
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
            order.read(big, as: "big")
            for (i, p) in probes.enumerated() { order.read(p, as: "h\(i)") }
            // The newline starts the parse; the four health requests follow at once, so they are in the daemon while
            // it parses (a parse on the event loop would hold the probes sharing its loop until it is done).
            big.send([0x0A])
            for (i, p) in probes.enumerated() { p.send(#"{"jsonrpc":"2.0","id":"h\#(i)","method":"daemon.health"}"#) }
            let (arrived, lines) = await order.all()
            for i in probes.indices {
                #expect(lines["h\(i)"]?.contains(#""id":"h\#(i)""#) == true, "probe \(i): \(lines["h\(i)"]?.prefix(200) ?? "nil")")
            }
            #expect(arrived.count == 5 && arrived.last == "big", "every health answer first, then the large frame's: \(arrived)")
            let answer = lines["big"]
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
