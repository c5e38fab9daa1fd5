import AtelierCore
import PostgresNIO

extension StoreFault {
    /// Classifies an error of the PostgreSQL store at `location` as a store fault (it goes away by itself or by an
    /// operator's hand: the server is restarting or unreachable, out of disk, a serialization conflict or deadlock
    /// to retry), or nil when it is not one (a bug, a constraint, bad credentials). Messages name the location
    /// redacted, never its password.
    public static func postgres(_ error: any Error, location: PostgresLocation) -> StoreFault? {
        if let fault = error as? StoreFault { return fault }
        let error = (error as? PostgresTransactionError).flatMap { $0.closureError ?? $0.commitError ?? $0.beginError } ?? error
        guard let e = error as? PSQLError else { return nil }
        let at = "the PostgreSQL store \(location)"
        switch e.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return StoreFault(message: "cannot reach \(at)")
        case .server:
            let state = e.serverInfo?[.sqlState] ?? ""
            switch state {
            case "40001", "40P01": return StoreFault(message: "a transaction conflict on \(at) (retried)")
            case "57P01", "57P02", "57P03": return StoreFault(message: "\(at) is shutting down or starting")
            case "25006": return StoreFault(message: "\(at) is read-only (a standby?)")
            case "53100": return StoreFault(message: "disk full at \(at)")
            default:
                if state.hasPrefix("08") { return StoreFault(message: "lost the connection to \(at)") }
                if state.hasPrefix("53") { return StoreFault(message: "\(at) is out of resources (\(state))") }
                return nil
            }
        default:
            return nil
        }
    }
}

extension StoreFault {
    /// What went wrong with the PostgreSQL store at `location`, for a person: the fault's message, else the server's
    /// own message and SQLSTATE (`password authentication failed for user "atelier" (SQLSTATE 28P01)`: the server
    /// never repeats a password), else the driver's error code. Names the location redacted, never its password.
    public static func postgresDescription(_ error: any Error, location: PostgresLocation) -> String {
        if let fault = postgres(error, location: location) { return fault.message }
        if let e = error as? AtelierError { return e.message }
        let error = (error as? PostgresTransactionError).flatMap { $0.closureError ?? $0.commitError ?? $0.beginError } ?? error
        let at = "the PostgreSQL store \(location)"
        guard let e = error as? PSQLError else { return "\(at): \(type(of: error))" }
        if let message = e.serverInfo?[.message] {
            let state = e.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return "\(at): \(message)\(state)"
        }
        return "\(at): \(e.code)"
    }
}
