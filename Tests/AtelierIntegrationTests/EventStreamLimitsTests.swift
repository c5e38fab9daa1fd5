import AtelierCore
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `job.event` streams are bounded per connection (a subscriber that never reads loses events, is told how many,
/// and costs the daemon no more memory) and deliver each event once per connection however many subscriptions match.
@Suite("event streams: bounded per connection, each event once", .serialized)
struct EventStreamLimitsTests {
    /// The daemon's cap on a connection's unsent event bytes (`ConnectionState.maxQueuedEventBytes`).
    static let cap = 256 << 10

    /// A batch of `count` `job.submit` requests for held local jobs with long prompts (large events).
    static func submitBatch(_ count: Int, base: Int) -> [UInt8] {
        let prompt = String(repeating: "a lighthouse at dusk ", count: 100)
        let items = (0..<count).map {
            #"{"jsonrpc":"2.0","id":\#(base + $0),"method":"job.submit","params":{"positivePrompt":"\#(prompt)","model":"local-render","width":64,"height":64}}"#
        }
        return Array(("[" + items.joined(separator: ",") + "]\n").utf8)
    }

    /// Runs `body` on a thread of its own (blocking socket reads stay off the cooperative pool).
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in Thread.detachNewThread { c.resume(returning: body()) } }
    }

    @Test func aSubscriberThatNeverReadsLosesEventsNotMemoryAndIsToldHowMany() async throws {
        try await withDaemon("evslow", extraArguments: ["--hold"]) { daemon, client in
            let pid = daemon.process.processIdentifier
            let slow = try RawConnection(socketPath: daemon.socketPath)
            let fast = try RawConnection(socketPath: daemon.socketPath)
            for conn in [slow, fast] {
                conn.send(#"{"jsonrpc":"2.0","id":"sub","method":"job.subscribe","params":{}}"#)
                #expect(await conn.nextLine()?.contains(#""subscribed":true"#) == true)
            }
            let before = ConnectionLimitsTests.rss(pid)
            // The fast subscriber reads every event (with its size) until it has accounted for all 1,000 `queued`
            // events. On a loaded machine it can fall behind the cap too: then it is told how many it lost, and
            // those count as accounted for. A missing event ends the read at the 30 s receive timeout and fails
            // the count below.
            var fastTimeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fast.fd, SOL_SOCKET, SO_RCVTIMEO, &fastTimeout, socklen_t(MemoryLayout<timeval>.size))
            let fastRead = Task {
                await Self.onThread { () -> (count: Int, dropped: Int, bytes: Int) in
                    var count = 0
                    var dropped = 0
                    var bytes = 0
                    while count + dropped < 1_000, let l = fast.readLine() {
                        if l.contains(#""method":"job.event""#) {
                            count += 1
                            bytes += l.utf8.count + 1
                        } else if l.contains(#""method":"job.events_dropped""#),
                            case .int(let n)? = (try? JSONParser.parse(l))?["params"]?["dropped"]
                        {
                            dropped += Int(n)
                        }
                    }
                    return (count, dropped, bytes)
                }
            }
            // 1,000 held jobs, each a `queued` event of about 2.5 KB, while the slow subscriber reads nothing.
            let submitter = try RawConnection(socketPath: daemon.socketPath)
            for b in 0..<5 {
                let batch = Self.submitBatch(200, base: b * 200)
                let answer: String? = await Self.onThread {
                    submitter.send(batch)
                    return submitter.readLine()
                }
                let items = try JSONParser.parse(try #require(answer))
                guard case .array(let answers) = items else {
                    Issue.record("expected an array of answers")
                    return
                }
                #expect(answers.count == 200 && answers.allSatisfy { $0["result"]?["taskUUID"] != nil })
            }
            // Another client is served meanwhile, and the daemon holds no backlog for the stuck subscriber.
            let health = try await client.call("daemon.health")
            #expect(health["status"] != nil)
            if let before, let after = ConnectionLimitsTests.rss(pid) {
                #expect(after - before < 64 << 20, "RSS grew \((after - before) >> 20) MB")
            }
            let (fastEvents, fastDropped, publishedBytes) = await fastRead.value
            let published = fastEvents + fastDropped
            #expect(published == 1_000, "the reading subscriber accounted for \(fastEvents) events and \(fastDropped) dropped")
            #expect(publishedBytes > 4 * Self.cap, "events too small to overflow the cap: \(publishedBytes) bytes")

            // The slow subscriber now reads: what was queued (at most the cap, plus what the socket held), then one
            // notice with the number it lost, then its fence's answer.
            var tv = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(slow.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let seen = await Self.onThread { () -> (events: Int, bytes: Int, dropped: [Int64], fenced: Bool) in
                var events = 0
                var bytes = 0
                var dropped: [Int64] = []
                var fenceSent = false
                while let l = slow.readLine() {
                    if l.contains(#""id":"fence""#) { return (events, bytes, dropped, true) }
                    if l.contains(#""method":"job.event""#) {
                        events += 1
                        bytes += l.utf8.count + 1
                    } else if l.contains(#""method":"job.events_dropped""#) {
                        if case .int(let n)? = (try? JSONParser.parse(l))?["params"]?["dropped"] { dropped.append(n) }
                        if !fenceSent {
                            slow.send(#"{"jsonrpc":"2.0","id":"fence","method":"daemon.health"}"#)
                            fenceSent = true
                        }
                    }
                }
                return (events, bytes, dropped, false)
            }
            #expect(seen.fenced, "no job.events_dropped notice, or no answer after it")
            #expect(seen.dropped.count == 1, "one notice: \(seen.dropped)")
            #expect(seen.bytes < Self.cap + (512 << 10), "the stuck subscriber was sent \(seen.bytes) bytes of events")
            #expect(Int64(seen.events) + seen.dropped.reduce(0, +) == Int64(published), "received + dropped = published")
        }
    }

    @Test func everyJobAndOneJobOnOneConnectionDeliverItsEventsOnce() async throws {
        try await withDaemon("evonce", extraArguments: ["--hold"]) { daemon, _ in
            let conn = try RawConnection(socketPath: daemon.socketPath)
            let uuid = try ConnectionLimitsTests.submitHeld(conn, id: 0)
            func answer(_ id: String) async throws -> (JSONValue?, [JSONValue]) {
                var events: [JSONValue] = []
                while let l = await conn.nextLine() {
                    let v = try JSONParser.parse(l)
                    if v["id"] == .string(id) { return (v, events) }
                    if v["method"] == "job.event", v["params"]?["taskUUID"] == .string(uuid) { events.append(v) }
                }
                return (nil, events)
            }
            conn.send(#"{"jsonrpc":"2.0","id":"all","method":"job.subscribe","params":{}}"#)
            #expect(try await answer("all").0?["result"]?["subscribed"] == true)
            conn.send(#"{"jsonrpc":"2.0","id":"one","method":"job.subscribe","params":{"taskUUID":"\#(uuid)"}}"#)
            #expect(try await answer("one").0?["result"]?["subscribed"] == true)
            conn.send(#"{"jsonrpc":"2.0","id":"cancel","method":"job.cancel","params":{"taskUUID":"\#(uuid)"}}"#)
            var (cancelled, events) = try await answer("cancel")
            #expect(cancelled?["result"] != nil, "\(String(describing: cancelled))")
            // A fence: every copy of the event is written before its answer.
            conn.send(#"{"jsonrpc":"2.0","id":"fence","method":"daemon.health"}"#)
            events += try await answer("fence").1
            let kinds = events.compactMap { $0["params"]?["event"]?.stringValue }
            #expect(kinds == ["cancelled"], "each event once per connection: \(kinds)")

            // Both subscriptions are still held (one event, two filters).
            conn.send(#"{"jsonrpc":"2.0","id":"un","method":"job.unsubscribe","params":{}}"#)
            #expect(try await answer("un").0?["result"]?["unsubscribed"] == .int(2))
        }
    }
}
