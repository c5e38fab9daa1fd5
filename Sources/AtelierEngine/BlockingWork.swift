import NIOPosix

/// Runs blocking work (file reads and writes, `stat`, directory listings, configuration files) on NIO's shared
/// thread pool instead of a Swift concurrency thread: the cooperative pool has one thread per core, and every
/// thread blocked there stalls every job, connection and timer waiting for it (see docs/architecture.md, "Never
/// block the cooperative pool").
///
/// Database work does not come here: it goes through ``StoreDatabase``'s async methods (opening the store, a
/// blocking step, is the exception: the daemon opens it here at start).
public enum BlockingWork {
    /// Runs `work` on `NIOThreadPool.singleton` and returns its result (or rethrows its error). Throws when the pool
    /// is shutting down.
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }
}
