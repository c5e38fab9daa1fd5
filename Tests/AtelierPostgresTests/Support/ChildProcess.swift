import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A program started with `posix_spawn`, whose end is awaited without blocking the cooperative pool: a thread of
/// its own waits in `waitpid` for exactly this child.
///
/// Not Foundation's `Process`: on Linux it notices a child's end through a socket the child inherits, on one
/// manager thread that then blocks in `waitpid` until that child exits. A child that closes its descriptors (so
/// that a server it leaves running holds none of ours) wakes that thread at once, and it blocks there for the
/// child's whole life — a long-running daemon started that way kept every later child's end (a `kill -9`ed
/// daemon) from ever being noticed.
///
/// The program runs through a shell that closes every descriptor above stderr before `exec`, so a descriptor
/// another thread opened at the same moment never leaks into it (nor into a server it starts).
final class ChildProcess: Sendable {
    /// Its process id.
    let pid: pid_t
    private let state = Mutex<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))

    /// Where the child's standard output or error goes.
    enum Output: Sendable {
        /// `/dev/null`.
        case null
        /// A file, created or truncated.
        case file(String)
        /// An open descriptor of this process (duplicated into the child; the caller closes its own).
        case descriptor(Int32)
    }

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `arguments` (the first an absolute path) with `environment`; standard input is `/dev/null`, standard
    /// error goes where standard output goes unless `stderr` says otherwise.
    static func spawn(_ arguments: [String], environment: [String: String], stdout: Output, stderr: Output? = nil) throws -> ChildProcess {
        let shell = "/bin/bash"
        let argv =
            [shell, "-c", #"for fd in /proc/$$/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; exec "$@""#, "bash"]
            + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        func direct(_ output: Output, to fd: Int32) {
            switch output {
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
            case .file(let path): posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            case .descriptor(let source): posix_spawn_file_actions_adddup2(&actions, source, fd)
            }
        }
        direct(stdout, to: 1)
        if let stderr { direct(stderr, to: 2) } else { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with no signal blocked and SIGPIPE at its default, whatever this process does.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid = pid_t()
        let rc = cArgs.withUnsafeBufferPointer { a in
            cEnv.withUnsafeBufferPointer { e in
                posix_spawn(
                    &pid, shell, &actions, &attributes, UnsafeMutablePointer(mutating: a.baseAddress!), UnsafeMutablePointer(mutating: e.baseAddress!)
                )
            }
        }
        guard rc == 0 else { throw ChildProcessError("posix_spawn \(arguments.first ?? ""): errno \(rc)") }
        let child = ChildProcess(pid: pid)
        let watcher = Thread { [child] in child.reap() }
        watcher.name = "child \(pid)"
        watcher.start()
        return child
    }

    /// On the watcher thread: waits for this child's end (only this pid) and wakes whoever awaits it.
    private func reap() {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR {
                status = -1
                break
            }
        }
        // The shell's own exit status convention: 128 + signal for a child killed by a signal.
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let waiters = state.withLock { s -> [CheckedContinuation<Int32, Never>] in
            s.status = code
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: code) }
    }

    /// Whether it has exited (and was reaped).
    var hasExited: Bool { state.withLock { $0.status != nil } }

    /// Sends `signal` unless it has exited already (its pid could belong to another process by now).
    func send(_ signal: Int32) {
        state.withLock { s in
            if s.status == nil { _ = kill(pid, signal) }
        }
    }

    /// Its exit status (128 + the signal when a signal ended it), once it exited.
    func exitStatus() async -> Int32 {
        await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let known = state.withLock { s -> Int32? in
                if let status = s.status { return status }
                s.waiters.append(c)
                return nil
            }
            if let known { c.resume(returning: known) }
        }
    }
}

/// A child that could not be started.
struct ChildProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
