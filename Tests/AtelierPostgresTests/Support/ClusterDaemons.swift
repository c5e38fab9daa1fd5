import AtelierClient
import AtelierCore
import AtelierTestSupport
import AtelierTesting
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// One `atelierd` of a cluster: its own socket, the cluster's store URL and shared data directory.
final class ClusterDaemon: @unchecked Sendable {
    /// Its daemon id (`--daemon-id`).
    let id: String
    /// Its socket.
    let socketPath: String
    /// The running process (set once by ``start``).
    private(set) var child: ChildProcess?
    /// The reading end of its stderr (kept open for as long as the daemon is).
    private var stderrReader: FileHandle?
    private let lines = Mutex<[String]>([])
    private let ready = Mutex<(state: Bool?, waiters: [CheckedContinuation<Bool, Never>])>((nil, []))

    private init(id: String, socketPath: String) {
        self.id = id
        self.socketPath = socketPath
    }

    /// Starts a daemon and returns once it listens (throws with its log when it exits first).
    static func start(
        id: String, storeURL: String, dataDir: String, socketPath: String, routingPath: String, providersDir: String,
        leaseSeconds: Double, environment: [String: String], extraArguments: [String] = []
    ) async throws -> ClusterDaemon {
        let d = ClusterDaemon(id: id, socketPath: socketPath)
        let arguments =
            [
                PackagePaths.atelierd,
                "--daemon-id", id, "--lease-seconds", String(leaseSeconds), "--socket", socketPath, "--data-dir", dataDir,
                "--providers", providersDir, "--routing", routingPath, "--log-level", "info", "--durability", "normal",
            ] + extraArguments
        var env = ProcessInfo.processInfo.environment
        for k in FakeRegistration.all.flatMap({ [$0.keyVariable, $0.baseURLVariable] }) + ["ATELIER_SOCKET", "ATELIER_DATA_DIR", "ATELIER_STORE"] {
            env[k] = nil
        }
        for (k, v) in environment { env[k] = v }
        // The store URL through the environment, as operators pass credentials (never in argv, which `ps` shows).
        env["ATELIER_STORE"] = storeURL
        // Its stderr through a pipe (close-on-exec here; the child's copy is its descriptor 2).
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ClusterDaemonError("pipe: errno \(errno)") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let reading = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        d.stderrReader = reading
        let splitter = LineSplitter()
        reading.readabilityHandler = { [weak d] h in
            let chunk = h.availableData
            guard let d else { return }
            if chunk.isEmpty {
                h.readabilityHandler = nil
                d.markReady(false)
                return
            }
            let complete = splitter.feed(chunk)
            for line in complete {
                d.lines.withLock { $0.append(line) }
                if line.contains("listening") { d.markReady(true) }
            }
        }
        do {
            d.child = try ChildProcess.spawn(arguments, environment: env, stdout: .null, stderr: .descriptor(fds[1]))
        } catch {
            close(fds[1])
            reading.readabilityHandler = nil
            throw error
        }
        close(fds[1])
        let ok = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let known = d.ready.withLock { s -> Bool? in
                if let state = s.state { return state }
                s.waiters.append(c)
                return nil
            }
            if let known { c.resume(returning: known) }
        }
        guard ok else { throw ClusterDaemonError("daemon \(id) did not start:\n\(d.log)") }
        return d
    }

    private func markReady(_ ok: Bool) {
        let waiters = ready.withLock { s -> [CheckedContinuation<Bool, Never>] in
            if s.state == nil || ok { s.state = ok }
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: ok) }
    }

    /// Everything it wrote to stderr so far.
    var log: String { lines.withLock { $0.joined(separator: "\n") } }

    /// A new client connection.
    func client() async throws -> AtelierClient { try await AtelierClient.connect(socketPath: socketPath) }

    /// SIGKILL, and wait until the process is gone.
    func kill9() async {
        child?.send(SIGKILL)
        await waitForExit()
    }

    /// SIGTERM, and wait; returns the exit status (128 + the signal when a signal ended it).
    @discardableResult
    func terminate() async -> Int32 {
        child?.send(SIGTERM)
        return await waitForExit()
    }

    /// Waits for the process to exit (its own watcher thread reaps it; nothing here blocks).
    @discardableResult
    func waitForExit() async -> Int32 {
        guard let child else { return -1 }
        return await child.exitStatus()
    }
}

/// A harness failure with the daemon's log.
struct ClusterDaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Three (or `count`) daemons on one PostgreSQL database and one shared data directory, each on its own socket,
/// with the provider fakes' keys and URLs in their environment.
struct DaemonCluster: Sendable {
    /// The daemons, in start order.
    let daemons: [ClusterDaemon]
    /// The shared data directory.
    let dataDir: String
    /// The store URL (with the harness's password).
    let storeURL: String
    /// The temporary directory of sockets, routing and provider files.
    let root: String

    /// Starts `count` daemons on `cluster`'s `postgres` database (sharing `dataDir`, by default a new directory),
    /// runs `body`, and stops them (SIGTERM; a daemon the test killed is skipped) and removes the directory whatever
    /// `body` does.
    static func with<T: Sendable>(
        _ cluster: PostgresCluster, count: Int = 3, fakes: FakeProviders, routing: String, leaseSeconds: Double = 2,
        extraArguments: [String] = [], dataDir: String? = nil, _ body: (DaemonCluster) async throws -> T
    ) async throws -> T {
        let root = try PostgresHarness.makeTemporaryDirectory(prefix: "atl-3d")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dataDir = dataDir ?? root + "/data"
        let routingPath = root + "/routing.json"
        try routing.write(toFile: routingPath, atomically: true, encoding: .utf8)
        let providers = try fastProviderFiles(in: root)
        let storeURL = cluster.url()
        var daemons: [ClusterDaemon] = []
        do {
            for i in 0..<count {
                daemons.append(
                    try await ClusterDaemon.start(
                        id: "d\(i)", storeURL: storeURL, dataDir: dataDir, socketPath: root + "/s\(i).sock", routingPath: routingPath,
                        providersDir: providers, leaseSeconds: leaseSeconds, environment: fakes.environment(for: ["runware"]),
                        extraArguments: extraArguments))
            }
            let value = try await body(DaemonCluster(daemons: daemons, dataDir: dataDir, storeURL: storeURL, root: root))
            for d in daemons { await d.terminate() }
            return value
        } catch {
            for d in daemons { await d.terminate() }
            throw error
        }
    }

    /// The repository's provider files with short retry delays (tests should not wait seconds between retries).
    static func fastProviderFiles(in dir: String) throws -> String {
        let src = PackagePaths.root + "/providers"
        let dst = dir + "/providers"
        try FileManager.default.createDirectory(atPath: dst, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: src) where name.hasSuffix(".json") {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: src + "/" + name)))
            guard case .object(var o) = try JSONParser.parse(bytes) else { continue }
            if case .object(var retry)? = o["retry"] {
                retry["baseDelaySeconds"] = .number(0.05)
                retry["maxDelaySeconds"] = .number(0.1)
                o["retry"] = .object(retry)
            }
            try Data(JSONWriter.bytes(.object(o))).write(to: URL(fileURLWithPath: dst + "/" + name))
        }
        return dst
    }

    /// A routing file: the built-in renderer allowed, optional budgets.
    static func routing(budgets: JSONValue? = nil) -> String {
        var doc: JSONValue = ["version": 1, "allowBuiltin": true, "rules": []]
        if let budgets, case .object(var o) = doc {
            o["budgets"] = budgets
            doc = .object(o)
        }
        return JSONWriter.string(doc)
    }
}
