import AtelierClient
import AtelierCore
import AtelierTestSupport
import AtelierTesting
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir: Sendable {
    let path: String
    init(_ label: String = "atelier-test") {
        // Unix socket paths are limited to ~107 bytes: keep this short.
        let p = "/tmp/\(label.prefix(12))-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        self.path = p
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// A real `atelierd` process on a temporary socket and data directory.
final class DaemonProcess: @unchecked Sendable {
    let socketPath: String
    let dataDir: String
    let routingPath: String
    let process = Process()
    private let stderrLines = Mutex<[String]>([])
    private let logWaiters = Mutex<[(needle: String, after: Int, cont: CheckedContinuation<Void, Never>)]>([])
    private let readyWaiters = Mutex<(ready: Bool, waiters: [CheckedContinuation<Bool, Never>])>((false, []))

    /// Writes a routing file and starts the daemon; returns once it listens.
    /// - Parameters:
    ///   - allowBuiltin: whether `model: "auto"` may pick the built-in renderer.
    ///   - extraArguments: more daemon flags.
    ///   - environment: extra environment variables.
    static func start(
        in dir: TempDir, allowBuiltin: Bool = true, routing: String? = nil, extraArguments: [String] = [], environment: [String: String] = [:],
        dataDir: String? = nil, socketPath: String? = nil
    ) async throws -> DaemonProcess {
        let routingPath = dir.path + "/routing.json"
        if !FileManager.default.fileExists(atPath: routingPath) || routing != nil {
            let text = routing ?? #"{"version": 1, "allowBuiltin": \#(allowBuiltin), "rules": []}"#
            try text.write(toFile: routingPath, atomically: true, encoding: .utf8)
        }
        let d = DaemonProcess(
            socketPath: socketPath ?? dir.path + "/s/atelierd.sock", dataDir: dataDir ?? dir.path + "/data", routingPath: routingPath)
        try await d.launch(extraArguments: extraArguments, environment: environment)
        return d
    }

    init(socketPath: String, dataDir: String, routingPath: String) {
        self.socketPath = socketPath
        self.dataDir = dataDir
        self.routingPath = routingPath
    }

    private func launch(extraArguments: [String], environment: [String: String]) async throws {
        process.executableURL = URL(fileURLWithPath: PackagePaths.atelierd)
        process.arguments =
            [
                "--socket", socketPath, "--data-dir", dataDir, "--providers", PackagePaths.root + "/providers", "--routing", routingPath,
                "--log-level", "info",
            ] + extraArguments
        var env = ProcessInfo.processInfo.environment
        for k in FakeRegistration.all.flatMap({ [$0.keyVariable, $0.baseURLVariable] }) + ["ATELIER_SOCKET", "ATELIER_DATA_DIR"] { env[k] = nil }
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        let splitter = LineSplitter()
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let chunk = h.availableData
            guard let self else { return }
            if chunk.isEmpty {
                h.readabilityHandler = nil
                self.markReady(false)
                return
            }
            let lines = splitter.feed(chunk)
            for line in lines {
                self.stderrLines.withLock { $0.append(line) }
                if line.contains("listening") { self.markReady(true) }
                self.resumeLogWaiters()
            }
        }
        try process.run()
        let ok = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let already = readyWaiters.withLock { s -> Bool? in
                if s.ready { return true }
                if !process.isRunning { return false }
                s.waiters.append(c)
                return nil
            }
            if let already { c.resume(returning: already) }
        }
        if !ok { throw DaemonError.didNotStart(log: log) }
    }

    private func markReady(_ ok: Bool) {
        let waiters = readyWaiters.withLock { s -> [CheckedContinuation<Bool, Never>] in
            if ok { s.ready = true }
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: ok) }
    }

    /// The number of log lines so far (a mark for ``waitForLog(_:after:)``).
    var logLineCount: Int { stderrLines.withLock { $0.count } }

    /// Waits until a log line after line number `after` contains `needle`.
    func waitForLog(_ needle: String, after: Int = 0) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let found = stderrLines.withLock { lines in lines.dropFirst(after).contains { $0.contains(needle) } }
            if found {
                c.resume()
                return
            }
            logWaiters.withLock { $0.append((needle, after, c)) }
            resumeLogWaiters()
        }
    }

    private func resumeLogWaiters() {
        let lines = stderrLines.withLock { $0 }
        let ready = logWaiters.withLock { ws -> [CheckedContinuation<Void, Never>] in
            var out: [CheckedContinuation<Void, Never>] = []
            ws.removeAll { w in
                if lines.dropFirst(w.after).contains(where: { $0.contains(w.needle) }) {
                    out.append(w.cont)
                    return true
                }
                return false
            }
            return out
        }
        for c in ready { c.resume() }
    }

    /// Sends a signal to the daemon.
    func signal(_ sig: Int32) { Glibc.kill(process.processIdentifier, sig) }

    /// Everything the daemon wrote to stderr so far.
    var log: String { stderrLines.withLock { $0.joined(separator: "\n") } }

    /// A new client connection.
    func client() async throws -> AtelierClient { try await AtelierClient.connect(socketPath: socketPath) }

    /// SIGKILL, and wait until the process is gone.
    func kill9() async {
        Glibc.kill(process.processIdentifier, SIGKILL)
        await waitForExit()
    }

    /// SIGTERM, and wait; returns the exit status.
    @discardableResult
    func terminate() async -> Int32 {
        Glibc.kill(process.processIdentifier, SIGTERM)
        await waitForExit()
        return process.terminationStatus
    }

    /// Waits for the process to exit (on a background thread: `waitUntilExit` blocks).
    func waitForExit() async {
        let p = process
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                p.waitUntilExit()
                c.resume()
            }
        }
    }

    enum DaemonError: Error, CustomStringConvertible {
        case didNotStart(log: String)
        var description: String {
            switch self {
            case .didNotStart(let log): return "atelierd did not start:\n\(log)"
            }
        }
    }
}

/// Runs a command and collects its output.
struct CommandResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runCommand(_ path: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    return await withCheckedContinuation { c in
        Thread.detachNewThread {
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            c.resume(
                returning: CommandResult(
                    status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self)))
        }
    }
}

/// A raw NDJSON connection (for malformed input the client library would never send).
final class RawConnection: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(socketPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let r = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r != 0 { throw POSIXError(.ECONNREFUSED) }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    func send(_ line: String) { send(Array((line + "\n").utf8)) }

    /// Reads one line (blocking, 30 s timeout); nil on EOF or timeout.
    func readLine() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    /// Reads one line off the cooperative pool.
    func nextLine() async -> String? {
        await withCheckedContinuation { c in
            Thread.detachNewThread { c.resume(returning: self.readLine()) }
        }
    }

    /// True when the peer has closed the connection (reads EOF).
    func isClosedByPeer() async -> Bool {
        await withCheckedContinuation { c in
            Thread.detachNewThread {
                var b = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = b.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                    if n == 0 {
                        c.resume(returning: true)
                        return
                    }
                    if n < 0 {
                        c.resume(returning: errno == ECONNRESET)
                        return
                    }
                }
            }
        }
    }
}

/// Matches `actual` against an expected pattern: `"*"` matches anything; objects match when every expected
/// member matches; arrays match element-wise with equal length.
func jsonMatches(_ actual: JSONValue, _ pattern: JSONValue) -> Bool {
    if pattern == .string("*") { return true }
    switch (actual, pattern) {
    case (.object(let a), .object(let p)):
        for (k, v) in p {
            guard let av = a[k], jsonMatches(av, v) else { return false }
        }
        return true
    case (.array(let a), .array(let p)):
        return a.count == p.count && zip(a, p).allSatisfy { jsonMatches($0, $1) }
    case (.int, .double), (.double, .int), (.double, .double):
        return actual.doubleValue == pattern.doubleValue
    default:
        return actual == pattern
    }
}
