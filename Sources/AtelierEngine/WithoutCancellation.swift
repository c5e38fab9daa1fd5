/// Runs `operation` to the end even when the calling task is cancelled, and returns its result (or throws its error).
///
/// Some work must happen whatever becomes of the task that asks for it: a job's state change at shutdown or after a
/// caller's cancel, a workflow's state change, the delivery worker's last bookkeeping step. GRDB refuses to start
/// work in a cancelled task (it throws `CancellationError`), so the operation runs in a task of its own, which does not
/// inherit the caller's cancellation; the caller still waits for it. Keep the operation short (a store write, a
/// bounded wait): a cancelled caller waits for all of it.
///
/// The error type is the operation's own: a non-throwing operation needs no `try`.
func withoutCancellation<T: Sendable, E: Error>(_ operation: @escaping @Sendable () async throws(E) -> T) async throws(E) -> T {
    let outcome = await Task { () async -> Result<T, E> in
        do throws(E) { return .success(try await operation()) } catch { return .failure(error) }
    }.value
    return try outcome.get()
}
