/// Runtime state the engine hands to every decision. Everything is optional.
public struct RoutingContext: Sendable {
    /// Models that cannot be used right now, with the reason (`no_api_key`, `circuit_open`, …). A key may be a model id,
    /// an alias or a provider id (which covers all of that provider's models).
    public var unavailable: [String: Rejection]
    /// What has been spent so far in the current day and month.
    public var spend: BudgetSpend
    /// The time deadlines are measured against (nil: the time of the decision).
    public var now: Timestamp? = nil

    public init(unavailable: [String: Rejection] = [:], spend: BudgetSpend = BudgetSpend()) {
        self.unavailable = unavailable
        self.spend = spend
    }
}

/// One model that can serve a task, with the size it would produce and its estimated cost.
public struct RouteCandidate: Sendable {
    public var model: ModelCard
    public var size: ResolvedSize
    public var estimatedCostUSD: Double
    /// True when the task goes through the model's batch interface, priced at its batch rate.
    public var batch: Bool = false

    public init(model: ModelCard, size: ResolvedSize, estimatedCostUSD: Double) {
        self.model = model
        self.size = size
        self.estimatedCostUSD = estimatedCostUSD
    }

    /// The provider id.
    public var provider: String { model.provider }
}

/// A per-model outcome of a decision, in compact form.
struct Outcome: Sendable {
    var model: Int32
    var code: RouteCode
    var size: ResolvedSize
    var cost: Double
    /// Priced at the batch rate (``RouteCandidate/batch``).
    var batch: Bool = false

    static let placeholderSize = ResolvedSize(pixels: PixelSize(width: 0, height: 0), tier: .r1K, aspectRatio: nil, requestedByTier: false)
}

/// What the matched rules add up to for one task.
struct Effective: Sendable {
    var policyMask: ModelMask
    var prefer: Int32 = -1
    var objective: RoutingObjective?
    var fallbackMax: Int?
    var afterRefusal: Bool?
    /// The rule whose split applied, and the arm, or -1.
    var splitRule: Int32 = -1
    var arm: Int32 = -1

    @inline(__always)
    mutating func apply(_ a: CompiledActions) {
        if let r = a.require { policyMask = policyMask & r }
        if let e = a.exclude { policyMask = policyMask.subtracting(e) }
        if prefer < 0 { prefer = a.prefer }
        if objective == nil { objective = a.objective }
        if fallbackMax == nil { fallbackMax = a.fallbackMax }
        if afterRefusal == nil { afterRefusal = a.afterRefusal }
    }
}

/// Shared, immutable state of a router.
final class RouterCore: Sendable {
    let catalog: Catalog
    let policy: RoutingPolicy
    let compiled: CompiledPolicy
    let budgets: [BudgetRule]

    init(catalog: Catalog, policy: RoutingPolicy) {
        let p = policy.compiled.catalog.catalog == catalog ? policy : policy.recompiled(for: catalog)
        self.catalog = catalog
        self.policy = p
        self.compiled = p.compiled
        self.budgets = policy.budgets
    }
}

/// Picks the model for a task: hard constraints filter, preferences rank.
///
/// Precedence: hard constraints (the model's own checks, `requirements.maxCostUSD`, builtin switch, the policy's
/// require/exclude, availability, budgets); then `requirements.textRendering` (best text renderer first); then the
/// matched rule's `prefer` list; then the phase (`ideation`: cheapest then fastest; `final`: best quality); then the
/// objective; then cost, quality, latency and catalog order as the last tie-breaks.
///
/// A decision is a pure function of the task, the policy, the catalog and the context. ``decide(_:context:)`` does no
/// string work; reasons, rejections and JSON are built when read.
public struct Router: Sendable {
    let core: RouterCore

    public init(catalog: Catalog, policy: RoutingPolicy) {
        core = RouterCore(catalog: catalog, policy: policy)
    }

    public var catalog: Catalog { core.catalog }
    public var policy: RoutingPolicy { core.policy }

    /// Routes one task.
    public func decide(_ task: ImageTask, context: RoutingContext = RoutingContext()) -> RouteDecision {
        var outcomes: [Outcome] = []
        let r = run(task, context: context, into: &outcomes)
        return RouteDecision(core: core, task: task, context: context, outcomes: outcomes, result: r)
    }

    /// The `route.explain` document for a task.
    public func explain(_ task: ImageTask, context: RoutingContext = RoutingContext()) -> JSONValue {
        decide(task, context: context).json
    }

    // MARK: Core

    /// The compact result of a decision; the outcomes array holds the eligible models first (ranked), then the
    /// rejected ones in catalog order.
    struct RunResult: Sendable {
        var eligible: Int
        var pinned: Bool
        var pinnedUnknown: Bool
        var effective: Effective
        var headroom: BudgetHeadroom?
        var fallbackLimit: Int
        var text: Bool
        var phase: Phase?
    }

    /// Evaluates the rules for a task.
    @inline(__always)
    func effective(for task: ImageTask) -> Effective {
        let c = core.compiled
        var e = Effective(policyMask: c.allMask)
        let rules = c.rules
        for ri in rules.indices {
            guard rules[ri].when.evaluate(task) else { continue }
            if e.splitRule < 0, let s = rules[ri].split {
                let a = s.arm(for: task)
                e.splitRule = Int32(ri)
                e.arm = Int32(a)
                e.apply(s.arms[a].actions)
            }
            e.apply(rules[ri].actions)
            if rules[ri].stop { break }
        }
        return e
    }

    /// The indices of the rules that match `task`, in order, honouring `stop`.
    func matchedRules(_ task: ImageTask) -> [Int] {
        var out: [Int] = []
        for (ri, r) in core.compiled.rules.enumerated() where r.when.evaluate(task) {
            out.append(ri)
            if r.stop { break }
        }
        return out
    }

    func run(_ task: ImageTask, context: RoutingContext, into outcomes: inout [Outcome]) -> RunResult {
        let c = core.compiled
        let cat = c.catalog
        var facts = TaskFacts(task)
        if let now = context.now, let d = task.requirements.deadline { facts.secondsLeft = d.secondsLeft(now: now) }
        var result = RunResult(
            eligible: 0, pinned: false, pinnedUnknown: false, effective: Effective(policyMask: c.allMask), headroom: nil, fallbackLimit: 0,
            text: task.requirements.textRendering, phase: task.phase)

        // Budgets: the tightest cap that applies.
        if !core.budgets.isEmpty {
            result.headroom = BudgetCheck.headroom(core.budgets, task: task, spend: context.spend)
        }
        let remaining = result.headroom?.remaining ?? .infinity
        // `costs.unknownPrice: refuse`: a task with a budget or a cost cap is not routed to a model priced at a ceiling.
        let refuseUnknown =
            core.policy.unknownPrice == .refuse && (result.headroom != nil || task.requirements.maxCostUSD != nil)

        // Availability.
        var unavailable = ModelMask.none
        if !context.unavailable.isEmpty {
            for (name, _) in context.unavailable {
                if let m = cat.nameMasks[name] { unavailable = unavailable | m }
            }
        }

        outcomes.removeAll(keepingCapacity: true)

        if task.model != "auto" {
            result.pinned = true
            guard let i = cat.nameIndex[task.model] else {
                result.pinnedUnknown = true
                return result
            }
            let priced = cat.price(i, &facts, task.size)
            var code = priced.code
            let cost = priced.cost ?? 0
            if code == .ok {
                if unavailable.contains(i) {
                    code = .unavailable
                } else if refuseUnknown && !cat.models[i].priceKnown {
                    code = .priceUnknown
                } else if cost > 0 && cost > remaining + 1e-12 {
                    code = .overBudget
                }
            }
            outcomes.append(Outcome(model: Int32(i), code: code, size: priced.size ?? Outcome.placeholderSize, cost: cost, batch: priced.batch))
            result.eligible = code == .ok ? 1 : 0
            return result
        }

        let e = effective(for: task)
        result.effective = e
        let allowBuiltin = c.allowBuiltin
        let n = cat.count
        var rejectedStart = n
        // Eligible models fill the front, rejected ones the back (reversed, fixed below).
        outcomes.append(contentsOf: repeatElement(Outcome(model: 0, code: .ok, size: Outcome.placeholderSize, cost: 0), count: n))
        var front = 0
        for i in 0..<n {
            let priced = cat.price(i, &facts, task.size)
            var code = priced.code
            let cost = priced.cost ?? 0
            if code == .ok {
                if cat.models[i].builtin && !allowBuiltin {
                    code = .builtinNotAllowed
                } else if !e.policyMask.contains(i) {
                    code = .excludedByPolicy
                } else if unavailable.contains(i) {
                    code = .unavailable
                } else if refuseUnknown && !cat.models[i].priceKnown {
                    code = .priceUnknown
                } else if cost > 0 && cost > remaining + 1e-12 {
                    code = .overBudget
                }
            }
            let o = Outcome(model: Int32(i), code: code, size: priced.size ?? Outcome.placeholderSize, cost: cost, batch: priced.batch)
            if code == .ok {
                outcomes[front] = o
                front += 1
            } else {
                rejectedStart -= 1
                outcomes[rejectedStart] = o
            }
        }
        // Rejected entries were written back to front: restore catalog order.
        var a = rejectedStart
        var b = n - 1
        while a < b {
            outcomes.swapAt(a, b)
            a += 1
            b -= 1
        }
        result.eligible = front

        // Rank the eligible models (insertion sort: a few dozen models at most).
        if front > 1 {
            let key = RankKey(text: result.text, phase: task.phase, objective: e.objective ?? c.objective)
            let none: [Int32] = []
            let positions = e.prefer >= 0 ? c.preferPositions[Int(e.prefer)] : none
            cat.models.withUnsafeBufferPointer { models in
                positions.withUnsafeBufferPointer { prefer in
                    outcomes.withUnsafeMutableBufferPointer { buf in
                        for x in 1..<front {
                            let item = buf[x]
                            var y = x - 1
                            while y >= 0 && key.before(item, buf[y], models, prefer) {
                                buf[y + 1] = buf[y]
                                y -= 1
                            }
                            buf[y + 1] = item
                        }
                    }
                }
            }
        }
        result.fallbackLimit = e.fallbackMax ?? c.fallbackMax
        return result
    }
}

/// The ranking order of one decision.
struct RankKey {
    var text: Bool
    var phase: Phase?
    var objective: RoutingObjective

    @inline(__always)
    static func differ(_ a: Double, _ b: Double) -> Bool { abs(a - b) > 1e-12 }

    /// True when `a` ranks before `b`. `prefer` holds each model's position in the matched `prefer` list (empty: none).
    @inline(__always)
    func before(_ a: Outcome, _ b: Outcome, _ models: UnsafeBufferPointer<CompiledModel>, _ prefer: UnsafeBufferPointer<Int32>) -> Bool {
        let ia = Int(a.model)
        let ib = Int(b.model)
        if text {
            let ta = models[ia].textRendering
            let tb = models[ib].textRendering
            if ta != tb { return ta > tb }
        }
        if !prefer.isEmpty {
            let pa = prefer[ia]
            let pb = prefer[ib]
            if pa != pb { return pa < pb }
        }
        switch phase {
        case .ideation?:
            if Self.differ(a.cost, b.cost) { return a.cost < b.cost }
            if models[ia].latency != models[ib].latency { return models[ia].latency < models[ib].latency }
        case .final?:
            if models[ia].quality != models[ib].quality { return models[ia].quality > models[ib].quality }
        case nil:
            break
        }
        switch objective {
        case .cheapest:
            if Self.differ(a.cost, b.cost) { return a.cost < b.cost }
        case .fastest:
            if models[ia].latency != models[ib].latency { return models[ia].latency < models[ib].latency }
        case .quality:
            if models[ia].quality != models[ib].quality { return models[ia].quality > models[ib].quality }
        }
        if Self.differ(a.cost, b.cost) { return a.cost < b.cost }
        if models[ia].quality != models[ib].quality { return models[ia].quality > models[ib].quality }
        if models[ia].latency != models[ib].latency { return models[ia].latency < models[ib].latency }
        return ia < ib
    }
}
