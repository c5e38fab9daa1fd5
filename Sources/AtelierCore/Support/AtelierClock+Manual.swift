import Synchronization

// The manual clock's controls. Tests drive time with these; on the live clock they are programming errors.
extension AtelierClock {
    /// Moves a manual clock forward by `duration` and wakes every sleeper whose deadline is now reached (earliest
    /// first). A negative duration is ignored: time never runs backwards.
    public func advance(by duration: Duration) {
        manualTime(#function).advance { $0.advanced(by: max(duration, .zero)) }
    }

    /// Moves a manual clock forward to `instant` (ignored when it is not later than ``now``) and wakes every sleeper
    /// whose deadline is now reached.
    public func advance(to instant: Instant) {
        manualTime(#function).advance { max($0, instant) }
    }

    /// Every sleep requested of a manual clock so far, in order, as the time it asked to wait (a deadline already
    /// past counts as its negative or zero distance).
    public var recordedSleeps: [Duration] { manualTime(#function).recordedSleeps }

    /// How many tasks are waiting on a manual clock for ``advance(by:)``.
    public var sleeperCount: Int { manualTime(#function).sleeperCount }

    /// Returns once at least `count` tasks are waiting on a manual clock (so a test advances time only after the
    /// code under test has gone to sleep), or when the calling task is cancelled.
    public func waitForSleepers(_ count: Int = 1) async {
        await manualTime(#function).waitForSleepers(count)
    }

    private func manualTime(_ function: String) -> ManualTime {
        guard case .manual(let time) = source else { preconditionFailure("AtelierClock.\(function) needs a manual clock") }
        return time
    }
}

/// The shared state of a manual clock: its time, parked sleepers and the record of sleeps.
final class ManualTime: Sendable {
    private struct Sleeper {
        var id: UInt64
        var deadline: AtelierClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct SleeperWaiter {
        var id: UInt64
        var count: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var now: AtelierClock.Instant
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        var recorded: [Duration] = []
        var waiters: [SleeperWaiter] = []
    }

    private let state: Mutex<State>
    private let advancesOnSleep: Bool

    init(start: AtelierClock.Instant, advancesOnSleep: Bool) {
        state = Mutex(State(now: start))
        self.advancesOnSleep = advancesOnSleep
    }

    var now: AtelierClock.Instant { state.withLock { $0.now } }
    var recordedSleeps: [Duration] { state.withLock { $0.recorded } }
    var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Sleeps until `deadline`, or for `duration` from the current time (read under the same lock that records it).
    func sleep(until deadline: AtelierClock.Instant?, from duration: Duration?) async throws {
        try Task.checkCancellation()
        enum Plan {
            case done([CheckedContinuation<Void, any Error>])
            case park(UInt64, AtelierClock.Instant)
        }
        let plan = state.withLock { s -> Plan in
            let target = deadline ?? s.now.advanced(by: duration ?? .zero)
            s.recorded.append(s.now.duration(to: target))
            if target <= s.now { return .done([]) }
            if advancesOnSleep {
                s.now = target
                return .done(Self.takeDue(&s))
            }
            s.nextID += 1
            return .park(s.nextID, target)
        }
        switch plan {
        case .done(let due):
            for c in due { c.resume() }
        case .park(let id, let target):
            try await park(id: id, until: target)
        }
    }

    private func park(id: UInt64, until target: AtelierClock.Instant) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                enum Outcome {
                    case parked([CheckedContinuation<Void, Never>])
                    case due
                    case cancelled
                }
                let outcome = state.withLock { s -> Outcome in
                    if Task.isCancelled { return .cancelled }
                    if target <= s.now { return .due }
                    s.sleepers.append(Sleeper(id: id, deadline: target, continuation: c))
                    let count = s.sleepers.count
                    let ready = s.waiters.filter { $0.count <= count }
                    s.waiters.removeAll { $0.count <= count }
                    return .parked(ready.map(\.continuation))
                }
                switch outcome {
                case .parked(let ready): for w in ready { w.resume() }
                case .due: c.resume()
                case .cancelled: c.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: i).continuation
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Sets the time to `move(now)` (never earlier) and wakes the sleepers that became due.
    func advance(_ move: (AtelierClock.Instant) -> AtelierClock.Instant) {
        let due = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.now = max(s.now, move(s.now))
            return Self.takeDue(&s)
        }
        for c in due { c.resume() }
    }

    /// Removes and returns the sleepers whose deadline has been reached, earliest deadline first.
    private static func takeDue(_ s: inout State) -> [CheckedContinuation<Void, any Error>] {
        let now = s.now
        let due = s.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
        s.sleepers.removeAll { $0.deadline <= now }
        return due.map(\.continuation)
    }

    func waitForSleepers(_ count: Int) async {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.sleepers.count >= count || Task.isCancelled { return true }
                    s.waiters.append(SleeperWaiter(id: id, count: count, continuation: c))
                    return false
                }
                if ready { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            c?.resume()
        }
    }
}
