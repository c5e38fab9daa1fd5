import AtelierCore
import Synchronization

/// The current state of recent jobs, readable without suspending; each state is encoded to JSON at most once, when
/// it is first read as bytes (most states of most jobs are never read that way, so none is encoded up front).
///
/// The socket server answers `job.get` from here on the event loop; a miss falls back to the store. Every job
/// that is not finished is always present (the engine puts it in before acknowledging it and keeps it updated);
/// finished jobs are kept up to ``capacity`` in order of completion.
public final class JobCache: Sendable {
    private struct Entry: Sendable {
        var job: Job
        /// The job's JSON, once a reader asked for it.
        var encoded: [UInt8]?
        /// Which ``put(_:)`` stored this state (an encoding made outside the lock is kept only for the same one).
        var version: UInt64
    }

    private struct State: Sendable {
        var entries: [String: Entry] = [:]
        var finishedOrder: [String] = []
        var finishedHead = 0
        var nextVersion: UInt64 = 0
    }

    private let state = Mutex(State())
    /// How many finished jobs are kept.
    public let capacity: Int

    public init(capacity: Int = 4096) { self.capacity = capacity }

    /// Stores the latest state of `job`.
    public func put(_ job: Job) {
        state.withLock { s in
            let wasFinished = s.entries[job.taskUUID]?.job.status.isTerminal ?? false
            s.nextVersion &+= 1
            s.entries[job.taskUUID] = Entry(job: job, encoded: nil, version: s.nextVersion)
            if job.status.isTerminal && !wasFinished {
                s.finishedOrder.append(job.taskUUID)
                while s.finishedOrder.count - s.finishedHead > capacity {
                    let old = s.finishedOrder[s.finishedHead]
                    s.finishedHead += 1
                    if s.entries[old]?.job.status.isTerminal == true { s.entries.removeValue(forKey: old) }
                }
                if s.finishedHead > 4096 {
                    s.finishedOrder.removeFirst(s.finishedHead)
                    s.finishedHead = 0
                }
            }
        }
    }

    /// The job, if cached.
    public func job(_ taskUUID: String) -> Job? { state.withLock { $0.entries[taskUUID]?.job } }

    /// The job's JSON encoding, if cached: encoded (outside the lock) on the first read of this state, then kept.
    public func encoded(_ taskUUID: String) -> [UInt8]? {
        guard let (job, encoded, version) = state.withLock({ s in s.entries[taskUUID].map { ($0.job, $0.encoded, $0.version) } }) else {
            return nil
        }
        if let encoded { return encoded }
        let bytes = JSONWriter.bytes(job.json)
        state.withLock { s in
            if s.entries[taskUUID]?.version == version { s.entries[taskUUID]?.encoded = bytes }
        }
        return bytes
    }

    /// The ids of cached jobs that are not finished.
    public func unfinishedIDs() -> [String] {
        state.withLock { s in s.entries.compactMap { $0.value.job.status.isTerminal ? nil : $0.key } }
    }

    /// The number of cached jobs.
    public var count: Int { state.withLock { $0.entries.count } }
}
