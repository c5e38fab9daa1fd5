import AtelierCore
import Synchronization

/// The outbox of a cluster, as one daemon's delivery worker sees it: rows are claimed under leases
/// (``PostgresStore/claimDeliveries(owner:limit:nowMs:excludingHosts:leaseSeconds:)``), outcomes are recorded only
/// while the lease is still this daemon's, and the leases of attempts in flight are renewed from every step, so a
/// long upload keeps its row. When a daemon dies, its rows' leases run out and any other daemon's worker sends them
/// (again, with the same `webhook-id`: at least once, as after a crash of a lone daemon).
///
/// The worker looks at the table at least every ``pollInterval`` as well as when woken: rows committed by other
/// daemons (their jobs' deliveries, or rows a dead daemon left) wake nobody here, and leases need renewing.
public final class PostgresOutbox: OutboxStore {
    /// The database.
    public let store: PostgresStore
    /// This daemon's id (the lease owner).
    public let owner: String
    /// The outbox's schedules and limits.
    public let configuration: DeliveryConfiguration
    /// How long a claimed row stays this daemon's without renewal.
    public let leaseSeconds: Double
    /// The longest the worker waits before looking at the table again.
    public var pollInterval: Double { max(0.2, leaseSeconds / 3) }

    private struct State {
        /// The lease of every row this daemon claimed and has not recorded yet.
        var leases: [String: StoreLease] = [:]
        /// Rows claimed in one batch beyond their host's limit: started when the host has room (their leases are
        /// renewed like the others').
        var waiting: [DeliveryRecord] = []
        /// When leases were last renewed.
        var renewedMs: Int64 = 0
    }

    private let state = Mutex(State())

    /// - Parameters:
    ///   - owner: this daemon's id.
    ///   - leaseSeconds: how long a claimed row stays this daemon's without renewal (renewed every third of it).
    public init(store: PostgresStore, owner: String, configuration: DeliveryConfiguration, leaseSeconds: Double = 30) {
        self.store = store
        self.owner = owner
        self.configuration = configuration
        self.leaseSeconds = leaseSeconds
    }

    /// Nothing to recover: rows a dead daemon (this one's previous run included) left `sending` are taken over once
    /// their leases run out, by whichever daemon claims next.
    public func recover(nowMs: Int64) async throws -> Int { 0 }

    /// See ``OutboxStore/step(outcomes:nowMs:room:inflight:perHost:)``: records each outcome under its row's lease
    /// (an outcome for a row taken over meanwhile is dropped: the other daemon's attempt wins), renews the leases of
    /// rows in flight, then claims due rows.
    public func step(outcomes: [DeliveryOutcome], nowMs: Int64, room: Int, inflight: [String: Int], perHost: Int) async throws -> DeliveryStep {
        var out = DeliveryStep()
        // A step that fails part way is handed the same outcomes again: those already recorded find their lease
        // gone (here and in the row) and are skipped.
        for o in outcomes {
            var r = o.record
            var machine = DeliveryStateMachine(state: r.state, schedule: configuration.schedule(r.kind))
            let verdict = DeliveryClassifier.verdict(r.kind, o.result)
            var status: Int? = nil
            if case .http(let s, _) = o.result { status = s }
            let lease = state.withLock { $0.leases[r.id] }
            guard machine.handle(.attempted(verdict, httpStatus: status, nowMs: o.finishedMs, unitRandom: o.unitRandom)) != .ignore, let lease else {
                _ = state.withLock { $0.leases.removeValue(forKey: r.id) }
                continue
            }
            r.state = machine.state
            r.updatedMs = o.finishedMs
            let recording = try await store.recordDelivery(r, lease: lease)
            _ = state.withLock { $0.leases.removeValue(forKey: r.id) }
            if recording.recorded { out.written.append(r) }
            out.written.append(contentsOf: recording.released)
        }
        try await renewIfDue(nowMs: nowMs)
        var taken = inflight
        var left = max(0, room)
        // First the rows claimed earlier whose host now has room.
        let ready: [DeliveryRecord] = state.withLock { s in
            var ready: [DeliveryRecord] = []
            s.waiting.removeAll { r in
                guard left > 0, taken[r.hostKey, default: 0] < perHost else { return false }
                taken[r.hostKey, default: 0] += 1
                left -= 1
                ready.append(r)
                return true
            }
            return ready
        }
        out.claimed = ready
        let waitingCount = state.withLock { $0.waiting.count }
        if left > 0, waitingCount < max(1, room) {
            let full = taken.filter { $0.value >= perHost }.map(\.key)
            let claims = try await store.claimDeliveries(owner: owner, limit: left, nowMs: nowMs, excludingHosts: full, leaseSeconds: leaseSeconds)
            state.withLock { s in
                for c in claims {
                    s.leases[c.record.id] = c.lease
                    if taken[c.record.hostKey, default: 0] < perHost {
                        taken[c.record.hostKey, default: 0] += 1
                        out.claimed.append(c.record)
                    } else {
                        s.waiting.append(c.record)
                    }
                }
            }
            out.moreDue = claims.count == left
        }
        let next = try await store.nextDeliveryDue(after: nowMs)
        let poll = nowMs + Int64(pollInterval * 1000)
        out.nextDueMs = min(next ?? poll, poll)
        return out
    }

    /// Renews this daemon's leases every third of their length; rows missing from the answer were taken over and
    /// are forgotten (a waiting one is not started; an attempt in flight will not be recorded).
    private func renewIfDue(nowMs: Int64) async throws {
        let due = state.withLock { s in
            guard !s.leases.isEmpty, nowMs - s.renewedMs >= Int64(pollInterval * 1000) else { return false }
            s.renewedMs = nowMs
            return true
        }
        guard due else { return }
        let kept = Set(try await store.renewDeliveryLeases(owner: owner, leaseSeconds: leaseSeconds))
        state.withLock { s in
            // Steps run one at a time, so no claim happened meanwhile: a lease missing from the answer is lost.
            s.waiting.removeAll { !kept.contains($0.id) }
            s.leases = s.leases.filter { kept.contains($0.key) }
        }
    }

    /// See ``OutboxStore/tasksWithOpenDeliveries(limit:)``.
    public func tasksWithOpenDeliveries(limit: Int) async throws -> [String] { try await store.tasksWithOpenDeliveries(limit: limit) }

    /// See ``OutboxStore/rows(forTasks:)``.
    public func rows(forTasks tasks: [String]) async throws -> [DeliveryRecord] { try await store.deliveries(forTasks: tasks) }

    /// See ``OutboxStore/list(status:taskUUID:kind:limit:before:)``.
    public func list(
        status: DeliveryStatus?, taskUUID: String?, kind: DeliveryKind?, limit: Int, before cursor: Int64?
    ) async throws -> (
        [DeliveryRecord], Int64?
    ) {
        try await store.deliveryPage(status: status, taskUUID: taskUUID, kind: kind, limit: limit, before: cursor)
    }

    /// See ``OutboxStore/get(_:)``.
    public func get(_ id: String) async throws -> DeliveryRecord? { try await store.delivery(id) }

    /// See ``OutboxStore/retry(id:taskUUID:nowMs:)``.
    public func retry(id: String?, taskUUID: String?, nowMs: Int64) async throws -> [DeliveryRecord] {
        try await store.retryDeliveries(id: id, taskUUID: taskUUID, nowMs: nowMs, configuration: configuration)
    }

    /// See ``OutboxStore/backlog(nowMs:overdueAfterMs:)``.
    public func backlog(nowMs: Int64, overdueAfterMs: Int64) async throws -> DeliveryBacklog {
        try await store.deliveryBacklog(nowMs: nowMs, overdueAfterMs: overdueAfterMs)
    }
}
