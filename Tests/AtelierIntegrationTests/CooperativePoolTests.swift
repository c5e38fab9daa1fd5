import AtelierClient
import AtelierCore
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon must never block Swift's cooperative thread pool (two threads on a two-core machine): a synchronous
/// database call there — GRDB's blocking `read`, picked silently when a closure returns a non-`Sendable` value —
/// waits for a reader that only another cooperative thread can give back, and the whole daemon freezes for good.
///
/// The clients run on their own threads with socket receive timeouts, so a frozen daemon makes this test fail in
/// seconds instead of hanging.
@Suite("cooperative pool under concurrent readers", .serialized)
struct CooperativePoolTests {
    /// What one pipelining client saw.
    struct ClientOutcome: Sendable {
        var rounds = 0
        var answers = 0
        var errors: [String] = []
        var stalled = false
    }

    /// Connects, then for `rounds` rounds writes `perRound` × (`job.list {limit: 50}`, `stats.get {}`) in one go and
    /// reads every answer; a read that times out marks the client stalled and ends it.
    static func pipeline(socketPath: String, client: Int, rounds: Int, perRound: Int, timeoutSeconds: Int) -> ClientOutcome {
        var out = ClientOutcome()
        guard let conn = try? RawConnection(socketPath: socketPath) else {
            out.errors.append("client \(client) could not connect")
            return out
        }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(conn.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var id = 0
        for _ in 0..<rounds {
            var batch = ""
            for _ in 0..<perRound {
                id += 1
                batch += #"{"jsonrpc":"2.0","id":\#(id),"method":"job.list","params":{"limit":50}}"# + "\n"
                id += 1
                batch += #"{"jsonrpc":"2.0","id":\#(id),"method":"stats.get","params":{}}"# + "\n"
            }
            conn.send(Array(batch.utf8))
            for _ in 0..<(2 * perRound) {
                guard let line = conn.readLine() else {
                    out.stalled = true
                    return out
                }
                out.answers += 1
                // The envelope comes first (`{"jsonrpc":"2.0","id":N,"error":…`); a job inside a result may hold an `error` too.
                if line.prefix(48).contains(#""error""#), out.errors.count < 3 { out.errors.append(String(line.prefix(200))) }
            }
            out.rounds += 1
        }
        return out
    }

    /// Runs `body` on a thread of its own (never on the cooperative pool) and returns its value.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in Thread.detachNewThread { c.resume(returning: body()) } }
    }

    @Test func concurrentListsAndStatsNeverFreezeTheDaemon() async throws {
        let dir = TempDir("pool")
        defer { dir.cleanup() }
        // Held: the 50 jobs stay queued, so only the readers compete.
        let daemon = try await DaemonProcess.start(in: dir, extraArguments: ["--hold"])
        let client = try await daemon.client()
        for i in 0..<50 { _ = try await client.submit(localTask("job \(i)", seed: Int64(i))) }
        try? await client.close()

        let env = ProcessInfo.processInfo.environment
        let rounds = Int(env["ATELIER_POOL_TEST_ROUNDS"] ?? "") ?? 40
        let clients = 8
        let perRound = 4
        let timeout = 15
        let socketPath = daemon.socketPath
        let outcomes = await withTaskGroup(of: ClientOutcome.self) { group in
            for c in 0..<clients {
                group.addTask {
                    await Self.onThread {
                        Self.pipeline(socketPath: socketPath, client: c, rounds: rounds, perRound: perRound, timeoutSeconds: timeout)
                    }
                }
            }
            var all: [ClientOutcome] = []
            for await o in group { all.append(o) }
            return all
        }
        // A new connection must still be served.
        let health: String? = await Self.onThread {
            guard let conn = try? RawConnection(socketPath: socketPath) else { return nil }
            var tv = timeval(tv_sec: timeout, tv_usec: 0)
            setsockopt(conn.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            conn.send(#"{"jsonrpc":"2.0","id":1,"method":"daemon.health","params":{}}"#)
            return conn.readLine()
        }
        let stalled = outcomes.filter(\.stalled).count
        if stalled > 0 || health == nil {
            // A frozen daemon cannot shut down gracefully: kill it so the test ends.
            await daemon.kill9()
        } else {
            await daemon.terminate()
        }
        #expect(stalled == 0, "\(stalled) of \(clients) clients got no answer within \(timeout) s (daemon frozen?)")
        #expect(outcomes.allSatisfy { $0.rounds == rounds }, "rounds completed: \(outcomes.map(\.rounds))")
        #expect(outcomes.reduce(0) { $0 + $1.answers } == clients * rounds * perRound * 2)
        #expect(outcomes.flatMap(\.errors).isEmpty, "error answers: \(outcomes.flatMap(\.errors))")
        let answer = try #require(health, "daemon.health on a new connection got no answer within \(timeout) s")
        let h = try JSONParser.parse(answer)
        #expect(h["result"]?["queued"] == .int(50))
        #expect(h["result"]?["running"] == .int(0))
    }
}
