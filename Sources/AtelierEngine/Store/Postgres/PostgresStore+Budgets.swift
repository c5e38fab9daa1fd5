import AtelierCore
import PostgresNIO

extension PostgresStore {
    /// Within the tolerance, a spend that lands exactly on the cap is accepted (sums of prices in floating point).
    static let capTolerance = 1e-9

    /// See ``EngineStore/spend(_:)``: the counters are locked (`SELECT … FOR UPDATE`, in ``BudgetCounter`` order in
    /// every daemon), checked and written in one transaction, so concurrent spends queue on the rows and each sees
    /// the others' committed amounts.
    public func spend(_ hold: BudgetHold) async throws -> SpendOutcome {
        guard !hold.caps.isEmpty else { return .accepted }
        return try await transaction { [self] connection in
            let counters = hold.caps.keys.sorted()
            let spent = try await lockCounters(counters, on: connection)
            if let refusal = Self.refusal(hold, spent: spent) { return .refused(refusal) }
            for counter in counters { try await writeCounter(counter, (spent[counter] ?? 0) + hold.amountUSD, on: connection) }
            return .accepted
        }
    }

    /// See ``EngineStore/adjust(_:deltaUSD:)``.
    public func adjust(_ counters: [BudgetCounter], deltaUSD: Double) async throws {
        guard !counters.isEmpty, deltaUSD != 0 else { return }
        try await transaction { [self] connection in
            for c in Set(counters).sorted() {
                try await execute(
                    """
                    INSERT INTO budget_spend (tag, value, period, period_number, spent_usd)
                    VALUES (\(c.tag), \(c.value), \(c.period.rawValue), \(c.periodNumber), \(deltaUSD))
                    ON CONFLICT (tag, value, period, period_number) DO UPDATE SET spent_usd = budget_spend.spent_usd + EXCLUDED.spent_usd
                    """, on: connection)
            }
        }
    }

    /// See ``EngineStore/spent(_:)``.
    public func spent(_ counters: [BudgetCounter]) async throws -> [BudgetCounter: Double] {
        var out: [BudgetCounter: Double] = [:]
        for c in Set(counters) {
            out[c] =
                try await rows(
                    """
                    SELECT spent_usd FROM budget_spend
                    WHERE tag = \(c.tag) AND value = \(c.value) AND period = \(c.period.rawValue) AND period_number = \(c.periodNumber)
                    """
                ) { try $0.get("spent_usd", as: Double.self) }.first ?? 0
        }
        return out
    }

    /// Creates the counters that do not exist yet and locks all of them, in the order given (callers sort); returns
    /// their spend.
    func lockCounters(_ counters: [BudgetCounter], on connection: PostgresConnection) async throws -> [BudgetCounter: Double] {
        var spent: [BudgetCounter: Double] = [:]
        for c in counters {
            try await execute(
                """
                INSERT INTO budget_spend (tag, value, period, period_number) VALUES (\(c.tag), \(c.value), \(c.period.rawValue), \(c.periodNumber))
                ON CONFLICT DO NOTHING
                """, on: connection)
            spent[c] =
                try await rows(
                    """
                    SELECT spent_usd FROM budget_spend
                    WHERE tag = \(c.tag) AND value = \(c.value) AND period = \(c.period.rawValue) AND period_number = \(c.periodNumber)
                    FOR UPDATE
                    """, on: connection
                ) { try $0.get("spent_usd", as: Double.self) }.first ?? 0
        }
        return spent
    }

    /// Sets a locked counter's spend.
    func writeCounter(_ c: BudgetCounter, _ value: Double, on connection: PostgresConnection) async throws {
        try await execute(
            """
            UPDATE budget_spend SET spent_usd = \(value)
            WHERE tag = \(c.tag) AND value = \(c.value) AND period = \(c.period.rawValue) AND period_number = \(c.periodNumber)
            """, on: connection)
    }

    /// The first counter (in lock order) the hold would push past its cap, or nil when it fits everywhere.
    static func refusal(_ hold: BudgetHold, spent: [BudgetCounter: Double]) -> BudgetRefusal? {
        for counter in hold.caps.keys.sorted() {
            let cap = hold.caps[counter] ?? 0
            let before = spent[counter] ?? 0
            if before + hold.amountUSD > cap + capTolerance { return BudgetRefusal(counter: counter, spentUSD: before, capUSD: cap) }
        }
        return nil
    }
}
