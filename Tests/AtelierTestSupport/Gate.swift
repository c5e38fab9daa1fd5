import Synchronization

/// A gate tasks wait at until a test opens it: a waiter suspends (no polling, no thread held) and every waiter, and
/// any later one, goes through once ``open()`` is called.
public final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// A closed gate.
    public init() {}

    /// Whether the gate has been opened.
    public var isOpen: Bool { state.withLock { $0.open } }

    /// Returns once the gate is open (at once if it already is).
    public func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let through = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if through { c.resume() }
        }
    }

    /// Opens the gate: lets every waiting and future ``wait()`` through.
    public func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}
