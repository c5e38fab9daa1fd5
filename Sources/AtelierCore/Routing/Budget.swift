/// A spending period of a budget.
public enum BudgetPeriod: String, Sendable, Hashable, CaseIterable {
    /// The current UTC day (the engine decides when a day starts; the router only compares numbers).
    case daily
    /// The current UTC month.
    case monthly
}

/// A cap on estimated spend for the tasks carrying one tag, from `routing.json` `budgets`.
///
/// Without ``value`` the caps apply to every value of the tag separately (each client has its own daily cap);
/// a rule with a ``value`` replaces the catch-all rule of the same tag for that value.
public struct BudgetRule: Sendable, Equatable {
    /// The tag name (`client` for `tags.client`).
    public var tag: String
    /// One tag value, or nil for "each value".
    public var value: String?
    /// USD per day, if capped.
    public var dailyUSD: Double?
    /// USD per month, if capped.
    public var monthlyUSD: Double?
    /// Where the rule is in routing.json.
    public var pointer: String

    public init(tag: String, value: String? = nil, dailyUSD: Double? = nil, monthlyUSD: Double? = nil, pointer: String = "") {
        self.tag = tag
        self.value = value
        self.dailyUSD = dailyUSD
        self.monthlyUSD = monthlyUSD
        self.pointer = pointer
    }

    /// The cap for `period`, if any.
    public func limit(_ period: BudgetPeriod) -> Double? {
        switch period {
        case .daily: return dailyUSD
        case .monthly: return monthlyUSD
        }
    }
}

/// What has been spent so far in the current day and month, per (tag name, tag value, period).
///
/// The engine fills it from its ledger (estimated cost of accepted jobs, corrected by actual costs) and hands it to
/// every decision; the router never stores spend itself.
public struct BudgetSpend: Sendable, Equatable {
    /// One spend counter.
    public struct Key: Sendable, Hashable {
        public var tag: String
        public var value: String
        public var period: BudgetPeriod
        public init(tag: String, value: String, period: BudgetPeriod) {
            self.tag = tag
            self.value = value
            self.period = period
        }
    }

    /// USD spent per counter.
    public var usd: [Key: Double]

    public init(_ usd: [Key: Double] = [:]) { self.usd = usd }

    /// USD spent by `tag`=`value` in `period`.
    public func spent(tag: String, value: String, period: BudgetPeriod) -> Double {
        usd[Key(tag: tag, value: value, period: period)] ?? 0
    }

    /// Adds `amount` to one counter.
    public mutating func add(_ amount: Double, tag: String, value: String, period: BudgetPeriod) {
        usd[Key(tag: tag, value: value, period: period), default: 0] += amount
    }

    /// Adds `amount` to every counter that one of `budgets` keeps for `task` (both periods of each applicable rule).
    public mutating func record(_ amount: Double, task: ImageTask, budgets: [BudgetRule]) {
        for b in BudgetCheck.applicable(budgets, tags: task.tags) {
            guard let v = task.tags[b.tag] else { continue }
            for p in BudgetPeriod.allCases where b.limit(p) != nil { add(amount, tag: b.tag, value: v, period: p) }
        }
    }
}

/// The tightest budget that applies to a task: what is left, and which cap it is.
struct BudgetHeadroom: Sendable {
    var remaining: Double
    var rule: Int
    var period: BudgetPeriod
    var value: String
    var spent: Double
    var limit: Double
}

enum BudgetCheck {
    /// The rules that apply to a task with `tags`: value-specific rules win over the catch-all rule of their tag.
    static func applicable(_ budgets: [BudgetRule], tags: [String: String]) -> [BudgetRule] {
        budgets.enumerated().filter { applies($0.offset, budgets, tags: tags) }.map(\.element)
    }

    @inline(__always)
    static func applies(_ i: Int, _ budgets: [BudgetRule], tags: [String: String]) -> Bool {
        let b = budgets[i]
        guard let v = tags[b.tag] else { return false }
        if let want = b.value { return want == v }
        for o in budgets where o.tag == b.tag && o.value == v { return false }
        return true
    }

    /// The smallest headroom over every cap that applies, or nil when none does.
    static func headroom(_ budgets: [BudgetRule], task: ImageTask, spend: BudgetSpend) -> BudgetHeadroom? {
        var best: BudgetHeadroom?
        for i in budgets.indices where applies(i, budgets, tags: task.tags) {
            let b = budgets[i]
            let v = task.tags[b.tag]!
            for p in BudgetPeriod.allCases {
                guard let limit = b.limit(p) else { continue }
                let spent = spend.spent(tag: b.tag, value: v, period: p)
                let left = limit - spent
                if best == nil || left < best!.remaining {
                    best = BudgetHeadroom(remaining: left, rule: i, period: p, value: v, spent: spent, limit: limit)
                }
            }
        }
        return best
    }
}
