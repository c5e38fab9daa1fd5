import Foundation
import Synchronization
import Testing

@testable import AtelierEngine

/// A throw-away PostgreSQL server for the store tests: its own data directory in a temporary directory, listening
/// on 127.0.0.1 at an ephemeral port and on a Unix socket inside that directory, stopped and deleted by
/// ``withPostgres(_:)`` whatever the test does.
///
/// When the tests run as root (CI, this machine) the server runs as the unprivileged user `nobody` (PostgreSQL
/// refuses to run as root), through `runuser`. `initdb` runs once per test process into a template directory
/// (removed when the process exits); each cluster is a copy of it, so a cluster starts in well under a second.
/// The server runs with `fsync=off`: these clusters never outlive a test.
struct PostgresCluster: Sendable {
    /// The temporary directory holding the data directory, the socket and the log.
    let root: String
    /// The TCP port on 127.0.0.1.
    let port: Int
    /// The superuser's password (SCRAM authentication over TCP).
    let password: String

    /// The superuser's name.
    static let user = "atelier"

    /// The store URL of `database` on this cluster.
    func url(database: String = "postgres") -> String {
        "postgres://\(Self.user):\(password)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// The parsed location of `database` on this cluster.
    func location(database: String = "postgres") throws -> PostgresLocation {
        guard case .postgres(let location) = try StoreLocation(parsing: url(database: database)) else {
            throw PostgresHarnessError("the harness URL did not parse as PostgreSQL")
        }
        return location
    }
}

/// A harness failure, worded for whoever reads the test log (never contains the password).
struct PostgresHarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Starts a fresh cluster, runs `body` with it, and stops and deletes the cluster afterwards (also when `body`
/// throws). Fails with a clear message when the PostgreSQL binaries are missing.
///
/// A watchdog bounds the whole test: if `body` has not finished after `timeout`, an Issue is recorded, `body` is
/// cancelled and the cluster stopped (which fails whatever still waits on it), so a stuck test fails loudly
/// instead of hanging the suite.
func withPostgres<T: Sendable>(
    timeout: Duration = .seconds(240), sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable (PostgresCluster) async throws -> T
) async throws -> T {
    // At most two clusters at a time: the whole suite runs in one process on two cores, and a dozen servers
    // starting at once slow every other test down.
    await ClusterSlots.shared.acquire()
    let cluster: PostgresCluster
    do { cluster = try await PostgresHarness.start() } catch {
        await ClusterSlots.shared.release()
        throw error
    }
    let outcome = FirstOutcome<T>()
    let watchdog = Mutex<Task<Void, Never>?>(nil)
    let result: Result<T, any Error> = await withCheckedContinuation { continuation in
        let finish: @Sendable (Result<T, any Error>) -> Void = { r in
            if outcome.set(r) { continuation.resume(returning: r) }
        }
        let work = Task {
            do { finish(.success(try await body(cluster))) } catch { finish(.failure(error)) }
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled, !outcome.isSet else { return }
            finish(.failure(PostgresHarnessError("the test did not finish within \(timeout); its cluster is stopped")))
            work.cancel()
        }
        watchdog.withLock { $0 = timer }
    }
    watchdog.withLock { $0?.cancel() }
    if case .failure(let error as PostgresHarnessError) = result, error.description.contains("did not finish") {
        Issue.record(Comment(rawValue: error.description), sourceLocation: sourceLocation)
    }
    let stopped: (any Error)?
    do {
        try await PostgresHarness.stop(cluster)
        stopped = nil
    } catch {
        stopped = error
    }
    await ClusterSlots.shared.release()
    if let stopped, case .success = result { throw stopped }
    return try result.get()
}

/// A counting semaphore for clusters (waiters suspend; nothing blocks a thread).
private actor ClusterSlots {
    static let shared = ClusterSlots(capacity: 2)
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(capacity: Int) { free = capacity }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}

/// The first of several racing outcomes (the test's and the watchdog's).
private final class FirstOutcome<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)

    /// Stores `r` if nothing was stored yet; true when it was the first.
    func set(_ r: Result<T, any Error>) -> Bool {
        value.withLock { v in
            if v != nil { return false }
            v = r
            return true
        }
    }

    /// Whether an outcome is stored.
    var isSet: Bool { value.withLock { $0 != nil } }
}

/// Finds the binaries, runs `initdb` once, starts and stops clusters.
enum PostgresHarness {
    /// Where `initdb` and `pg_ctl` live: Debian's versioned directory (newest first), then the PATH.
    static func binaries() throws -> (initdb: String, pgCtl: String) {
        var dirs: [String] = []
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            dirs += versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" }
        }
        dirs += (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin").split(separator: ":").map(String.init)
        for dir in dirs
        where FileManager.default.isExecutableFile(atPath: dir + "/initdb") && FileManager.default.isExecutableFile(atPath: dir + "/pg_ctl") {
            return (dir + "/initdb", dir + "/pg_ctl")
        }
        throw PostgresHarnessError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or PATH; install the Debian package "
                + "`postgresql` (scripts/setup-deps does)")
    }

    /// The command prefix that runs a program as the unprivileged server user (empty when not root).
    static func asServerUser() throws -> [String] {
        guard getuid() == 0 else { return [] }
        for runuser in ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"] where FileManager.default.isExecutableFile(atPath: runuser) {
            return [runuser, "-u", serverUser, "--"]
        }
        throw PostgresHarnessError("running as root but runuser is missing: cannot start PostgreSQL as an unprivileged user")
    }

    /// The unprivileged user the server runs as when the tests run as root.
    static let serverUser = "nobody"

    private static let template = TemplateDirectory()

    /// Starts a new cluster (a copy of the template) on a free loopback port.
    static func start() async throws -> PostgresCluster {
        let bins = try binaries()
        let prefix = try asServerUser()
        let (templateData, password) = try await template.path(initdb: bins.initdb, prefix: prefix)
        let root = try makeTemporaryDirectory(prefix: "atelier-pg")
        do {
            try await run(prefix + ["/bin/cp", "-a", templateData, root + "/data"], log: root + "/copy.log")
            var lastError: (any Error)? = nil
            // The port is free when chosen but could be taken before the server binds it: try a few.
            for _ in 0..<4 {
                let port = try freeLoopbackPort()
                let options =
                    "-c listen_addresses=127.0.0.1 -p \(port) -c unix_socket_directories=\(root) -c fsync=off "
                    + "-c full_page_writes=off -c max_connections=200"
                do {
                    try await run(
                        prefix + [bins.pgCtl, "-D", root + "/data", "-l", root + "/server.log", "-w", "-t", "60", "-o", options, "start"],
                        log: root + "/pg_ctl.log")
                    return PostgresCluster(root: root, port: port, password: password)
                } catch {
                    lastError = error
                }
            }
            throw lastError ?? PostgresHarnessError("PostgreSQL did not start")
        } catch {
            try? await run(["/bin/rm", "-rf", root], log: nil)
            throw error
        }
    }

    /// Stops the server at once (`-m immediate`: nothing in it is worth a clean shutdown) and deletes its directory.
    static func stop(_ cluster: PostgresCluster) async throws {
        let bins = try binaries()
        let prefix = try asServerUser()
        let stopped: Result<Void, any Error>
        do {
            try await run(
                prefix + [bins.pgCtl, "-D", cluster.root + "/data", "-m", "immediate", "-w", "-t", "60", "stop"], log: cluster.root + "/stop.log")
            stopped = .success(())
        } catch {
            stopped = .failure(error)
        }
        try await run(["/bin/rm", "-rf", cluster.root], log: nil)
        try stopped.get()
    }

    /// Kills the server abruptly and starts it again on the same port (a PostgreSQL restart, as operators see it).
    static func restart(_ cluster: PostgresCluster) async throws {
        try await kill(cluster)
        try await resume(cluster)
    }

    /// Stops the server at once, keeping its data (`resume` starts it again).
    static func kill(_ cluster: PostgresCluster) async throws {
        let bins = try binaries()
        try await run(
            try asServerUser() + [bins.pgCtl, "-D", cluster.root + "/data", "-m", "immediate", "-w", "-t", "60", "stop"],
            log: cluster.root + "/stop.log")
    }

    /// Starts a killed server again on the same port.
    static func resume(_ cluster: PostgresCluster) async throws {
        let bins = try binaries()
        let options =
            "-c listen_addresses=127.0.0.1 -p \(cluster.port) -c unix_socket_directories=\(cluster.root) -c fsync=off "
            + "-c full_page_writes=off -c max_connections=200"
        try await run(
            try asServerUser() + [
                bins.pgCtl, "-D", cluster.root + "/data", "-l", cluster.root + "/server.log", "-w", "-t", "60", "-o", options, "start",
            ],
            log: cluster.root + "/pg_ctl.log")
    }

    /// A new directory under the system's temporary directory, owned by the server user when running as root.
    static func makeTemporaryDirectory(prefix: String) throws -> String {
        var template = Array((NSTemporaryDirectory() + "/\(prefix).XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw PostgresHarnessError("cannot create a temporary directory: errno \(errno)") }
        let path = String(cString: made)
        if getuid() == 0 {
            guard let pw = getpwnam(serverUser) else { throw PostgresHarnessError("user \(serverUser) does not exist") }
            guard chown(path, pw.pointee.pw_uid, pw.pointee.pw_gid) == 0 else { throw PostgresHarnessError("chown \(path): errno \(errno)") }
        }
        return path
    }

    /// A TCP port on 127.0.0.1 that is free now (bound to port 0, read back, closed).
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresHarnessError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                bind(fd, p, length) == 0 && getsockname(fd, p, &length) == 0
            }
        }
        guard bound else { throw PostgresHarnessError("bind 127.0.0.1:0: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a program to its end without blocking the calling thread (see ``ChildProcess``: `pg_ctl start` leaves
    /// a server running that holds none of this process's descriptors); its output goes to `log` (nowhere when
    /// nil), whose tail is quoted when it fails.
    static func run(_ arguments: [String], log: String?) async throws {
        let child = try ChildProcess.spawn(arguments, environment: ProcessInfo.processInfo.environment, stdout: log.map { .file($0) } ?? .null)
        let status = await child.exitStatus()
        guard status == 0 else {
            let text = log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
            let tail = text.split(separator: "\n").suffix(8).joined(separator: "\n")
            let name = URL(fileURLWithPath: arguments.first { $0.hasPrefix("/") && !$0.hasSuffix("runuser") } ?? arguments[0]).lastPathComponent
            throw PostgresHarnessError("\(name) exited with \(status):\n\(tail)")
        }
    }
}

/// The `initdb` output every cluster of this process copies; created on first use and removed at process exit.
private actor TemplateDirectory {
    private var made: (data: String, password: String)?
    private var making: Task<(data: String, password: String), any Error>?

    func path(initdb: String, prefix: [String]) async throws -> (data: String, password: String) {
        if let made { return made }
        if let making { return try await making.value }
        let task = Task { () async throws -> (data: String, password: String) in
            let root = try PostgresHarness.makeTemporaryDirectory(prefix: "atelier-pg-template")
            TemplateCleanup.register(root)
            let password = UUID().uuidString.replacingOccurrences(of: "-", with: "")
            let passwordFile = root + "/password"
            guard FileManager.default.createFile(atPath: passwordFile, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw PostgresHarnessError("cannot write the password file")
            }
            if getuid() == 0, let pw = getpwnam(PostgresHarness.serverUser) {
                chown(passwordFile, pw.pointee.pw_uid, pw.pointee.pw_gid)
            }
            try await PostgresHarness.run(
                prefix + [
                    initdb, "-D", root + "/data", "-U", PostgresCluster.user, "--auth-local=trust", "--auth-host=scram-sha-256",
                    "--pwfile=" + passwordFile,
                    "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
                ], log: root + "/initdb.log")
            try? FileManager.default.removeItem(atPath: passwordFile)
            return (root + "/data", password)
        }
        making = task
        do {
            let value = try await task.value
            made = value
            return value
        } catch {
            making = nil
            throw error
        }
    }
}

/// Removes the template directory when the test process exits (no server ever runs in it).
private enum TemplateCleanup {
    private static let root = Mutex<String?>(nil)

    static func register(_ path: String) {
        root.withLock { $0 = path }
        atexit {
            if let path = TemplateCleanup.root.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
        }
    }
}
