import AtelierCore
import AtelierEngine
import Foundation
import Testing

/// `daemon.health`'s `delivery` part: open rows, due rows, and rows due for over a minute (overdue: degraded).
@Suite("delivery backlog")
struct DeliveryBacklogTests {
    @Test func dueRowsBecomeOverdueAfterAMinuteAndLeaveWhenDelivered() async throws {
        let h = try DeliveryHarness.make()
        defer { h.cleanup() }
        #expect(try await h.service.backlog() == DeliveryBacklog(open: 0, due: 0, overdue: 0, oldestDueMs: nil))
        let start = h.clock.timestamp.milliseconds
        try await h.finish(status: .failed)
        // One `job.failed` message, due at once.
        #expect(try await h.service.backlog() == DeliveryBacklog(open: 1, due: 1, overdue: 0, oldestDueMs: start))
        h.clock.advance(by: .seconds(30))
        #expect(try await h.service.backlog().overdue == 0)
        h.clock.advance(by: .seconds(31))
        let late = try await h.service.backlog()
        #expect(late.overdue == 1 && late.due == 1 && late.open == 1)
        #expect(late.json["oldestDueAt"] == .string(Timestamp(milliseconds: start).iso8601))
        #expect(try await h.service.runDue() == 1)
        #expect(try await h.service.backlog() == DeliveryBacklog(open: 0, due: 0, overdue: 0, oldestDueMs: nil))
    }
}
