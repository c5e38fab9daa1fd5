import AtelierClient
import AtelierCore
import AtelierTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Running as a service: the units in scripts/systemd pass `systemd-analyze verify` (with the built daemon as their
/// binary), and the daemon speaks the readiness protocol (`READY=1` once the socket listens, `STOPPING=1` on SIGTERM,
/// `RELOADING=1` then `READY=1` around a SIGHUP reload) on `$NOTIFY_SOCKET`.
@Suite("systemd", .serialized)
struct SystemdTests {
    static let analyze: String? = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(
        "systemd-analyze verify accepts the units", .enabled(if: analyze != nil, "systemd-analyze is not installed (apt package systemd)"),
        arguments: ["atelierd.service", "atelierd-user.service"])
    func unitsVerify(unit: String) async throws {
        let analyze = try #require(Self.analyze)
        let dir = TempDir("unit")
        defer { dir.cleanup() }
        var text = try String(contentsOfFile: PackagePaths.root + "/scripts/systemd/" + unit, encoding: .utf8)
        #expect(text.contains("Type=notify") && text.contains("RuntimeDirectory=atelier") && text.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        // The unit names its installed binary; verify checks that the binary exists, so point it at the one just built.
        text = text.replacingOccurrences(of: "/usr/local/bin/atelierd", with: PackagePaths.atelierd)
        text = text.replacingOccurrences(of: "%h/.local/bin/atelierd", with: PackagePaths.atelierd)
        let path = dir.path + "/" + unit
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let user = unit.contains("user")
        let runtime = dir.path + "/run"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let r = try await runCommand(analyze, (user ? ["--user"] : []) + ["verify", path], environment: ["XDG_RUNTIME_DIR": runtime])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        // Unknown keys and bad values are only warnings to verify: any output about the unit fails the test.
        #expect(!r.stderr.contains(unit) && !r.stdout.contains(unit), "\(r.stdout)\(r.stderr)")
    }

    /// A datagram socket standing in for systemd's notify socket; messages are read on a thread of their own.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        let fd: Int32
        private let received = Mutex<[String]>([])

        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
            }
            let ok = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard ok == 0 else { throw POSIXError(.EADDRINUSE) }
            Thread.detachNewThread { [self] in
                var buf = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = recv(fd, &buf, buf.count, 0)
                    if n <= 0 { return }
                    let text = String(decoding: buf[0..<n], as: UTF8.self)
                    received.withLock { $0.append(text) }
                }
            }
        }

        var messages: [String] { received.withLock { $0 } }

        func close() {
            shutdown(fd, Int32(SHUT_RDWR))
            _ = Glibc.close(fd)
        }
    }

    @Test("READY=1 once the socket listens, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 on SIGTERM")
    func readinessProtocol() async throws {
        let dir = TempDir("notify")
        defer { dir.cleanup() }
        let notify = try NotifySocket(path: dir.path + "/notify.sock")
        defer { notify.close() }
        let daemon = try await DaemonProcess.start(in: dir, environment: ["NOTIFY_SOCKET": notify.path])
        let ready = try await eventually(timeout: .seconds(30), "READY=1 arrives") { notify.messages.contains { $0.hasPrefix("READY=1") } }
        #expect(ready)
        let first = try #require(notify.messages.first)
        #expect(first.contains("MAINPID=\(daemon.process.processIdentifier)"))
        // READY came after the socket listened: a client connects.
        let client = try await daemon.client()
        try? await client.close()

        let mark = daemon.logLineCount
        daemon.signal(SIGHUP)
        await daemon.waitForLog("reload", after: mark)
        let reloaded = try await eventually(timeout: .seconds(30), "RELOADING=1 then READY=1") {
            let m = notify.messages
            guard let r = m.firstIndex(where: { $0.hasPrefix("RELOADING=1") }) else { return false }
            return m[r].contains("MONOTONIC_USEC=") && m[(r + 1)...].contains { $0.hasPrefix("READY=1") }
        }
        #expect(reloaded)

        await daemon.terminate()
        let stopping = try await eventually(timeout: .seconds(30), "STOPPING=1") { notify.messages.contains("STOPPING=1") }
        #expect(stopping)
    }
}
