import AtelierCore

/// What happened to a job. The raw values are wire names: the `event` of `job.event` notifications
/// (docs/protocol.md); write hooks see the same kinds in ``StateChange/event``.
public enum JobEventKind: String, Sendable, Hashable, CaseIterable {
    /// Accepted and stored; waiting for a slot.
    case queued
    /// An attempt started, on the routed model or a fallback.
    case running
    /// One stored image of a job that succeeded (one per result, published before `succeeded`).
    case result
    /// Finished with results.
    case succeeded
    /// Finished without results.
    case failed
    /// Cancelled by the caller.
    case cancelled
    /// The daemon stopped during an attempt: the job is queued again for the next start. Stored, never published.
    case interrupted

    /// The status a job finishes with through this event: set for `succeeded`, `failed` and `cancelled`, nil for the
    /// events that do not finish a job.
    public var finalStatus: JobStatus? {
        switch self {
        case .succeeded: .succeeded
        case .failed: .failed
        case .cancelled: .cancelled
        case .queued, .running, .result, .interrupted: nil
        }
    }
}

/// Something that happened to a job (published after the change is committed). The server renders it as the
/// params of a `job.event` notification.
public struct JobEvent: SubjectEvent {
    /// What kind of change.
    public var event: JobEventKind
    /// The job after the change.
    public var job: Job
    /// The image this event is about (`result` events).
    public var result: JobResult?
    /// True when another daemon of the cluster made the change (PostgreSQL mode): this daemon relays it to its own
    /// subscribers and waiters; observers that count work done here (metrics) skip it.
    public var remote: Bool
    /// The job's taskUUID.
    public var subject: String { job.taskUUID }

    /// An event about `job`; `result` for `result` events; `remote` when relayed from another daemon.
    public init(_ event: JobEventKind, job: Job, result: JobResult? = nil, remote: Bool = false) {
        self.event = event
        self.job = job
        self.result = result
        self.remote = remote
    }

}
