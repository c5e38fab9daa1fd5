import AtelierCore
import Foundation

/// What the engine reports about itself: models with availability, health, statistics.
extension Engine {
    /// The catalog with availability, for `models.list`.
    public func models() -> [ModelAvailability] {
        let unavailable = registryUnavailable
        let now = ContinuousClock.now
        return catalog.models.map { m in
            let reason: String? =
                m.status == .retired
                ? "retired" + (m.replacedBy.map { ": replaced by \($0)" } ?? "")
                : (unavailable[m.id] ?? breakers[m.id].rejection(model: m.id, at: Self.seconds(now)))?.description
            return ModelAvailability(card: m, unavailableReason: reason)
        }
    }

    /// What `daemon.health` reports about the engine. It is degraded when the store cannot commit or a model's
    /// breaker is open (`reasons` says which); `queued`/`running` are counted from the store, as `job.list` shows them
    /// (in a cluster: the whole cluster's). In PostgreSQL mode it names this daemon and the other live ones.
    public func health() async -> EngineHealth {
        let uptimeSeconds = startedAt.duration(to: configuration.clock.now).inSeconds
        var queued = queuedCount
        var runningJobs = running.count
        if store.condition.databaseFault != nil, ContinuousClock.now >= nextStoreProbe {
            // Nothing else may be writing (only refused submits saw the fault): find out whether commits work again.
            nextStoreProbe = ContinuousClock.now.advanced(by: .milliseconds(250))
            try? await store.probeWrite()
        }
        let storeStatus = store.condition.status
        var reasons: [String] = []
        do {
            let counts = try await store.counts(of: [.queued, .running])
            queued = counts[.queued] ?? 0
            runningJobs = counts[.running] ?? 0
        } catch {
            reasons.append("the store cannot be read: \(store.fault(error)?.message ?? "\(error)")")
        }
        if !storeStatus.ok { reasons.append("store: \(storeStatus.error ?? "failing")") }
        let open = breakers.unavailable(at: Self.seconds(.now)).sorted { $0.key < $1.key }
        for (model, _) in open { reasons.append("circuit breaker open for \(model)") }
        var clusterHealth: EngineHealth.ClusterHealth?
        if let cluster {
            var others: [DaemonPresence]?
            do {
                others = try await cluster.store.liveDaemons(within: cluster.configuration.liveWithinSeconds).filter { $0.id != cluster.daemonID }
            } catch {
                reasons.append("the cluster's daemons cannot be read: \(store.fault(error)?.message ?? "\(error)")")
            }
            clusterHealth = EngineHealth.ClusterHealth(daemonID: cluster.daemonID, others: others)
        }
        return EngineHealth(
            reasons: reasons, version: AtelierVersion.current, uptimeSeconds: (uptimeSeconds * 1000).rounded() / 1000, queued: queued,
            running: runningJobs, draining: draining, store: storeStatus,
            openBreakers: open.map { EngineHealth.OpenBreaker(model: $0.key, reason: $0.value.description) }, storeKind: store.kind,
            cluster: clusterHealth)
    }

    /// Counts for health/bench.
    public var queuedCount: Int { queues.values.reduce(0) { $0 + $1.count } }

    /// Per-group job statistics since `since`, and spend against budget caps.
    public func stats(by grouping: StatsGrouping, since: Timestamp) async throws(AtelierError) -> StatsReport {
        let groups: [StatsReport.Group]
        do { groups = try await store.stats(by: grouping, since: since) } catch {
            throw AtelierError(.storeFailure, "store read failed", retryable: true)
        }
        return StatsReport(since: since, groups: groups, budgets: ledger.report(budgets: policy.budgets))
    }
}
