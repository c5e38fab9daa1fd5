import AtelierCore
import NIOPosix

/// Runs blocking file work (open, write, fsync, rename, unlink) on NIO's shared thread pool, never on a Swift
/// concurrency thread: the cooperative pool has as many threads as cores (two here), and one blocked thread would
/// stall every job, connection and timer that waits for it.
public enum FileWork {
    /// Runs `work` on `NIOThreadPool.singleton` and returns its result.
    ///
    /// A pool that is shutting down yields `unavailable`; the caller's task cancellation does not interrupt work that
    /// has started (a half-written file is the work's own business to clean up).
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws(ProviderError) -> T) async throws(ProviderError) -> T {
        let result: Result<T, ProviderError>
        do {
            result = try await NIOThreadPool.singleton.runIfActive { () -> Result<T, ProviderError> in
                do throws(ProviderError) { return .success(try work()) } catch { return .failure(error) }
            }
        } catch {
            throw ProviderError(.unavailable, "the file thread pool is not running: \(error)")
        }
        return try result.get()
    }
}

/// A byte array handed from one thread to another without copying: the sender gives up its reference, so the array
/// stays uniquely owned and can be changed in place (the Gemini body is decoded where it lies).
public final class OwnedBytes: @unchecked Sendable {
    /// The bytes. Only the thread that currently holds this object touches them.
    public var bytes: [UInt8]

    /// Takes `bytes`, leaving an empty array behind.
    public init(taking bytes: inout [UInt8]) {
        self.bytes = []
        swap(&self.bytes, &bytes)
    }
}
