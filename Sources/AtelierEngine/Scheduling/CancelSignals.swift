import Synchronization

/// The jobs whose cancellation the caller asked for, readable synchronously from any thread.
///
/// ``GenerationContext/isCancelled`` is a synchronous closure that providers call at their safe points (before
/// each poll, between submits); it cannot ask the engine actor, so the engine raises the signal here when
/// `job.cancel` reaches a running job and lowers it once the job's task has finished.
final class CancelSignals: Sendable {
    private let raised = Mutex<Set<String>>([])

    init() {}

    /// Marks `taskUUID` as cancelled by the caller.
    func raise(_ taskUUID: String) { _ = raised.withLock { $0.insert(taskUUID) } }

    /// Forgets `taskUUID` (its task has finished).
    func lower(_ taskUUID: String) { _ = raised.withLock { $0.remove(taskUUID) } }

    /// True when the caller cancelled `taskUUID`.
    func isRaised(_ taskUUID: String) -> Bool { raised.withLock { $0.contains(taskUUID) } }
}
