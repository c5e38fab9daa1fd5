import AtelierClient
import AtelierCore
import AtelierTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A Python test peer from `Tests/peers/` (a webhook/PUT receiver, moto's S3 server), started on 127.0.0.1.
///
/// The peer prints `PORT <n>` when it listens; it exits when its stdin closes, so it never outlives the test
/// process. Tests skip only when `python3` itself is missing; a missing pip package makes the peer exit with a
/// message, and the test fails with it.
final class PythonPeer: @unchecked Sendable {
    static let python: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/python3"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }()

    /// True when `python3` is on PATH.
    static var available: Bool { python != nil }

    let process = Process()
    private(set) var port = 0
    let stderrPath: String
    private let stdinPipe = Pipe()
    private let lines = LineQueue()

    enum PeerError: Error, CustomStringConvertible {
        case noPython
        case didNotStart(String)
        case noAnswer(String)
        var description: String {
            switch self {
            case .noPython: return "python3 is not installed"
            case .didNotStart(let s): return "test peer did not start:\n\(s)"
            case .noAnswer(let s): return "test peer did not answer: \(s)"
            }
        }
    }

    /// Starts `Tests/peers/<script>` with `arguments`; returns once it printed its port.
    static func start(_ script: String, _ arguments: [String], logDir: String) async throws -> PythonPeer {
        guard let python else { throw PeerError.noPython }
        let peer = try PythonPeer(python: python, script: PackagePaths.root + "/Tests/peers/" + script, arguments: arguments, logDir: logDir)
        // The first line is "PORT <n>" (moto imports slowly: up to 60 s).
        let first = await peer.lines.next(timeout: 60)
        guard let line = first, line.hasPrefix("PORT "), let p = Int(line.dropFirst(5)) else {
            peer.stop()
            throw PeerError.didNotStart("\(script) \(arguments.joined(separator: " ")):\n\(first ?? "<no output>")\n\(peer.stderrText)")
        }
        peer.port = p
        return peer
    }

    private init(python: String, script: String, arguments: [String], logDir: String) throws {
        stderrPath = logDir + "/\((script as NSString).lastPathComponent)-\(UUID().uuidString.prefix(6)).stderr"
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-u", script] + arguments
        process.standardInput = stdinPipe
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        let out = Pipe()
        process.standardOutput = out
        let reader = out.fileHandleForReading
        let queue = lines
        Thread.detachNewThread {
            var buffer = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let nl = buffer.firstIndex(of: 0x0A) {
                    queue.push(String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...nl)
                }
            }
            queue.close()
        }
        try process.run()
    }

    var stderrText: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends one JSON command line and reads one JSON answer line (moto peer).
    func command(_ json: JSONValue) async throws -> JSONValue {
        stdinPipe.fileHandleForWriting.write(Data((JSONWriter.string(json) + "\n").utf8))
        let line = await lines.next(timeout: 60)
        guard let line, let v = try? JSONParser.parse(line) else {
            throw PeerError.noAnswer("\(JSONWriter.string(json)) → \(line ?? "<eof>")\n\(stderrText)")
        }
        return v
    }

    /// Stops the peer and waits for it.
    func stop() {
        try? stdinPipe.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

/// Lines read from a peer's stdout.
final class LineQueue: Sendable {
    private let state = Mutex<(lines: [String], closed: Bool)>(([], false))
    func push(_ l: String) { state.withLock { $0.lines.append(l) } }
    func close() { state.withLock { $0.closed = true } }
    /// The next line, or nil at end of output; after `timeout` seconds without either, nil and an issue recorded at
    /// the caller.
    func next(timeout: Double, sourceLocation: SourceLocation = #_sourceLocation) async -> String? {
        let got = try? await eventuallyValue(timeout: .milliseconds(Int64(timeout * 1000)), "a line from the peer", sourceLocation: sourceLocation) {
            () -> String?? in
            let (line, closed) = state.withLock { s -> (String?, Bool) in
                if !s.lines.isEmpty { return (s.lines.removeFirst(), false) }
                return (nil, s.closed)
            }
            if let line { return .some(line) }
            return closed ? .some(nil) : nil
        }
        return got ?? nil
    }
}

/// A webhook + PUT receiver (`Tests/peers/delivery_peer.py`) and what it recorded.
final class ReceiverPeer: @unchecked Sendable {
    let peer: PythonPeer
    let logPath: String
    let storeDir: String
    var port: Int { peer.port }

    static func start(in dir: TempDir, secret: String?, port: Int = 0) async throws -> ReceiverPeer {
        let log = dir.path + "/peer-\(UUID().uuidString.prefix(6)).jsonl"
        let store = dir.path + "/received"
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: log, contents: nil)
        var args = ["--log", log, "--store", store, "--port", String(port)]
        if let secret { args += ["--secret", secret] }
        return ReceiverPeer(peer: try await PythonPeer.start("delivery_peer.py", args, logDir: dir.path), logPath: log, storeDir: store)
    }

    private init(peer: PythonPeer, logPath: String, storeDir: String) {
        self.peer = peer
        self.logPath = logPath
        self.storeDir = storeDir
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Every request recorded so far.
    func records() -> [JSONValue] {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
    }

    /// Waits until `predicate` holds for the records; returns the last records. On timeout it records an issue at the
    /// caller.
    @discardableResult
    func waitFor(_ timeout: Double = 30, sourceLocation: SourceLocation = #_sourceLocation, _ predicate: ([JSONValue]) -> Bool) async -> [JSONValue] {
        var r: [JSONValue] = []
        _ = try? await eventually(timeout: .seconds(timeout), every: .milliseconds(50), "receiver records", sourceLocation: sourceLocation) {
            r = records()
            return predicate(r)
        }
        return r
    }

    func stop() { peer.stop() }
}

/// A port nothing listens on (bound once, then released).
func unusedLocalPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Polls the daemon until `predicate` holds for the job's deliveries (via `delivery.list`); returns the last rows. On
/// timeout it records an issue at the caller.
func waitForDeliveries(
    _ client: AtelierClient, taskUUID: String, timeout: Double = 30, sourceLocation: SourceLocation = #_sourceLocation,
    _ predicate: ([JSONValue]) -> Bool
) async throws -> [JSONValue] {
    var rows: [JSONValue] = []
    try await eventually(timeout: .seconds(timeout), every: .milliseconds(50), "deliveries of \(taskUUID)", sourceLocation: sourceLocation) {
        let r = try await client.call("delivery.list", params: ["taskUUID": .string(taskUUID), "limit": 100])
        rows = r["deliveries"]?.arrayValue ?? []
        return predicate(rows)
    }
    return rows
}

extension JSONValue {
    /// A webhook record's parsed body.
    var webhookBody: JSONValue? { self["body"]?.stringValue.flatMap { try? JSONParser.parse($0) } }
}
