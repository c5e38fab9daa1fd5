import AtelierCore
import HeapModule
import Synchronization

/// Calls callbacks at deadlines, all of them timed by one sleeping task instead of one sleep each.
///
/// Why: every `job.wait` and `workflow.wait` has a timeout (30 s by default) that almost never fires. A `Task.sleep`
/// per wait costs a dispatch timer armed and then cancelled, each waking libdispatch's manager thread through a
/// `write` to its event descriptor, plus a task group and an async stream — measured with `perf` at several percent of
/// the daemon's CPU per 10 KB job. Here a wait costs a heap insertion under a lock; the one sleeping task re-arms only
/// when a deadline comes before the one it sleeps until, which a steady stream of waits with the same timeout never
/// does.
///
/// Cancelled entries stay in the heap until their deadline (or until they outnumber the live ones, when the heap is
/// rebuilt without them); their callbacks are dropped at once. Callbacks run on the sleeping task, outside the lock,
/// and must not block.
final class DeadlineTimer: Sendable {
    /// A scheduled callback; pass it to ``cancel(_:)``.
    struct Token: Hashable, Sendable { let raw: UInt64 }

    private struct Entry: Comparable {
        var deadline: AtelierClock.Instant
        var id: UInt64
        static func < (a: Entry, b: Entry) -> Bool { (a.deadline, a.id) < (b.deadline, b.id) }
    }

    private struct State: ~Copyable {
        var heap = Heap<Entry>()
        var callbacks: [UInt64: @Sendable () -> Void] = [:]
        var next: UInt64 = 1
        /// The deadline the sleeping task waits for, its generation and the task; nil when none sleeps.
        var armed: (deadline: AtelierClock.Instant, generation: UInt64, task: Task<Void, Never>)?
        var generations: UInt64 = 0
    }

    private let clock: AtelierClock
    private let state = Mutex(State())

    /// A timer on `clock`.
    init(clock: AtelierClock) {
        self.clock = clock
    }

    /// Calls `fire` once `duration` has passed on the clock, unless cancelled first.
    func schedule(after duration: Duration, _ fire: @escaping @Sendable () -> Void) -> Token {
        let deadline = clock.now.advanced(by: duration)
        let (id, replaced) = state.withLock { s -> (UInt64, Task<Void, Never>?) in
            let id = s.next
            s.next += 1
            s.heap.insert(Entry(deadline: deadline, id: id))
            s.callbacks[id] = fire
            if let armed = s.armed, armed.deadline <= deadline { return (id, nil) }
            // Nothing sleeps, or it sleeps past this deadline: a new sleeper for it, the old one stopped.
            let old = s.armed?.task
            s.generations += 1
            let generation = s.generations
            s.armed = (deadline, generation, Task { await self.run(until: deadline, generation: generation) })
            return (id, old)
        }
        replaced?.cancel()
        return Token(raw: id)
    }

    /// Drops a scheduled callback (nothing happens when it already ran).
    func cancel(_ token: Token) {
        state.withLock { s in
            guard s.callbacks.removeValue(forKey: token.raw) != nil else { return }
            // Rebuilt when cancelled entries dominate, so a long timeout under load does not keep them all.
            if s.heap.count > 1024 && s.heap.count > 2 * s.callbacks.count {
                let live = s.callbacks
                s.heap = Heap(s.heap.unordered.filter { live[$0.id] != nil })
            }
        }
    }

    /// The number of callbacks still to run (tests).
    var pendingCount: Int { state.withLock { $0.callbacks.count } }

    /// The sleeping task: waits for `deadline`, runs what is due, and sleeps again for the next entry.
    private func run(until first: AtelierClock.Instant, generation: UInt64) async {
        var deadline = first
        while true {
            do { try await clock.sleep(until: deadline) } catch { return }  // re-armed for an earlier deadline
            let (due, next) = state.withLock { s -> ([@Sendable () -> Void], AtelierClock.Instant?) in
                // Replaced by a sleeper for an earlier deadline: that one runs what is due from now on.
                guard s.armed?.generation == generation else { return ([], nil) }
                let now = clock.now
                var due: [@Sendable () -> Void] = []
                while let top = s.heap.min, top.deadline <= now {
                    _ = s.heap.popMin()
                    if let f = s.callbacks.removeValue(forKey: top.id) { due.append(f) }
                }
                // Entries left only by cancellation need no wake-up.
                while let top = s.heap.min, s.callbacks[top.id] == nil { _ = s.heap.popMin() }
                guard let next = s.heap.min?.deadline else {
                    s.armed = nil
                    return (due, nil)
                }
                s.armed?.deadline = next
                return (due, next)
            }
            for f in due { f() }
            guard let next else { return }
            deadline = next
        }
    }
}
