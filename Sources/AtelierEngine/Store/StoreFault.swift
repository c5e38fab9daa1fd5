import AtelierCore
import GRDB

/// A failure of the daemon's own storage that goes away by itself or by an operator's hand (disk full, I/O error,
/// a lock held past the busy timeout), as opposed to a bug or corrupt data. Work hit by a store fault is kept and
/// retried; it never fails a job.
public struct StoreFault: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why, for operators and callers (e.g. "disk full at /var/lib/atelier").
    public var message: String

    public var description: String { message }

    /// Classifies `error` from a store operation on the database in `directory`; nil when it is not a store fault.
    public init?(_ error: any Error, directory: String) {
        if let fault = error as? StoreFault {
            self = fault
            return
        }
        guard let db = error as? DatabaseError else { return nil }
        switch db.resultCode {
        case .SQLITE_FULL: message = "disk full at \(directory)"
        case .SQLITE_IOERR: message = "I/O error writing the store at \(directory) (\(db.extendedResultCode))"
        case .SQLITE_BUSY, .SQLITE_LOCKED: message = "the store at \(directory) stayed busy past the timeout"
        case .SQLITE_CANTOPEN: message = "cannot open the store's files at \(directory)"
        case .SQLITE_READONLY: message = "the store at \(directory) is read-only"
        case .SQLITE_NOMEM: message = "out of memory writing the store at \(directory)"
        case .SQLITE_PROTOCOL: message = "lock protocol error on the store at \(directory)"
        default: return nil
        }
    }

    /// A fault with this message (e.g. result files that cannot be written).
    public init(message: String) { self.message = message }

    /// The caller-facing error for a request refused because the store cannot commit.
    public var atelierError: AtelierError {
        AtelierError(.storeFailure, "the store cannot commit (\(message)); nothing was accepted, submit again later", retryable: true)
    }
}
