import Foundation

/// Where the daemon keeps its jobs: `--store URL` (env `ATELIER_STORE`).
///
/// - `sqlite:` (the default): the SQLite file in the data directory, as always; `sqlite:PATH` names another file.
/// - `postgres://user:password@host:port/database?sslmode=…` (also `postgresql://`): a PostgreSQL database that
///   several daemons share.
///
/// The password never appears in ``description``, in a ``StoreLocationError``, or anywhere else this type renders
/// text: it is only handed to the database driver.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    /// SQLite: the file at `path`, or the data directory's `atelier.sqlite` (nil).
    case sqlite(path: String?)
    /// A PostgreSQL database.
    case postgres(PostgresLocation)

    /// The environment variable read when `--store` is not given.
    public static let environmentVariable = "ATELIER_STORE"

    /// `--store` when given, else `ATELIER_STORE`, else SQLite in the data directory.
    public static func resolve(flag: String?, environment: [String: String]) throws(StoreLocationError) -> StoreLocation {
        if let flag { return try StoreLocation(parsing: flag) }
        if let text = environment[environmentVariable], !text.isEmpty { return try StoreLocation(parsing: text) }
        return .sqlite(path: nil)
    }

    /// Parses a store URL. Errors name the problem and show the URL with its password replaced by `***`.
    public init(parsing text: String) throws(StoreLocationError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.firstIndex(of: ":") else {
            throw StoreLocationError("the store URL must start with sqlite: or postgres://", url: nil)
        }
        switch trimmed[..<colon].lowercased() {
        case "sqlite":
            var rest = String(trimmed[trimmed.index(after: colon)...])
            // sqlite:///abs/path and sqlite://localhost/abs/path are the URL spellings of sqlite:/abs/path.
            if rest.hasPrefix("//localhost/") { rest.removeFirst("//localhost".count) } else if rest.hasPrefix("//") { rest.removeFirst(2) }
            if rest.contains("?") || rest.contains("#") {
                throw StoreLocationError("a sqlite: store URL takes a file path only (no ?query or #fragment)", url: trimmed)
            }
            self = .sqlite(path: rest.isEmpty ? nil : rest)
        case "postgres", "postgresql":
            self = .postgres(try PostgresLocation(parsing: trimmed))
        default:
            let kind = trimmed[..<colon]
            let shown = kind.count <= 16 && kind.allSatisfy { $0.isLetter || $0.isNumber || $0 == "+" } ? " \"\(kind)\"" : ""
            throw StoreLocationError("unknown store kind\(shown) (expected sqlite: or postgres://)", url: nil)
        }
    }

    /// `sqlite` or `postgres` (health, logs).
    public var kind: String {
        switch self {
        case .sqlite: return "sqlite"
        case .postgres: return "postgres"
        }
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite:" + (path ?? "")
        case .postgres(let location): return location.description
        }
    }
}

/// A parsed `postgres://` URL. ``description`` (and everything derived from it) shows `***` for the password.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// How the connection is encrypted, as libpq's `sslmode` (the subset that makes sense here).
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP (loopback, a private network).
        case disable
        /// TLS when the server offers it, else plain TCP; the certificate is not checked (libpq's default).
        case prefer
        /// TLS or no connection; the certificate is not checked.
        case require
        /// TLS, with the certificate checked against the system's trust roots and the host name.
        case verifyFull = "verify-full"
    }

    /// The server's host name or address (IPv6 without brackets).
    public var host: String
    /// The server's TCP port (default 5432).
    public var port: Int
    /// The role to log in as.
    public var user: String
    /// The role's password; nil when the URL has none. Never rendered.
    public var password: String?
    /// The database name.
    public var database: String
    /// The `sslmode` query parameter (default `prefer`).
    public var sslMode: SSLMode

    /// A location from its parts.
    public init(host: String, port: Int = 5432, user: String, password: String?, database: String, sslMode: SSLMode = .prefer) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=…`. User and password may be percent-encoded.
    public init(parsing text: String) throws(StoreLocationError) {
        let redacted = Self.redact(text)
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw StoreLocationError("not a valid postgres:// URL (percent-encode reserved characters in the user and password)", url: redacted)
        }
        guard let host = url.host, !host.isEmpty else { throw StoreLocationError("the URL names no host", url: redacted) }
        guard let user = url.user, !user.isEmpty else {
            throw StoreLocationError("the URL names no user (postgres://user:password@host/db)", url: redacted)
        }
        var path = url.path
        if path.hasPrefix("/") { path.removeFirst() }
        guard !path.isEmpty else {
            throw StoreLocationError("the URL names no database (postgres://user:password@host:port/database)", url: redacted)
        }
        guard !path.contains("/") else { throw StoreLocationError("the database name may not contain '/'", url: redacted) }
        if let port = url.port, !(1...65535).contains(port) { throw StoreLocationError("the port must be between 1 and 65535", url: redacted) }
        if url.fragment != nil { throw StoreLocationError("the URL may not have a #fragment", url: redacted) }
        var mode = SSLMode.prefer
        var seen = Set<String>()
        for item in url.queryItems ?? [] {
            guard seen.insert(item.name).inserted else { throw StoreLocationError("the parameter \(item.name) is given twice", url: redacted) }
            switch item.name {
            case "sslmode":
                guard let value = item.value, let m = SSLMode(rawValue: value) else {
                    throw StoreLocationError(
                        "sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))", url: redacted)
                }
                mode = m
            default:
                throw StoreLocationError("unknown URL parameter \"\(item.name)\" (only sslmode is understood)", url: redacted)
            }
        }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.init(host: bare, port: url.port ?? 5432, user: user, password: url.password, database: path, sslMode: mode)
    }

    /// `postgres://user:***@host:port/database?sslmode=…` (the password replaced; nothing else secret is kept).
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        let credentials = password == nil ? user : "\(user):***"
        return "postgres://\(credentials)@\(shownHost):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// `text` with the password replaced by `***`, for error messages about URLs that may not even parse: the
    /// password is whatever follows the first `:` after the scheme, up to the LAST `@` (so an unencoded `@`, `/` or
    /// `?` in a password is still hidden).
    static func redact(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://") else { return "(not shown)" }
        let rest = text[schemeEnd.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return text }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<schemeEnd.upperBound]) + userInfo[..<colon] + ":***" + rest[at...]
    }
}

/// A store URL that cannot be used. The message names the problem; the URL in it has its password replaced.
public struct StoreLocationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, e.g. "the URL names no database".
    public var problem: String
    /// The offending URL, redacted (nil when not worth showing).
    public var url: String?

    /// An error about `url` (already redacted).
    public init(_ problem: String, url: String?) {
        self.problem = problem
        self.url = url
    }

    /// "invalid store URL <redacted>: <problem>".
    public var description: String {
        if let url { return "invalid store URL \(url): \(problem)" }
        return "invalid store URL: \(problem)"
    }
}

extension PostgresLocation: CustomDebugStringConvertible, CustomReflectable {
    /// The same as ``description``: the password replaced by `***`.
    public var debugDescription: String { description }

    /// Reflection (`dump`, debuggers) shows `***` for the password too.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "user": user, "password": password == nil ? "nil" : "***", "database": database,
                "sslMode": sslMode.rawValue,
            ], displayStyle: .struct)
    }
}
