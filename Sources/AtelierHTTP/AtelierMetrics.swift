import CoreMetrics
import Prometheus

/// Atelier's metrics: swift-metrics instruments backed by a Prometheus registry of their own, rendered in the text
/// exposition format by ``exposition()``.
///
/// The instruments are created through swift-metrics with an explicit factory (never the process-wide
/// `MetricsSystem`), so two daemons in one process, as in tests, do not share counters. Names follow the Prometheus
/// conventions: an `atelier_` prefix, `_total` on counters, base units (`_seconds`, `_usd`), and labels whose values
/// come from bounded sets (status, model and provider ids of the catalog, routing arms, error codes) — never a
/// taskUUID. docs/operations.md lists every metric.
public final class AtelierMetrics: Sendable {
    /// The registry the instruments write to.
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory over ``registry``, with Atelier's histogram buckets.
    public let factory: PrometheusMetricsFactory

    /// Metric names, in one place (docs/operations.md lists them with their labels).
    public enum Name {
        /// Finished jobs: `status`, `model`, `provider`, `arm`.
        public static let jobs = "atelier_jobs_total"
        /// Submit to finish: `status`, `model`.
        public static let jobDuration = "atelier_job_duration_seconds"
        /// One provider call (attempt): `provider`, `model`, `outcome`.
        public static let providerCall = "atelier_provider_call_duration_seconds"
        /// End-to-end time minus the time spent in provider calls: `status`.
        public static let overhead = "atelier_job_overhead_seconds"
        /// Spend in USD: `model`, `cost_source` (the job's `costSource`: provider, computed, estimated).
        public static let cost = "atelier_cost_usd_total"
        /// Spend in USD by the value of one configured tag (`ATELIER_METRICS_COST_TAG`): `tag`, `value` (at most
        /// ``CostTagLabel/limit`` distinct values, then `other`; `none` without the tag), `cost_source`.
        public static let costByTag = "atelier_cost_by_tag_usd_total"
        /// Finished jobs whose cost is unknown (`costSource` `unknown`: no USD to add): `model`.
        public static let unpriced = "atelier_jobs_unpriced_total"
        /// One store transaction, BEGIN to the end of COMMIT (fsync included): `outcome` (committed, failed).
        public static let storeCommit = "atelier_store_commit_duration_seconds"
        /// Failed provider calls by error class: `provider`, `class`.
        public static let providerErrors = "atelier_provider_errors_total"
        /// Delivered images that differ from their request: `model`, `field`.
        public static let verificationMismatches = "atelier_result_verification_mismatches_total"
        /// Jobs waiting for a slot: `provider`.
        public static let queued = "atelier_jobs_queued"
        /// Jobs in a provider call: `provider`.
        public static let running = "atelier_jobs_running"
        /// Breaker state per model (0 closed, 1 half-open, 2 open): `model`.
        public static let breaker = "atelier_circuit_breaker_state"
        /// Budget spend and cap: `tag`, `value`, `period`.
        public static let budgetSpent = "atelier_budget_spent_usd"
        /// The cap of a budget: `tag`, `value`, `period`.
        public static let budgetCap = "atelier_budget_cap_usd"
        /// Delivery attempts made (webhooks and uploads).
        public static let deliveryAttempts = "atelier_delivery_attempts_total"
        /// Settled deliveries: `outcome` (delivered, failed).
        public static let deliveryOutcomes = "atelier_delivery_outcomes_total"
        /// Outbox rows by state: `state` (open, due, overdue).
        public static let outboxBacklog = "atelier_delivery_outbox_backlog"
        /// The running version: `version`; always 1.
        public static let buildInfo = "atelier_build_info"
    }

    /// Buckets of provider calls and whole jobs: 5 ms to 10 minutes (image models take seconds to minutes).
    public static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(20), .seconds(30), .seconds(60), .seconds(120), .seconds(300),
        .seconds(600),
    ]

    /// Buckets of Atelier's own time per job: 1 ms (the resolution of job timestamps) to 10 s.
    public static let overheadBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(10),
    ]

    /// Buckets of store transactions: 100 µs to 2.5 s (an fsync is a few milliseconds on most disks).
    public static let commitBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500),
    ]

    /// A fresh registry and factory.
    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        factory.durationHistogramBuckets = [Name.overhead: Self.overheadBuckets, Name.storeCommit: Self.commitBuckets]
        self.factory = factory
    }

    /// Adds `by` to the counter `name` with `labels`.
    public func increment(_ name: String, _ labels: [(String, String)], by amount: Int64 = 1) {
        CoreMetrics.Counter(label: name, dimensions: labels, factory: factory).increment(by: amount)
    }

    /// Adds a fractional amount (USD) to the counter `name` with `labels`.
    public func increment(_ name: String, _ labels: [(String, String)], by amount: Double) {
        CoreMetrics.FloatingPointCounter(label: name, dimensions: labels, factory: factory).increment(by: amount)
    }

    /// Records a duration in the histogram `name` with `labels`.
    public func record(_ name: String, _ labels: [(String, String)], duration: Duration) {
        let c = duration.components
        let ns = c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
        CoreMetrics.Timer(label: name, dimensions: labels, factory: factory).recordNanoseconds(max(0, ns))
    }

    /// Sets the gauge `name` with `labels`.
    public func set(_ name: String, _ labels: [(String, String)], _ value: Double) {
        CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory).record(value)
    }

    /// The registry in the Prometheus text exposition format (version 0.0.4).
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    /// The content type of ``exposition()``.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}
