import AtelierCore

/// The engine's load at one moment, for gauges (Prometheus `/metrics`): read from memory, no store access.
public struct EngineLoad: Sendable, Equatable {
    /// Jobs waiting for a slot, by provider id (every provider of the catalog, zero when idle).
    public var queued: [String: Int]
    /// Jobs with a provider call in flight, by provider id (every provider of the catalog, zero when idle).
    public var running: [String: Int]
    /// The circuit-breaker state of every model whose breaker has seen an outcome (others are closed).
    public var breakers: [String: CircuitBreaker.State]
    /// Spend against every budget cap of the routing policy.
    public var budgets: [StatsReport.BudgetSpend]

    /// A load report.
    public init(
        queued: [String: Int], running: [String: Int], breakers: [String: CircuitBreaker.State], budgets: [StatsReport.BudgetSpend]
    ) {
        self.queued = queued
        self.running = running
        self.breakers = breakers
        self.budgets = budgets
    }
}

extension Engine {
    /// Queue depth and running jobs per provider, breaker states and budget spend, from memory.
    public func load() -> EngineLoad {
        var queued: [String: Int] = [:]
        var runningByProvider: [String: Int] = [:]
        for provider in Set(catalog.models.map(\.provider)) {
            queued[provider] = 0
            runningByProvider[provider] = 0
        }
        for (provider, queue) in queues { queued[provider] = queue.count }
        for (provider, count) in runningCount { runningByProvider[provider] = count }
        let now = Self.seconds(.now)
        let states = breakers.breakers.mapValues { $0.state(at: now) }
        return EngineLoad(queued: queued, running: runningByProvider, breakers: states, budgets: ledger.report(budgets: policy.budgets))
    }
}
