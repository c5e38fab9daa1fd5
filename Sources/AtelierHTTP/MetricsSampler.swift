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
    /// The delivery service's counters at the previous scrape, per kind (its counters only grow; the difference is
    /// added).
    private let seen = Mutex<[DeliveryKind: DeliveryCounts]>([:])

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
        let deltas = seen.withLock { seen in
            now.map { kind, n -> (DeliveryKind, DeliveryCounts) in
                let s = seen[kind] ?? DeliveryCounts()
                var d = DeliveryCounts()
                d.attempts = max(0, n.attempts - s.attempts)
                d.delivered = max(0, n.delivered - s.delivered)
                d.failed = max(0, n.failed - s.failed)
                var kept = s
                kept.attempts = max(s.attempts, n.attempts)
                kept.delivered = max(s.delivered, n.delivered)
                kept.failed = max(s.failed, n.failed)
                seen[kind] = kept
                return (kind, d)
            }
        }
        for (kind, d) in deltas {
            let k = ("kind", kind.rawValue)
            if d.attempts > 0 { metrics.increment(AtelierMetrics.Name.deliveryAttempts, [k], by: Int64(d.attempts)) }
            if d.delivered > 0 { metrics.increment(AtelierMetrics.Name.deliveryOutcomes, [k, ("outcome", "delivered")], by: Int64(d.delivered)) }
            if d.failed > 0 { metrics.increment(AtelierMetrics.Name.deliveryOutcomes, [k, ("outcome", "failed")], by: Int64(d.failed)) }
        }
        if let backlog = try? await delivery.backlog() {
            metrics.set(AtelierMetrics.Name.outboxBacklog, [("state", "open")], Double(backlog.open))
            metrics.set(AtelierMetrics.Name.outboxBacklog, [("state", "due")], Double(backlog.due))
            metrics.set(AtelierMetrics.Name.outboxBacklog, [("state", "overdue")], Double(backlog.overdue))
        }
    }
}
