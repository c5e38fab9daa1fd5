import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The systemd readiness protocol (`sd_notify`), for units with `Type=notify`: a datagram such as `READY=1` sent to
/// the Unix socket named by `$NOTIFY_SOCKET` (a path, or an abstract name starting with `@`). Without that variable
/// every call does nothing.
///
/// Written here rather than taken from a library: no package of the project's dependency set speaks it, and the
/// protocol is one `sendto` of a datagram. The send never blocks (`MSG_DONTWAIT`): if systemd's queue is full the
/// message is dropped, as libsystemd's `sd_notify` would fail it.
public enum SystemdNotifier {
    /// Sends `state` (e.g. `READY=1`, `STOPPING=1`); returns false when there is no notify socket or the send failed.
    @discardableResult
    public static func notify(_ state: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let target = environment["NOTIFY_SOCKET"], !target.isEmpty else { return false }
        var path = Array(target.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), sa, length) }
            }
        }
        return sent == message.count
    }

    /// `MONOTONIC_USEC=` for a `RELOADING=1` message: CLOCK_MONOTONIC in microseconds.
    public static var monotonicMicroseconds: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }
}
