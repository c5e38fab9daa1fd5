import AtelierCore
import AtelierEngine
import Synchronization

/// Reads the state-like metrics when `/metrics` is scraped: queue depth and running jobs per provider, breaker
/// states and budget spend (from the engine's memory), delivery counters and the outbox backlog (the delivery
/// service's counters and one store read).
public final class MetricsSampler: Sendable {
    private let engine: Engine
    private let delivery: DeliveryService?
    private let metrics: AtelierMetrics
    /// The delivery service's counters at the previous scrape (its counters only grow; the difference is added).
    private let seen = Mutex<(attempts: Int, delivered: Int, failed: Int)>((0, 0, 0))

    /// A sampler of `engine` (and `delivery`, when the daemon runs one) into `metrics`.
    public init(engine: Engine, delivery: DeliveryService?, metrics: AtelierMetrics) {
        self.engine = engine
        self.delivery = delivery
        self.metrics = metrics
        metrics.set(AtelierMetrics.Name.buildInfo, [("version", AtelierVersion.current)], 1)
    }

    /// Updates the gauges and delivery counters to now.
    public func sample() async {
        let load = await engine.load()
        for (provider, n) in load.queued { metrics.set(AtelierMetrics.Name.queued, [("provider", provider)], Double(n)) }
        for (provider, n) in load.running { metrics.set(AtelierMetrics.Name.running, [("provider", provider)], Double(n)) }
        for (model, state) in load.breakers {
            let value: Double =
                switch state {
                case .closed: 0
                case .halfOpen: 1
                case .open: 2
                }
            metrics.set(AtelierMetrics.Name.breaker, [("model", model)], value)
        }
        for b in load.budgets {
            let labels = [("tag", b.tag), ("value", b.value), ("period", b.period.rawValue)]
            metrics.set(AtelierMetrics.Name.budgetSpent, labels, b.spentUSD)
            metrics.set(AtelierMetrics.Name.budgetCap, labels, b.capUSD)
        }
        guard let delivery else { return }
        let now = await delivery.counters
        // Concurrent scrapes may read the counters in either order: only ever move forward.
        let delta = seen.withLock { s in
            let d = (max(0, now.attempts - s.attempts), max(0, now.delivered - s.delivered), max(0, now.failed - s.failed))
            s = (max(s.attempts, now.attempts), max(s.delivered, now.delivered), max(s.failed, now.failed))
            return d
        }
        if delta.0 > 0 { metrics.increment(AtelierMetrics.Name.deliveryAttempts, [], by: Int64(delta.0)) }
        if delta.1 > 0 { metrics.increment(AtelierMetrics.Name.deliveryOutcomes, [("outcome", "delivered")], by: Int64(delta.1)) }
        if delta.2 > 0 { metrics.increment(AtelierMetrics.Name.deliveryOutcomes, [("outcome", "failed")], by: Int64(delta.2)) }
        if let backlog = try? await delivery.backlog() {
            metrics.set(AtelierMetrics.Name.outboxBacklog, [("state", "open")], Double(backlog.open))
            metrics.set(AtelierMetrics.Name.outboxBacklog, [("state", "due")], Double(backlog.due))
            metrics.set(AtelierMetrics.Name.outboxBacklog, [("state", "overdue")], Double(backlog.overdue))
        }
    }
}
