import GRDB
import Synchronization

/// Makes store commits fail on purpose, as a full disk would, so tests can check that no acknowledged job is lost,
/// failed or stranded by a store fault. Production stores have none.
public final class StoreFaultInjection: Sendable {
    private struct State {
        var remaining = 0
        var code: ResultCode = .SQLITE_FULL
        var injected = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The next `count` commits fail with `code` (`Int.max`: until ``stop()``).
    public func failCommits(_ count: Int = .max, with code: ResultCode = .SQLITE_FULL) {
        state.withLock {
            $0.remaining = count
            $0.code = code
        }
    }

    /// Commits succeed again.
    public func stop() { state.withLock { $0.remaining = 0 } }

    /// How many commits were made to fail so far.
    public var injectedCount: Int { state.withLock { $0.injected } }

    /// Called inside every write transaction before its work; throws while failing (rolling the transaction back).
    func beforeCommit() throws {
        let code: ResultCode? = state.withLock { s in
            guard s.remaining > 0 else { return nil }
            if s.remaining != .max { s.remaining -= 1 }
            s.injected += 1
            return s.code
        }
        if let code { throw DatabaseError(resultCode: code, message: "injected store fault") }
    }
}
