import AtelierCore
import AtelierEngine

/// Turns the engine's job events into metrics: a subscriber of ``Engine/events``, so that the engine itself carries
/// no metrics code. Events are published after their change is committed, once per change, so every finished job is
/// counted once (jobs finished before a restart are not counted again: counters start at zero with the process).
public final class JobMetricsObserver: Sendable {
    private let metrics: AtelierMetrics
    private let events: EventBus<JobEvent>
    private let token: EventBus<JobEvent>.Token

    /// Subscribes to every job event of `events`; ``stop()`` ends the subscription. With `costTag`, spend is also
    /// counted by that tag's value (``AtelierMetrics/Name/costByTag``).
    public init(events: EventBus<JobEvent>, metrics: AtelierMetrics, costTag: String? = nil) {
        self.metrics = metrics
        self.events = events
        let label = costTag.map(CostTagLabel.init(tag:))
        token = events.subscribe(taskUUID: nil) { [metrics] event in Self.observe(event, into: metrics, costTag: label) }
    }

    /// Ends the subscription.
    public func stop() { events.unsubscribe(token) }

    /// Records what `event` says (the sink runs on the publishing task: it only updates in-memory counters).
    static func observe(_ event: JobEvent, into metrics: AtelierMetrics, costTag: CostTagLabel? = nil) {
        if event.event == .result, let verification = event.result?.verification, !verification.ok {
            let model = event.job.attempts.last?.model ?? event.job.route?.model ?? "none"
            for field in Set(verification.fields) {
                metrics.increment(AtelierMetrics.Name.verificationMismatches, [("model", model), ("field", field)])
            }
        }
        guard let status = event.event.finalStatus else { return }
        let job = event.job
        let last = job.attempts.last
        let model = last?.model ?? job.route?.model ?? "none"
        let provider = last?.provider ?? job.route?.provider ?? "none"
        let arm = job.route?.arm ?? "none"
        metrics.increment(
            AtelierMetrics.Name.jobs, [("status", status.rawValue), ("model", model), ("provider", provider), ("arm", arm)])

        var providerWait = Duration.zero
        for attempt in job.attempts {
            guard let ended = attempt.endedAt else { continue }
            let d = Duration.milliseconds(max(0, ended.milliseconds - attempt.startedAt.milliseconds))
            providerWait += d
            metrics.record(
                AtelierMetrics.Name.providerCall,
                [("provider", attempt.provider), ("model", attempt.model), ("outcome", attempt.outcome.rawValue)], duration: d)
            if let error = attempt.error, attempt.outcome == .failed {
                metrics.increment(AtelierMetrics.Name.providerErrors, [("provider", attempt.provider), ("class", error.code.rawValue)])
            }
        }
        if let finished = job.finishedAt {
            let total = Duration.milliseconds(max(0, finished.milliseconds - job.createdAt.milliseconds))
            metrics.record(AtelierMetrics.Name.jobDuration, [("status", status.rawValue), ("model", model)], duration: total)
            if !job.attempts.isEmpty {
                metrics.record(AtelierMetrics.Name.overhead, [("status", status.rawValue)], duration: max(.zero, total - providerWait))
            }
        }
        let source = job.costSource
        if source == .unknown {
            metrics.increment(AtelierMetrics.Name.unpriced, [("model", model)])
        } else if let cost = job.costUSD, cost > 0 {
            let sourceLabel = ("cost_source", source?.rawValue ?? "estimated")
            metrics.increment(AtelierMetrics.Name.cost, [("model", model), sourceLabel], by: cost)
            if let costTag {
                metrics.increment(
                    AtelierMetrics.Name.costByTag, [("tag", costTag.tag), ("value", costTag.value(for: job.task.tags)), sourceLabel], by: cost)
            }
        }
    }
}
