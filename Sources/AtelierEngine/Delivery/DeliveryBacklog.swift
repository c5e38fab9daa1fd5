import AtelierCore

/// How far behind delivery is (`daemon.health`'s `delivery`).
public struct DeliveryBacklog: Sendable, Equatable {
    /// Rows not yet settled (`pending` or `sending`).
    public var open: Int
    /// Pending rows whose next attempt is due now.
    public var due: Int
    /// Pending rows due for longer than the overdue threshold: the worker is not keeping up (health is degraded).
    public var overdue: Int
    /// When the longest-waiting due row fell due, if any is due.
    public var oldestDueMs: Int64?

    public init(open: Int, due: Int, overdue: Int, oldestDueMs: Int64?) {
        self.open = open
        self.due = due
        self.overdue = overdue
        self.oldestDueMs = oldestDueMs
    }

    /// `{open, due, overdue, oldestDueAt}`.
    public var json: JSONValue {
        [
            "open": .int(Int64(open)), "due": .int(Int64(due)), "overdue": .int(Int64(overdue)),
            "oldestDueAt": oldestDueMs.map { .string(Timestamp(milliseconds: $0).iso8601) } ?? .null,
        ]
    }
}

extension DeliveryService {
    /// Rows that have been due this long without an attempt count as overdue.
    public static let overdueAfterMs: Int64 = 60_000

    /// The outbox backlog now.
    public nonisolated func backlog() async throws -> DeliveryBacklog {
        try await store.backlog(nowMs: clock.timestamp.milliseconds, overdueAfterMs: Self.overdueAfterMs)
    }
}
