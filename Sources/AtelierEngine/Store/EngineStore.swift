import AtelierCore

/// What the engine needs from a store that several daemons may share: one queue with leases, global idempotency,
/// state changes with their outbox rows in one transaction, shared budgets, daemon heartbeats and job events that
/// cross daemons.
///
/// `PostgresStore` implements it against PostgreSQL. The engine uses it in PostgreSQL mode (claims, leases, notices,
/// heartbeats) next to its jobs path, ``JobStoring``; the SQLite store is the one-daemon case and implements only
/// ``JobStoring``: claims never compete, no leases are needed, and job events stay in the process.
///
/// Clocks: lease expiry and heartbeats use the database server's clock, so daemons whose clocks disagree still
/// agree on whose lease has run out. Job and outbox times (`created_ms`, `next_attempt_ms`, …) stay the engine's.
public protocol EngineStore: Sendable {
    // MARK: Jobs

    /// Inserts new jobs in one transaction with global idempotency: a taskUUID already stored with the same
    /// canonical task gives `.existing` (its budget hold is not charged again), with another task `.conflict`. A
    /// job whose budget hold does not fit is not stored (`.overBudget`). Outcomes are in the order of `submissions`.
    func insert(_ submissions: [JobSubmission]) async throws -> [SubmissionOutcome]

    /// The job with this id, or nil.
    func job(_ taskUUID: String) async throws -> Job?

    // MARK: The queue

    /// Claims up to `limit` jobs for `owner`, oldest first: queued jobs nobody holds, and jobs whose holder's lease
    /// ran out (``ClaimedJob/takenOver``). `providers` limits the claim to jobs routed to those providers (nil:
    /// any). No two claimers ever get the same job while its lease runs.
    func claimJobs(owner: String, limit: Int, providers: [String]?, leaseSeconds: Double) async throws -> [ClaimedJob]

    /// Claims up to `limit` jobs routed to `provider`, but only as many as keep the whole cluster's live leases on
    /// that provider's jobs within `clusterLimit` (a provider's concurrency limit is the account's, shared by all
    /// daemons). Never the jobs `excluding` names: the claimer's own, which it is working on — when its lease on one
    /// ran out (a late heartbeat) it keeps working under that lease until another daemon takes the job, instead of
    /// racing that daemon to claim it again.
    func claimJobs(
        owner: String, provider: String, clusterLimit: Int, limit: Int, leaseSeconds: Double, excluding: [String]
    ) async throws -> [ClaimedJob]

    /// Extends the leases `owner` still holds on the jobs `taskUUIDs` (the ones it is working on) by `leaseSeconds`
    /// from now; returns those jobs' taskUUIDs. A job missing from the answer was taken over (or finished): its holder
    /// must stop working on it. Only the named jobs: a lease under the same owner name that this process does not work
    /// on (a previous run of a daemon started again with the same `--daemon-id`) is left to run out, so its job is
    /// taken over and recovered instead of being kept alive by the new run's heartbeats.
    func renewLeases(owner: String, taskUUIDs: [String], leaseSeconds: Double) async throws -> [String]

    /// Gives a claimed job back without changing it (the daemon stops before starting it): it is claimable at once.
    /// False when the lease was no longer the job's.
    @discardableResult
    func releaseJob(_ taskUUID: String, lease: StoreLease) async throws -> Bool

    /// Writes the whole state of `job` and, in the same transaction, `deliveries` (outbox rows the change owes),
    /// and announces the change to every daemon's listener after commit. With a `lease` the write happens only while
    /// that lease is still the job's (else ``StoreLeaseLost``); without one, only while nobody holds the job. A
    /// finished or re-queued job's lease is released.
    func commit(_ job: Job, change: JobEventKind?, lease: StoreLease?, deliveries: [DeliveryRecord]) async throws

    /// Asks for `taskUUID` to be cancelled wherever it runs: marks it (a later claimer finds the mark) and
    /// announces a notice with ``JobNotice/cancelRequested`` (its holder stops it). Returns the holder while its
    /// lease runs, nil when nobody holds it or it is finished.
    @discardableResult
    func requestCancel(_ taskUUID: String) async throws -> String?

    /// Of `taskUUIDs`, those whose cancellation was asked for.
    func cancelRequested(_ taskUUIDs: [String]) async throws -> Set<String>

    // MARK: The outbox

    /// Claims due outbox rows for `owner` (oldest due first, at most `limit`, none for `excludingHosts`), moving
    /// them to `sending` through ``DeliveryStateMachine``; rows left `sending` by a daemon whose lease ran out are
    /// taken over (sent again with the same id: at least once).
    func claimDeliveries(owner: String, limit: Int, nowMs: Int64, excludingHosts: [String], leaseSeconds: Double) async throws -> [ClaimedDelivery]

    /// Records an attempt's outcome (the row as the state machine left it) while `lease` is still the row's (when
    /// it was taken over meanwhile, nothing is written: the other daemon's outcome wins). An upload that became final
    /// releases the job's held webhooks whose uploads are all final, in the same transaction.
    func recordDelivery(_ record: DeliveryRecord, lease: StoreLease) async throws -> DeliveryRecording

    /// Extends the leases of every row `owner` is sending by `leaseSeconds` from now (a long upload); returns their
    /// ids. A row missing from the answer was taken over: its attempt's outcome will not be recorded.
    func renewDeliveryLeases(owner: String, leaseSeconds: Double) async throws -> [String]

    // MARK: Budgets

    /// Adds `amountUSD` to every counter of `hold` if none would pass its cap (all or nothing, serialised per
    /// counter, so concurrent spends from any number of daemons never overshoot).
    func spend(_ hold: BudgetHold) async throws -> SpendOutcome

    /// Adds `deltaUSD` (negative when the actual cost is below the estimate) to the counters, without a cap check.
    func adjust(_ counters: [BudgetCounter], deltaUSD: Double) async throws

    /// The spend of these counters (0 for a counter never charged).
    func spent(_ counters: [BudgetCounter]) async throws -> [BudgetCounter: Double]

    // MARK: Daemons

    /// Records that daemon `id` is alive now (the database's clock).
    func heartbeat(daemon id: String, startedAt: Timestamp, info: String) async throws

    /// The daemons seen within `seconds`, most recently seen first.
    func liveDaemons(within seconds: Double) async throws -> [DaemonPresence]

    /// Forgets daemon `id` (a clean shutdown).
    func removeDaemon(_ id: String) async throws

    // MARK: Events

    /// Runs `body` with the stream of job changes committed by any daemon (including this one) from now on; stops
    /// listening when `body` returns.
    func withJobNotices<T: Sendable>(_ body: (AsyncThrowingStream<JobNotice, any Error>) async throws -> T) async throws -> T
}

/// A job to insert and the budget it must fit in.
public struct JobSubmission: Sendable {
    /// The job as accepted (status `queued`).
    public var job: Job
    /// The estimate charged against budgets on insert; nil when no budget applies.
    public var hold: BudgetHold?
    /// The daemon submitting it (named in the new job's notice, so that it does not react to its own insert).
    public var daemon: String?

    /// A submission.
    public init(job: Job, hold: BudgetHold? = nil, daemon: String? = nil) {
        self.job = job
        self.hold = hold
        self.daemon = daemon
    }
}

/// The outcome of one ``JobSubmission``.
public enum SubmissionOutcome: Sendable {
    /// Stored now (and its hold charged).
    case inserted(Job)
    /// The same taskUUID with the same task was stored before (by any daemon): that job; nothing charged.
    case existing(Job)
    /// The taskUUID is taken by a different task (`conflict_task_uuid`).
    case conflict
    /// Not stored: the hold would pass this counter's cap.
    case overBudget(BudgetRefusal)
}

/// A daemon's hold on a job or an outbox row.
public struct StoreLease: Sendable, Equatable {
    /// The daemon holding it.
    public var owner: String
    /// Increases with every claim of the row (a fencing token): a write under an older token is refused.
    public var token: Int64
    /// When it runs out, by the database's clock.
    public var expiresAt: Timestamp

    /// A lease.
    public init(owner: String, token: Int64, expiresAt: Timestamp) {
        self.owner = owner
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// A write refused because the row is no longer held under the lease given (it ran out and another daemon took the
/// row over), or is held by another daemon when no lease was given.
public struct StoreLeaseLost: Error, Sendable, Equatable, CustomStringConvertible {
    /// The job or outbox row.
    public var id: String

    /// A refusal for `id`.
    public init(id: String) { self.id = id }

    /// Human-readable.
    public var description: String { "\(id) is no longer held under this lease (another daemon took it over)" }
}

/// A job claimed from the queue.
public struct ClaimedJob: Sendable {
    /// The job as stored.
    public var job: Job
    /// The claimer's lease.
    public var lease: StoreLease
    /// True when the job was `running` under another daemon whose lease ran out: recover its attempt as after a
    /// crash (resume from the recorded handle, never submit again).
    public var takenOver: Bool
    /// True when a cancel was asked for while nobody could act on it (the claimer cancels the job at once).
    public var cancelRequested: Bool

    /// A claim.
    public init(job: Job, lease: StoreLease, takenOver: Bool, cancelRequested: Bool = false) {
        self.job = job
        self.lease = lease
        self.takenOver = takenOver
        self.cancelRequested = cancelRequested
    }
}

/// An outbox row claimed for an attempt.
public struct ClaimedDelivery: Sendable {
    /// The row, now `sending`.
    public var record: DeliveryRecord
    /// The claimer's lease.
    public var lease: StoreLease
    /// True when another daemon's attempt was in flight and its lease ran out.
    public var takenOver: Bool

    /// A claim.
    public init(record: DeliveryRecord, lease: StoreLease, takenOver: Bool) {
        self.record = record
        self.lease = lease
        self.takenOver = takenOver
    }
}

/// What ``EngineStore/recordDelivery(_:lease:)`` did.
public struct DeliveryRecording: Sendable, Equatable {
    /// False when the row was no longer held under the lease (nothing was written).
    public var recorded: Bool
    /// Held webhooks this outcome released (bodies rendered with the uploads' outcomes), now due.
    public var released: [DeliveryRecord]

    /// A recording.
    public init(recorded: Bool, released: [DeliveryRecord] = []) {
        self.recorded = recorded
        self.released = released
    }
}

/// One budget counter: a tag value's spend in one UTC day or month.
public struct BudgetCounter: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The tag name (`client`).
    public var tag: String
    /// The tag value (`acme`).
    public var value: String
    /// Day or month.
    public var period: BudgetPeriod
    /// Days since the epoch (daily) or year × 12 + month − 1 (monthly), UTC, as `BudgetLedger` numbers them.
    public var periodNumber: Int64

    /// A counter.
    public init(tag: String, value: String, period: BudgetPeriod, periodNumber: Int64) {
        self.tag = tag
        self.value = value
        self.period = period
        self.periodNumber = periodNumber
    }

    /// The order rows are locked in (the same in every daemon, so concurrent spends cannot deadlock).
    public static func < (a: BudgetCounter, b: BudgetCounter) -> Bool {
        (a.tag, a.value, a.period.rawValue, a.periodNumber) < (b.tag, b.value, b.period.rawValue, b.periodNumber)
    }

    /// `tag=value/period#number`.
    public var description: String { "\(tag)=\(value)/\(period.rawValue)#\(periodNumber)" }
}

/// An amount to charge against several counters, each with its cap.
public struct BudgetHold: Sendable, Equatable {
    /// USD to add to every counter.
    public var amountUSD: Double
    /// The counters and their caps in USD.
    public var caps: [BudgetCounter: Double]

    /// A hold.
    public init(amountUSD: Double, caps: [BudgetCounter: Double]) {
        self.amountUSD = amountUSD
        self.caps = caps
    }
}

/// Why a spend was refused.
public struct BudgetRefusal: Sendable, Equatable {
    /// The counter that would have passed its cap.
    public var counter: BudgetCounter
    /// Its spend before the refused amount.
    public var spentUSD: Double
    /// Its cap.
    public var capUSD: Double

    /// A refusal.
    public init(counter: BudgetCounter, spentUSD: Double, capUSD: Double) {
        self.counter = counter
        self.spentUSD = spentUSD
        self.capUSD = capUSD
    }
}

/// The outcome of ``EngineStore/spend(_:)``.
public enum SpendOutcome: Sendable, Equatable {
    /// Charged to every counter.
    case accepted
    /// Nothing charged.
    case refused(BudgetRefusal)
}

/// A daemon as its heartbeats show it.
public struct DaemonPresence: Sendable, Equatable {
    /// The daemon's id.
    public var id: String
    /// When it started (its own clock).
    public var startedAt: Timestamp
    /// Its last heartbeat (the database's clock).
    public var lastSeen: Timestamp
    /// What it said about itself (version, host; never credentials).
    public var info: String

    /// A presence.
    public init(id: String, startedAt: Timestamp, lastSeen: Timestamp, info: String) {
        self.id = id
        self.startedAt = startedAt
        self.lastSeen = lastSeen
        self.info = info
    }
}

/// A committed job change, as announced to every daemon.
public struct JobNotice: Sendable, Equatable {
    /// The job.
    public var taskUUID: String
    /// Its status after the change.
    public var status: JobStatus
    /// What happened, when the writer said.
    public var event: JobEventKind?
    /// The daemon that wrote it.
    public var daemon: String?
    /// True for a cancel request (``PostgresStore/requestCancel(_:)``): the job's holder stops it.
    public var cancelRequested: Bool
    /// The provider (or lane) the job is routed to, when the writer said: a new or finished job wakes only that
    /// provider's claimers.
    public var provider: String?

    /// A notice.
    public init(
        taskUUID: String, status: JobStatus, event: JobEventKind?, daemon: String?, cancelRequested: Bool = false, provider: String? = nil
    ) {
        self.taskUUID = taskUUID
        self.status = status
        self.event = event
        self.daemon = daemon
        self.cancelRequested = cancelRequested
        self.provider = provider
    }
}
