import AtelierCore
import AtelierTestSupport
import Foundation
import GRDB
import Synchronization
import Testing

@testable import AtelierEngine

/// The store's group commit: writes waiting together share one transaction; each is answered only after that
/// transaction committed; a failing write fails alone and leaves nothing behind, its neighbours commit.
@Suite("store: group commit")
struct GroupCommitTests {
    /// A store in a fresh directory, with a scratch table `t(k TEXT)`.
    struct Harness {
        let directory: String
        let store: JobStore

        static func make(faults: StoreFaultInjection? = nil, spacing: CommitSpacing = .none) async throws -> Harness {
            let dir = NSTemporaryDirectory() + "atelier-groupcommit-" + UUIDv4.generate()
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let store = try JobStore(path: dir + "/atelier.sqlite", faultInjection: faults, commitSpacing: spacing)
            try await store.database.write { db in
                try db.execute(sql: "CREATE TABLE t (k TEXT NOT NULL UNIQUE)")
                try db.execute(sql: "CREATE TABLE parent (id INTEGER PRIMARY KEY)")
                try db.execute(sql: "CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
            }
            return Harness(directory: dir, store: store)
        }

        var group: GroupCommit { store.database.group }

        func keys() async throws -> [String] {
            try await store.database.read { db in try String.fetchAll(db, sql: "SELECT k FROM t ORDER BY k") }
        }

        func insert(_ k: String) async throws {
            try await store.database.write { db in try db.execute(sql: "INSERT INTO t (k) VALUES (?)", arguments: [k]) }
        }

        /// Holds the writer connection (inside a write of its own) until `count` writes wait behind it, so that they
        /// form the next batch; returns once the holder runs. Its value says whether they all arrived (it gives up
        /// after 120 s, and the test fails).
        func hold(until count: Int) async throws -> Task<Bool, any Error> {
            let group = self.group
            let started = Atomic<Bool>(false)
            let holder = Task {
                try await store.database.write { _ -> Bool in
                    started.store(true, ordering: .sequentiallyConsistent)
                    // On GRDB's writer thread, never on the cooperative pool: poll until the writes are queued.
                    let deadline = Date().addingTimeInterval(120)
                    while group.pendingCount < count, Date() < deadline { usleep(200) }
                    return group.pendingCount >= count
                }
            }
            _ = try await eventually(timeout: .seconds(120), every: .milliseconds(1)) { started.load(ordering: .sequentiallyConsistent) }
            return holder
        }

        /// Waits until `count` writes are queued (not for the last one: the holder lets the batch go at once).
        func queued(_ count: Int) async {
            _ = try? await eventually(timeout: .seconds(120), every: .milliseconds(1)) { group.pendingCount == count }
        }

        func cleanup() { try? FileManager.default.removeItem(atPath: directory) }
    }

    @Test func writesWaitingTogetherShareOneTransactionAndAreCommittedWhenAnswered() async throws {
        let h = try await Harness.make()
        defer { h.cleanup() }
        let before = h.group.transactionCount
        let holder = try await h.hold(until: 8)
        let seen = await withTaskGroup(of: Bool.self) { tasks in
            for i in 0..<8 {
                tasks.addTask {
                    // Answered only after the commit: a reader (another connection) already sees the row.
                    guard (try? await h.insert("k\(i)")) != nil else { return false }
                    return (try? await h.keys().contains("k\(i)")) ?? false
                }
            }
            return await tasks.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(try await holder.value, "the writes did not queue up behind the holder")
        #expect(seen == Array(repeating: true, count: 8))
        #expect(try await h.keys() == (0..<8).map { "k\($0)" })
        // The holder's transaction, then one for the eight (reads do not count).
        #expect(h.group.transactionCount - before == 2)
    }

    @Test func aFailingWriteFailsAloneAndLeavesNothingWhileItsNeighboursCommit() async throws {
        let h = try await Harness.make()
        defer { h.cleanup() }
        struct Refused: Error {}
        let holder = try await h.hold(until: 3)
        let outcomes = await withTaskGroup(of: (String, String).self) { tasks in
            tasks.addTask { ("a", (try? await h.insert("a")) != nil ? "ok" : "failed") }
            await h.queued(1)
            tasks.addTask {
                do {
                    try await h.store.database.write { db in
                        try db.execute(sql: "INSERT INTO t (k) VALUES ('b')")
                        throw Refused()
                    }
                    return ("b", "ok")
                } catch {
                    return ("b", error is Refused ? "refused" : "\(error)")
                }
            }
            await h.queued(2)
            tasks.addTask { ("c", (try? await h.insert("c")) != nil ? "ok" : "failed") }
            return await tasks.reduce(into: [String: String]()) { $0[$1.0] = $1.1 }
        }
        #expect(try await holder.value)
        // Each got its own outcome: a and c stored, b refused with its own error and rolled back.
        #expect(outcomes == ["a": "ok", "b": "refused", "c": "ok"])
        #expect(try await h.keys() == ["a", "c"])
    }

    @Test func aCommitThatFailsIsRetriedWriteByWriteSoOnlyItsCauseFails() async throws {
        let h = try await Harness.make()
        defer { h.cleanup() }
        let holder = try await h.hold(until: 3)
        let run: @Sendable (String) async -> String = { sql in
            do {
                try await h.store.database.write { db in try db.execute(sql: sql) }
                return "ok"
            } catch let e as DatabaseError {
                return "\(e.resultCode)"
            } catch {
                return "\(error)"
            }
        }
        let outcomes = await withTaskGroup(of: (String, String).self) { tasks in
            tasks.addTask { ("p1", await run("INSERT INTO parent (id) VALUES (1)")) }
            await h.queued(1)
            // Valid statement by statement; the deferred foreign key fails the COMMIT.
            tasks.addTask { ("orphan", await run("INSERT INTO child (pid) VALUES (99)")) }
            await h.queued(2)
            tasks.addTask { ("p2", await run("INSERT INTO parent (id) VALUES (2)")) }
            return await tasks.reduce(into: [String: String]()) { $0[$1.0] = $1.1 }
        }
        #expect(try await holder.value)
        #expect(outcomes == ["p1": "ok", "orphan": "\(ResultCode.SQLITE_CONSTRAINT)", "p2": "ok"])
        let stored = try await h.store.database.read { db in
            (try Int.fetchAll(db, sql: "SELECT id FROM parent ORDER BY id"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM child") ?? -1)
        }
        #expect(stored.0 == [1, 2])
        #expect(stored.1 == 0)
    }

    @Test func anInjectedFaultFailsExactlyOneWriteOfABatch() async throws {
        let faults = StoreFaultInjection()
        let h = try await Harness.make(faults: faults)
        defer { h.cleanup() }
        let holder = try await h.hold(until: 4)
        faults.failCommits(1)
        let failures = await withTaskGroup(of: ResultCode?.self) { tasks in
            for i in 0..<4 {
                tasks.addTask {
                    do {
                        try await h.insert("f\(i)")
                        return nil
                    } catch let e as DatabaseError {
                        return e.resultCode
                    } catch {
                        return .SQLITE_ERROR
                    }
                }
            }
            return await tasks.reduce(into: [ResultCode]()) { if let c = $1 { $0.append(c) } }
        }
        #expect(try await holder.value)
        #expect(failures == [.SQLITE_FULL])
        #expect(try await h.keys().count == 3)
        #expect(faults.injectedCount == 1)
    }

    /// Commits "a", "b" and "c" in one transaction (behind a holder), so that the next transaction is spaced and a
    /// wait ends early once three writes wait.
    func commitThreeTogether(_ h: Harness) async throws {
        let holder = try await h.hold(until: 3)
        async let a: Void = h.insert("a")
        async let b: Void = h.insert("b")
        async let c: Void = h.insert("c")
        _ = try await (a, b, c)
        #expect(try await holder.value, "the writes did not queue up behind the holder")
    }

    /// A store spaced by `interval` on a manual clock, after one transaction of three writes ("a", "b", "c"), so
    /// that the next write waits; with the clock and the transactions counted so far.
    func spacedAfterThree(_ interval: Duration) async throws -> (h: Harness, clock: AtelierClock, before: Int) {
        let clock = AtelierClock.manual()
        let h = try await Harness.make(spacing: CommitSpacing(interval: interval, clock: clock))
        try await commitThreeTogether(h)
        return (h, clock, h.group.transactionCount)
    }

    // A write the spacing never lets go fails the test at its time limit instead of hanging the run.
    @Test(.timeLimit(.minutes(1))) func aWriterAloneNeverWaitsForTheSpacing() async throws {
        let clock = AtelierClock.manual()
        let h = try await Harness.make(spacing: CommitSpacing(interval: .seconds(3600), clock: clock))
        defer { h.cleanup() }
        // Each write alone in its transaction: none waits (the clock never moves).
        for i in 0..<5 { try await h.insert("k\(i)") }
        #expect(try await h.keys() == (0..<5).map { "k\($0)" })
        #expect(h.group.spacedCount == 0)
    }

    // A write the spacing never lets go fails the test at its time limit instead of hanging the run.
    @Test(.timeLimit(.minutes(1))) func afterATransactionOfSeveralWritesTheNextWaitsForTheIntervalAndCarriesEveryWriteArrivingMeanwhile() async throws
    {
        let (h, clock, before) = try await spacedAfterThree(.seconds(3600))
        defer { h.cleanup() }
        // The interval has not passed: d waits, and e joins it.
        let d = Task { try await h.insert("d") }
        await h.queued(1)
        let e = Task { try await h.insert("e") }
        await h.queued(2)
        #expect(h.group.spacedCount == 1)
        #expect(try await h.keys() == ["a", "b", "c"], "a spaced write committed before its interval was over")
        #expect(h.group.transactionCount == before)
        // The interval is over: both commit, in one transaction.
        clock.advance(by: .seconds(3600))
        try await d.value
        try await e.value
        #expect(try await h.keys() == ["a", "b", "c", "d", "e"])
        #expect(h.group.transactionCount - before == 1)
    }

    // A write the spacing never lets go fails the test at its time limit instead of hanging the run.
    @Test(.timeLimit(.minutes(1))) func aWriteAfterAPauseLongerThanTheIntervalCommitsAtOnce() async throws {
        let (h, clock, _) = try await spacedAfterThree(.milliseconds(2))
        defer { h.cleanup() }
        clock.advance(by: .milliseconds(3))
        try await h.insert("d")
        #expect(try await h.keys() == ["a", "b", "c", "d"])
        #expect(h.group.spacedCount == 0)
    }

    // A write the spacing never lets go fails the test at its time limit instead of hanging the run.
    @Test(.timeLimit(.minutes(1))) func aWaitEndsAsSoonAsAsManyWritesWaitAsRecentTransactionsCarried() async throws {
        let (h, clock, before) = try await spacedAfterThree(.seconds(3600))
        defer { h.cleanup() }
        // Three callers that each wait for their write are all back: the first waits, the third ends the wait
        // (the clock never moves).
        let d = Task { try await h.insert("d") }
        await h.queued(1)
        #expect(try await eventually(timeout: .seconds(30), every: .milliseconds(1)) { h.group.spacedCount == 1 })
        async let e: Void = h.insert("e")
        async let f: Void = h.insert("f")
        _ = try await (d.value, e, f)
        #expect(try await h.keys() == ["a", "b", "c", "d", "e", "f"])
        #expect(h.group.spacedCount == 1)
        #expect(h.group.transactionCount - before == 1)
        // The interval passes (the timer of the wait that ended early fires and begins nothing): a write after it
        // commits alone, at once.
        clock.advance(by: .seconds(3600))
        try await h.insert("g")
        #expect(h.group.transactionCount - before == 2)
        #expect(try await h.keys().last == "g")
    }
}
