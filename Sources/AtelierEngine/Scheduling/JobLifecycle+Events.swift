import AtelierCore
import AtelierProviders

// What goes into and comes out of ``JobLifecycle``: inputs carry everything the machine needs from the outside
// (the time, random draws, what the engine found in the catalog and registry), actions say what the engine must do.

extension JobLifecycle {
    /// Where a job being run is.
    public enum Phase: Sendable, Equatable {
        /// Waiting for a provider slot (also after an interruption: the job is queued again for the next start).
        case queued
        /// The provider call of attempt `attemptOnModel` (1-based, counted per model) on `model` is under way.
        case attempting(model: String, attemptOnModel: Int)
        /// Attempt `attemptOnModel` on `model` failed and a retry on the same model waits for its delay.
        case backingOff(model: String, attemptOnModel: Int)
        /// `model` is exhausted; the engine is asked for the next candidate (`refused`: it refused the task).
        case choosingFallback(after: String, refused: Bool)
        /// Succeeded, failed or cancelled.
        case finished
    }

    /// A model the engine looked up for the job: either one it can run here, or one it cannot.
    public enum Candidate: Sendable, Equatable {
        /// The model can serve the task here: its card, its provider's retry policy, and the size to produce.
        case runnable(ModelCard, retry: RetryPolicy, size: ResolvedSize)
        /// The model (this id) cannot run here: not in the catalog, its provider unavailable, or the task does not fit it.
        case unavailable(String)
    }

    /// Something that happened to the job. Every input carries the time it happened at (`now`) and any random draw
    /// it needs, so the machine itself reads no clock and no random source.
    public enum Input: Sendable {
        /// The job was stored by `job.submit` (the insert is its first commit).
        case accepted
        /// Found unfinished at start-up: an attempt still marked running was interrupted by the stop.
        case recovered(now: Timestamp)
        /// The job got a provider slot; `candidate` is its routed model as the engine found it. `seedDraw` (0..<1)
        /// becomes the seed when the model honours seeds and the task has none.
        case slotGranted(Candidate, seedDraw: Double, now: Timestamp)
        /// The provider recorded an upstream handle (to resume from) on the current attempt.
        case handleRecorded(String, now: Timestamp)
        /// The provider call produced these stored results.
        case attemptSucceeded([JobResult], now: Timestamp)
        /// The provider call produced these stored, verified results (``JobResult/verification``); `onMismatch` (the
        /// routing policy's) decides what a mismatch does: `flag` succeeds as ``attemptSucceeded(_:now:)``, `fail`
        /// ends the job `result_mismatch`, `retry` fails the attempt (`unitRandom` as for ``attemptFailed(_:unitRandom:now:)``).
        case attemptDelivered([JobResult], onMismatch: MismatchPolicy, unitRandom: Double, now: Timestamp)
        /// The provider call failed; `unitRandom` (0..<1) is the jitter of the retry delay.
        case attemptFailed(ProviderError, unitRandom: Double, now: Timestamp)
        /// The attempt's images were generated and paid for (`cost`) but none met the task's own bar
        /// (`consistency_not_reached`, `preserve_not_reached`, docs/consistency.md): the job fails with `error`
        /// (details included), without retry, fallback or a breaker failure — the model worked as asked.
        case attemptMissed(AtelierError, cost: CostFigure?, now: Timestamp)
        /// The retry delay passed.
        case backoffElapsed(now: Timestamp)
        /// The engine's answer to ``Action/chooseFallback(after:refused:excluding:)``: the next candidate, or nil
        /// when none is left. `seedDraw` as for ``slotGranted(_:seedDraw:now:)``.
        case fallbackChosen(Candidate?, seedDraw: Double, now: Timestamp)
        /// The caller asked to cancel the job.
        case cancelRequested(now: Timestamp)
        /// The job's work was stopped: its task was cancelled, the provider answered `cancelled`, or a wait was
        /// interrupted. Cancelled when the caller asked for it, else interrupted by a daemon stop.
        case stopped(now: Timestamp)
    }

    /// What the engine must do, in the order given (a `persist` always comes before the `publish` of the same change).
    public enum Action: Sendable, Equatable {
        /// Put the job in its provider's queue.
        case enqueue
        /// Take the job out of its provider's queue.
        case dequeue
        /// Commit this state of the job (with `event` for write hooks, and the results stored by this change), then
        /// keep it as the job's current state (cache). A final event also settles the budget ledger.
        case persist(Job, event: JobEventKind?, newResults: [JobResult])
        /// Publish a job event (after the matching `persist` committed).
        case publish(JobEventKind, job: Job, result: JobResult?)
        /// Call the provider of `model` (resuming from `resumeHandle` when there is one); answer with
        /// ``Input/attemptSucceeded(_:now:)``, ``Input/attemptFailed(_:unitRandom:now:)`` or ``Input/stopped(now:)``.
        case call(model: String, resumeHandle: String?)
        /// Wait this long before retrying; answer with ``Input/backoffElapsed(now:)`` or ``Input/stopped(now:)``.
        case sleep(seconds: Double)
        /// Ask the router (with fresh availability) for the next fallback after `after`, skipping `excluding`;
        /// answer with ``Input/fallbackChosen(_:seedDraw:now:)``.
        case chooseFallback(after: String, refused: Bool, excluding: Set<String>)
        /// Remove the files of results that were not kept (a mismatch under `fail` or `retry`).
        case discardResults([JobResult])
        /// Record an attempt's outcome on the model's circuit breaker.
        case recordBreaker(model: String, success: Bool)
        /// Stop the job's running work (raise its cancel signal, cancel its task) and wait until it ended; the run
        /// answers with ``Input/stopped(now:)``.
        case stopRun
        /// The run is over: the job gives its provider slot back.
        case release
    }
}
