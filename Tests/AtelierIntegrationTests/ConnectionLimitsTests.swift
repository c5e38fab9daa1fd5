import AtelierCore
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Input that once exhausted the daemon is now bounded: a huge batch, a client that never reads its answers, and
/// repeated subscriptions on one connection.
@Suite("per-connection limits: batches, unread answers, subscriptions", .serialized)
struct ConnectionLimitsTests {
    /// `[{"jsonrpc":"2.0","id":0,"method":"daemon.health"},…]` with `count` requests.
    static func healthBatch(_ count: Int) -> [UInt8] {
        let items = (0..<count).map { #"{"jsonrpc":"2.0","id":\#($0),"method":"daemon.health"}"# }
        return Array(("[" + items.joined(separator: ",") + "]\n").utf8)
    }

    /// The daemon's resident set in bytes (Linux `/proc`), or nil where there is no `/proc`.
    static func rss(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kb * 1024
    }

    @Test func aBatchOverTheLimitIsRefusedAsAWholeAndOneAtTheLimitIsAnswered() async throws {
        try await withDaemon("batch") { daemon, _ in
            let conn = try RawConnection(socketPath: daemon.socketPath)
            // 5,000 requests (the limit is 1,000): refused at once, nothing of it runs.
            let big = Self.healthBatch(5_000)
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    conn.send(big)
                    c.resume()
                }
            }
            let refused = try JSONParser.parse(try #require(await conn.nextLine()))
            #expect(refused["id"] == .null)
            #expect(refused["error"]?["code"] == .int(-32600), "\(refused)")
            #expect(refused["error"]?["data"]?["code"] == "batch_too_large")
            #expect(refused["error"]?["data"]?["field"] == "")
            #expect(refused["error"]?["data"]?["limit"] == .int(1000))

            // Exactly the limit: every request answered, in order, on the same connection.
            let full = Self.healthBatch(1_000)
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    conn.send(full)
                    c.resume()
                }
            }
            let answered = try JSONParser.parse(try #require(await conn.nextLine()))
            guard case .array(let items) = answered else {
                Issue.record("expected an array: \(String(describing: answered).prefix(300))")
                return
            }
            #expect(items.count == 1_000)
            #expect(items.first?["id"] == .int(0) && items.last?["id"] == .int(999))
            #expect(items.allSatisfy { $0["result"]?["status"] != nil })
        }
    }

    @Test func aClientThatNeverReadsStopsBeingReadAndOthersAreServed() async throws {
        try await withDaemon("slowread") { daemon, client in
            let pid = daemon.process.processIdentifier
            let before = Self.rss(pid)
            let conn = try RawConnection(socketPath: daemon.socketPath)
            // Sends give up after 3 s without progress: that is the daemon no longer reading.
            var tv = timeval(tv_sec: 3, tv_usec: 0)
            setsockopt(conn.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let line = Array(#"{"jsonrpc":"2.0","id":1,"method":"models.list"}"#.utf8) + [0x0A]
            let total = 100_000
            // Writes up to `total` requests without reading a byte; returns the bytes the daemon let in.
            let sent: Int = await withCheckedContinuation { c in
                Thread.detachNewThread {
                    var chunk: [UInt8] = []
                    for _ in 0..<256 { chunk += line }
                    var sentBytes = 0
                    var stalled = false
                    while !stalled && sentBytes < total * line.count {
                        var off = 0
                        while off < chunk.count {
                            let n = chunk[off...].withUnsafeBytes { Glibc.send(conn.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                            if n <= 0 {
                                stalled = true
                                break
                            }
                            off += n
                            sentBytes += n
                        }
                    }
                    c.resume(returning: sentBytes)
                }
            }
            let requestsSent = sent / line.count
            #expect(requestsSent < total, "the daemon read all \(total) requests of a client that never reads")
            // Another connection is served meanwhile.
            let health = try await client.call("daemon.health")
            #expect(health["status"] != nil)
            if let before, let after = Self.rss(pid) {
                #expect(after - before < 200 << 20, "RSS grew \((after - before) >> 20) MB")
            }
            // Once the client reads, the connection is served again: its answers flow (the first 1,000 are read,
            // more than one in-flight window, so reading had to resume).
            let expected = min(requestsSent, 1_000)
            let answers: Int = await withCheckedContinuation { c in
                Thread.detachNewThread {
                    var n = 0
                    while n < expected, let l = conn.readLine() {
                        if l.contains(#""id":1"#) { n += 1 }
                    }
                    c.resume(returning: n)
                }
            }
            #expect(answers == expected)
        }
    }

    /// `job.submit` of a held local job; returns its taskUUID.
    static func submitHeld(_ conn: RawConnection, id: Int) throws -> String {
        let uuid = UUID().uuidString.lowercased()
        conn.send(
            #"{"jsonrpc":"2.0","id":"s\#(id)","method":"job.submit","params":{"taskUUID":"\#(uuid)","positivePrompt":"x","model":"local-render","width":64,"height":64}}"#
        )
        let answer = try JSONParser.parse(try #require(conn.readLine()))
        #expect(answer["result"]?["taskUUID"] == .string(uuid), "\(answer)")
        return uuid
    }

    @Test func subscribingAgainIsIdempotent() async throws {
        try await withDaemon("subs") { daemon, _ in
            let conn = try RawConnection(socketPath: daemon.socketPath)
            for i in 0..<200 { conn.send(#"{"jsonrpc":"2.0","id":"sub\#(i)","method":"job.subscribe","params":{}}"#) }
            var subscribed = 0
            while subscribed < 200, let l = conn.readLine() {
                if l.contains(#""subscribed":true"#) { subscribed += 1 }
            }
            #expect(subscribed == 200)
            let uuid = UUID().uuidString.lowercased()
            conn.send(
                #"{"jsonrpc":"2.0","id":"s","method":"job.submit","params":{"taskUUID":"\#(uuid)","positivePrompt":"x","model":"local-render","width":64,"height":64}}"#
            )
            // Events of the job until it finishes, then a fence on the same connection: every copy of the final
            // event is written before the fence's answer.
            var events: [JSONValue] = []
            var finished = false
            while !finished, let l = conn.readLine() {
                let v = try JSONParser.parse(l)
                if v["method"] == "job.event", v["params"]?["taskUUID"] == .string(uuid) {
                    events.append(v)
                    if let s = v["params"]?["status"]?.stringValue, ["succeeded", "failed", "cancelled"].contains(s) { finished = true }
                }
            }
            #expect(finished)
            conn.send(#"{"jsonrpc":"2.0","id":"fence","method":"daemon.health"}"#)
            while let l = conn.readLine(), !l.contains(#""id":"fence""#) {
                let v = try JSONParser.parse(l)
                if v["method"] == "job.event", v["params"]?["taskUUID"] == .string(uuid) { events.append(v) }
            }
            let kinds = events.compactMap { $0["params"]?["event"]?.stringValue }
            #expect(Set(kinds).count == kinds.count, "each event once for one subscription, not 200 times: \(kinds.count) events")
            #expect(!kinds.isEmpty && kinds.count < 10)
        }
    }

    @Test func distinctSubscriptionsAreCappedPerConnection() async throws {
        try await withDaemon("subcap", extraArguments: ["--hold"]) { daemon, _ in
            let conn = try RawConnection(socketPath: daemon.socketPath)
            var uuids: [String] = []
            for i in 0..<64 { uuids.append(try Self.submitHeld(conn, id: i)) }
            // The "every job" subscription and 63 jobs fill the cap of 64.
            conn.send(#"{"jsonrpc":"2.0","id":"all","method":"job.subscribe","params":{}}"#)
            #expect(conn.readLine()?.contains(#""subscribed":true"#) == true)
            // The "every job" subscription sees the submissions; skip those notifications.
            func answer(_ id: String) throws -> JSONValue? {
                while let l = conn.readLine() {
                    let v = try JSONParser.parse(l)
                    if v["id"] == .string(id) { return v }
                }
                return nil
            }
            for (i, uuid) in uuids.prefix(63).enumerated() {
                conn.send(#"{"jsonrpc":"2.0","id":"j\#(i)","method":"job.subscribe","params":{"taskUUID":"\#(uuid)"}}"#)
                let v = try #require(try answer("j\(i)"))
                #expect(v["result"]?["subscribed"] == true, "\(v)")
            }
            conn.send(#"{"jsonrpc":"2.0","id":"over","method":"job.subscribe","params":{"taskUUID":"\#(uuids[63])"}}"#)
            let over = try #require(try answer("over"))
            #expect(over["error"]?["data"]?["code"] == "too_many_subscriptions", "\(over)")
            #expect(over["error"]?["data"]?["limit"] == .int(64))
            // A repeated filter is still fine at the cap, and unsubscribing makes room.
            conn.send(#"{"jsonrpc":"2.0","id":"again","method":"job.subscribe","params":{"taskUUID":"\#(uuids[0])"}}"#)
            #expect(try answer("again")?["result"]?["subscribed"] == true)
            conn.send(#"{"jsonrpc":"2.0","id":"un","method":"job.unsubscribe","params":{"taskUUID":"\#(uuids[0])"}}"#)
            #expect(try answer("un")?["result"]?["unsubscribed"] == .int(1))
            conn.send(#"{"jsonrpc":"2.0","id":"room","method":"job.subscribe","params":{"taskUUID":"\#(uuids[63])"}}"#)
            #expect(try answer("room")?["result"]?["subscribed"] == true)
        }
    }
}
