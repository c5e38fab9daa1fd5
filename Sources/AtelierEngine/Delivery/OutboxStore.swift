import AtelierCore

/// What the delivery worker (``DeliveryService``) needs from the outbox table, whichever store holds it.
///
/// - ``DeliveryStore`` (SQLite): one daemon owns every row; a crash's `sending` rows are recovered at start.
/// - ``PostgresOutbox`` (PostgreSQL): rows are claimed under renewable leases, so any daemon of the cluster sends
///   the rows a dead daemon owed once its leases run out; `recover` has nothing to do.
///
/// Every state change of a row goes through ``DeliveryStateMachine`` in both.
public protocol OutboxStore: Sendable {
    /// At start: rows a crash of this daemon left `sending` go back to `pending`, due now; returns how many.
    func recover(nowMs: Int64) async throws -> Int

    /// The worker's step: records finished attempts (releasing held webhooks their uploads settle), claims due rows
    /// (at most `room`, at most `perHost` in flight per host, `inflight` counting those already running), and says
    /// when to look again.
    func step(outcomes: [DeliveryOutcome], nowMs: Int64, room: Int, inflight: [String: Int], perHost: Int) async throws -> DeliveryStep

    /// Jobs with deliveries still open, newest first.
    func tasksWithOpenDeliveries(limit: Int) async throws -> [String]

    /// Every row of these jobs (or workflows), in insertion order.
    func rows(forTasks tasks: [String]) async throws -> [DeliveryRecord]

    /// One page, newest first (`delivery.list`).
    func list(
        status: DeliveryStatus?, taskUUID: String?, kind: DeliveryKind?, limit: Int, before cursor: Int64?
    ) async throws -> (
        [DeliveryRecord], Int64?
    )

    /// The row with this id.
    func get(_ id: String) async throws -> DeliveryRecord?

    /// `delivery.retry`: the rows (one by id, or a job's failed and pending ones) due now in a fresh cycle, as they
    /// are afterwards.
    func retry(id: String?, taskUUID: String?, nowMs: Int64) async throws -> [DeliveryRecord]

    /// Open rows, how many are due, how many overdue.
    func backlog(nowMs: Int64, overdueAfterMs: Int64) async throws -> DeliveryBacklog
}

/// One finished attempt, as the worker hands it back to the store.
public struct DeliveryOutcome: Sendable {
    /// The row as claimed.
    public var record: DeliveryRecord
    /// What the attempt got.
    public var result: AttemptResult
    /// When it finished.
    public var finishedMs: Int64
    /// A random number in 0..<1 for the retry jitter.
    public var unitRandom: Double
}

/// What one step of the worker did.
public struct DeliveryStep: Sendable {
    /// Rows whose outcome was recorded (and held webhooks released by them).
    public var written: [DeliveryRecord] = []
    /// Rows claimed for attempts (now `sending`).
    public var claimed: [DeliveryRecord] = []
    /// Rows may still be due for hosts with room (the candidate scan stopped early): look again at once.
    public var moreDue = false
    /// The earliest future time the store wants to be looked at again (a row falling due, a lease to renew).
    public var nextDueMs: Int64?
}
