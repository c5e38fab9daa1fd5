import AtelierCore
import AtelierEngine
import Foundation
import GRDB
import Testing

/// A stored enum value this daemon does not know (a newer daemon wrote it, or the file was edited) is a
/// `store_failure` naming the table, column and value. It is never read back as `failed`: that coercion silently
/// turned an unknown job into a failed one (and its spend into a failed job's) and an unknown delivery into one
/// given up.
@Suite("store faults: unknown stored values")
struct StoreFaultUnknownValueTests {
    /// Sets `column` of the rows `whereSQL` selects to `value`, behind the daemon's back.
    static func corrupt(_ store: JobStore, _ table: String, _ column: String, to value: String, where whereSQL: String, _ key: String) async throws {
        let changed = try await store.database.write { db in
            try db.execute(sql: "UPDATE \(table) SET \(column) = ? WHERE \(whereSQL) = ?", arguments: [value, key])
            return db.changesCount
        }
        #expect(changed == 1)
    }

    static func expectUnknown(
        _ error: AtelierError, table: String, column: String, value: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(error.code == .storeFailure, sourceLocation: sourceLocation)
        #expect(!error.retryable, "bad data is not a passing fault", sourceLocation: sourceLocation)
        #expect(error.details["table"] == .string(table), sourceLocation: sourceLocation)
        #expect(error.details["column"] == .string(column), sourceLocation: sourceLocation)
        #expect(error.details["value"] == .string(value), sourceLocation: sourceLocation)
        #expect(
            error.message.contains("'\(value)'") && error.message.contains("\(table).\(column)"), "\(error.message)", sourceLocation: sourceLocation)
    }

    @Test func aJobWithAnUnknownStatusIsAStoreErrorNotAFailedJob() async throws {
        let h = try DeliveryHarness.make()
        defer { h.cleanup() }
        let job = try await h.finish()
        try await Self.corrupt(h.store, "job", "status", to: "paused", where: "task_uuid", job.taskUUID)
        let error = try await #require(throws: AtelierError.self) { try await h.store.job(job.taskUUID) }
        Self.expectUnknown(error, table: "job", column: "status", value: "paused")
    }

    @Test func anUnknownDeliveryStatusOrKindIsAStoreErrorNotAFailedDelivery() async throws {
        let h = try DeliveryHarness.make()
        defer { h.cleanup() }
        let job = try await h.finish()
        let row = try #require(try await h.rows(job).first)
        try await Self.corrupt(h.store, "delivery", "status", to: "parked", where: "id", row.id)
        let fromStore = try await #require(throws: AtelierError.self) { try await h.service.store.get(row.id) }
        Self.expectUnknown(fromStore, table: "delivery", column: "status", value: "parked")
        // The service passes the store's error on as it is (not as a retryable "cannot read the outbox").
        let fromService = try await #require(throws: AtelierError.self) { try await h.service.get(row.id) }
        Self.expectUnknown(fromService, table: "delivery", column: "status", value: "parked")

        try await Self.corrupt(h.store, "delivery", "status", to: "pending", where: "id", row.id)
        try await Self.corrupt(h.store, "delivery", "kind", to: "carrier-pigeon", where: "id", row.id)
        let kind = try await #require(throws: AtelierError.self) { try await h.service.store.get(row.id) }
        Self.expectUnknown(kind, table: "delivery", column: "kind", value: "carrier-pigeon")
    }

    /// The worker leaves a row it does not understand as it is (for the daemon that wrote it) and goes on with the
    /// others: the unknown value neither stalls every delivery on a store error nor is sent as some other kind.
    @Test func theWorkerLeavesRowsItDoesNotUnderstandAndDeliversTheRest() async throws {
        let h = try DeliveryHarness.make()
        defer { h.cleanup() }
        let odd = try await h.finish()
        let crashed = try await h.finish()
        let fine = try await h.finish()
        let oddRow = try #require(try await h.rows(odd).first)
        let crashedRow = try #require(try await h.rows(crashed).first)
        try await Self.corrupt(h.store, "delivery", "kind", to: "carrier-pigeon", where: "id", oddRow.id)
        // Left mid-attempt by a crash, with a kind this daemon does not know: recovery at start passes it by.
        try await Self.corrupt(h.store, "delivery", "kind", to: "carrier-pigeon", where: "id", crashedRow.id)
        try await Self.corrupt(h.store, "delivery", "status", to: "sending", where: "id", crashedRow.id)

        #expect(try await h.service.runDue() == 4, "every other row of the three jobs")
        #expect(try await h.rows(fine).allSatisfy { $0.state.status == .delivered })
        let untouched = try await h.store.database.read { db in
            try Row.fetchAll(db, sql: "SELECT id, kind, status, attempts FROM delivery WHERE kind = 'carrier-pigeon' ORDER BY seq").map {
                [$0["id"] as String, $0["kind"] as String, $0["status"] as String, String($0["attempts"] as Int)]
            }
        }
        #expect(untouched == [[oddRow.id, "carrier-pigeon", "pending", "0"], [crashedRow.id, "carrier-pigeon", "sending", "0"]])
        #expect(h.transport.sent.count == 4)
    }

    @Test func theBudgetLedgerRefusesToCountAJobWithAnUnknownStatus() async throws {
        let dir = "/tmp/engine-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let budgets = #"[{"tag": "client", "value": "acme", "dailyUSD": 1}]"#
        let h = try await EngineHarness.make([:], budgets: budgets, dir: dir)
        var t = task("spend")
        t.tags = ["client": "acme"]
        let job = try await h.run(t)
        #expect(job.status == .succeeded)
        await h.engine.shutdown()
        let store = try JobStore(path: ResultFiles(root: dir).databasePath, durability: .normal)
        try await Self.corrupt(store, "job", "status", to: "paused", where: "task_uuid", job.taskUUID)
        // The ledger is rebuilt at start: the unknown status stops it, saying where, instead of counting the job's
        // spend as a failed job's.
        let error = try await #require(throws: AtelierError.self) { _ = try await EngineHarness.make([:], budgets: budgets, dir: dir) }
        Self.expectUnknown(error, table: "job", column: "status", value: "paused")
    }
}
