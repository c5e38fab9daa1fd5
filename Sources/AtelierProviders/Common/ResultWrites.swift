import AtelierCore
import Synchronization

/// How a provider's writes of result files meet a fault of the daemon's own storage (disk full, I/O error).
///
/// A provider writes the image it was paid for into the data directory inside its own call. When that write fails
/// for the daemon's storage (``ImageFiles`` reports it as `store_failure`), failing the call would lose a paid image
/// and make the engine call — and pay — the provider again. So providers run each such write through
/// ``perform(_:)``, with the image still in memory: the engine's ``ResultWrites`` runs the write again with capped
/// backoff until the disk takes it, and shows the fault in health meanwhile (docs/architecture.md); any other error
/// comes back at once. ``once`` (tests, one-shot calls) runs the write once.
public struct ResultWrites: Sendable {
    private let run: @Sendable (_ write: @Sendable () async throws(ProviderError) -> Void) async throws(ProviderError) -> Void

    /// - Parameter run: runs `write` until it succeeds or fails with an error it does not wait out, and throws that.
    public init(_ run: @escaping @Sendable (_ write: @Sendable () async throws(ProviderError) -> Void) async throws(ProviderError) -> Void) {
        self.run = run
    }

    /// Runs each write once.
    public static let once = ResultWrites { write throws(ProviderError) in try await write() }

    /// Runs `write`, a write of result files that may safely run again (it rewrites the same file from memory it
    /// does not change), as the engine decides; returns its value.
    public func perform<T: Sendable>(_ write: @escaping @Sendable () async throws(ProviderError) -> T) async throws(ProviderError) -> T {
        let value = Mutex<T?>(nil)
        try await run { () throws(ProviderError) in
            let v = try await write()
            value.withLock { $0 = v }
        }
        guard let v = value.withLock({ $0 }) else { throw ProviderError(.internalError, "a result write returned nothing") }
        return v
    }
}
