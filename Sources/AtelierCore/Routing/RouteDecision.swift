import Foundation

/// The result of routing one task.
///
/// The decision itself is compact (model indices, sizes, costs and one-byte reason codes). Everything textual —
/// ``rejected``, ``reasons``, ``error``, ``summary``, ``json`` — is built when read, so the hot path pays only for
/// what the caller uses.
public struct RouteDecision: Sendable {
    let core: RouterCore
    /// The task that was routed.
    public let task: ImageTask
    let context: RoutingContext
    let outcomes: [Outcome]
    let result: Router.RunResult

    init(core: RouterCore, task: ImageTask, context: RoutingContext, outcomes: [Outcome], result: Router.RunResult) {
        self.core = core
        self.task = task
        self.context = context
        self.outcomes = outcomes
        self.result = result
    }

    // MARK: Cheap accessors

    /// True when a model was chosen.
    public var isRouted: Bool { result.eligible > 0 }
    /// The chosen model's id, without building a candidate.
    public var chosenModelID: String? { isRouted ? core.catalog.models[Int(outcomes[0].model)].id : nil }
    /// The chosen model's estimated cost.
    public var estimatedCostUSD: Double? { isRouted ? outcomes[0].cost : nil }
    /// True when the task pinned a model (`model` ≠ "auto").
    public var isPinned: Bool { result.pinned }
    /// The most alternatives kept as fallbacks.
    public var fallbackLimit: Int { result.fallbackLimit }

    func candidate(_ o: Outcome) -> RouteCandidate {
        var c = RouteCandidate(model: core.catalog.models[Int(o.model)], size: o.size, estimatedCostUSD: o.cost)
        c.batch = o.batch
        return c
    }

    // MARK: The API

    /// The chosen model; nil when the task cannot be routed (see ``error``).
    public var chosen: RouteCandidate? { isRouted ? candidate(outcomes[0]) : nil }

    /// The chosen model first, then the fallbacks in order (at most ``fallbackLimit`` of them).
    public var ranked: [RouteCandidate] {
        let n = min(result.eligible, 1 + result.fallbackLimit)
        return outcomes[0..<n].map(candidate)
    }

    /// Every model that could serve, ranked, including those beyond the fallback limit.
    public var eligible: [RouteCandidate] { outcomes[0..<result.eligible].map(candidate) }

    /// The split arm, when a split applied.
    public var arm: String? {
        let e = result.effective
        guard e.splitRule >= 0 else { return nil }
        return core.compiled.rules[Int(e.splitRule)].split?.arms[Int(e.arm)].name
    }

    /// Every model that was ruled out, with why.
    public var rejected: [(model: String, rejection: Rejection)] {
        if result.pinnedUnknown { return [(task.model, unknownModelRejection)] }
        return outcomes[result.eligible...].map { o in (core.catalog.models[Int(o.model)].id, rejection(o)) }
    }

    /// Why: rules matched, preferences applied.
    public var reasons: [String] {
        var out: [String] = []
        let c = core.compiled
        if result.pinned {
            out.append("model pinned by the task: \(task.model)")
            return out
        }
        let router = Router(core: core)
        for ri in router.matchedRules(task) {
            let r = c.rules[ri]
            var parts: [String] = []
            if let t = r.actions.requireText { parts.append("require \(t)") }
            if let t = r.actions.excludeText { parts.append("exclude \(t)") }
            if r.actions.prefer >= 0 { parts.append("prefer [\(c.preferIDs[Int(r.actions.prefer)].joined(separator: ", "))]") }
            if let o = r.actions.objective { parts.append("objective \(o.rawValue)") }
            if let m = r.actions.fallbackMax { parts.append("fallbacks ≤ \(m)") }
            if let s = r.split, Int(result.effective.splitRule) == ri {
                let a = s.arms[Int(result.effective.arm)]
                let keyed = s.key.keyString(of: task) == nil ? "taskUUID (\(s.key) absent)" : "\(s.key)"
                parts.append("split on \(keyed) → arm '\(a.name)'")
                if let t = a.actions.requireText { parts.append("arm requires \(t)") }
                if let t = a.actions.excludeText { parts.append("arm excludes \(t)") }
                if a.actions.prefer >= 0 { parts.append("arm prefers [\(c.preferIDs[Int(a.actions.prefer)].joined(separator: ", "))]") }
                if let o = a.actions.objective { parts.append("arm objective \(o.rawValue)") }
            }
            if r.stop { parts.append("stop") }
            out.append("rule '\(r.name)' matched" + (parts.isEmpty ? "" : ": " + parts.joined(separator: "; ")))
        }
        if task.requirements.reproducible { out.append("requirements.reproducible: seed-honouring models only") }
        if let m = task.requirements.maxCostUSD { out.append("requirements.maxCostUSD: at most \(Self.usd(m))") }
        if task.requirements.textRendering { out.append("requirements.textRendering: best text renderer first") }
        if result.effective.prefer >= 0 {
            out.append("prefer: \(c.preferIDs[Int(result.effective.prefer)].joined(separator: " > "))")
        }
        switch task.phase {
        case .ideation?: out.append("phase ideation: cheapest, then fastest")
        case .final?: out.append("phase final: best quality")
        case nil: break
        }
        out.append("objective: \((result.effective.objective ?? c.objective).rawValue)")
        if let h = result.headroom {
            let b = core.budgets[h.rule]
            out.append("budget tags.\(b.tag)=\(h.value) \(h.period.rawValue): \(Self.usd(h.remaining)) left")
        }
        if let ch = chosen {
            out.append("chose \(ch.model.id) (\(Self.usd(ch.estimatedCostUSD))) from \(result.eligible) eligible of \(core.catalog.models.count)")
        }
        return out
    }

    /// Why the task cannot be routed: `no_route` (with `rejections`), `budget_exceeded` (with `remainingUSD`), or the
    /// pinned model's own error. Nil when routed.
    public var error: AtelierError? {
        if isRouted { return nil }
        if result.pinnedUnknown { return unknownModelRejection.error }
        if result.pinned, let o = outcomes.first { return rejection(o).error }
        if let passed = outcomes.first(where: { $0.code == .deadlinePassed }) { return rejection(passed).error }
        if outcomes.contains(where: { $0.code == .overBudget }) {
            let cheapest = outcomes.filter { $0.code == .overBudget }.map(\.cost).min() ?? 0
            return budgetError(cost: cheapest)
        }
        var reasons = JSONObject()
        var counts: [String: Int] = [:]
        var order: [String] = []
        for (model, r) in rejected {
            reasons.append(model, .string(r.description))
            if counts[r.reason] == nil { order.append(r.reason) }
            counts[r.reason, default: 0] += 1
        }
        let summary = order.map { "\(counts[$0]!) \($0)" }.joined(separator: ", ")
        return AtelierError(
            .noRoute, "no model can serve this task (\(summary.isEmpty ? "the catalog is empty" : summary))",
            details: ["rejections": .object(reasons)])
    }

    /// The decision as recorded on the job.
    public var summary: RouteSummary? {
        guard let ch = chosen else { return nil }
        var s = RouteSummary(
            provider: ch.batch ? BatchSettings.laneID(provider: ch.model.provider) : ch.model.provider, model: ch.model.id, reasons: reasons,
            estimatedCostUSD: ch.estimatedCostUSD,
            fallbacks: ranked.dropFirst().map(\.model.id), arm: arm)
        s.priceKnown = ch.model.price.isKnown
        return s
    }

    /// True when the matched rules allow a refused job to fall back to a model with another safety policy.
    public var allowsFallbackAfterRefusal: Bool {
        result.effective.afterRefusal ?? core.compiled.afterRefusal
    }

    /// The models to try after `failedModel` failed: the rest of ``ranked`` (same hard constraints). After a refusal,
    /// only models with another safety policy, and only when the rules allow it.
    public func fallbacks(after failedModel: String, refused: Bool) -> [RouteCandidate] {
        fallbacks(afterAttempts: [(failedModel, refused)])
    }

    /// The models still to try after several failed attempts: never a model already tried; after any refusal, only
    /// models whose safety policy differs from every policy that refused, and only when the rules allow it.
    public func fallbacks(afterAttempts attempts: [(model: String, refused: Bool)]) -> [RouteCandidate] {
        if result.pinned { return [] }
        var tried = Set<String>()
        var refusingPolicies = Set<String>()
        var anyRefused = false
        for a in attempts {
            let card = core.catalog.model(a.model)
            tried.insert(card?.id ?? a.model)
            if a.refused {
                anyRefused = true
                if let p = card?.safetyPolicy { refusingPolicies.insert(p) }
            }
        }
        if anyRefused && !allowsFallbackAfterRefusal { return [] }
        let list = ranked
        var start = 0
        if let last = attempts.last, let card = core.catalog.model(last.model), let pos = list.firstIndex(where: { $0.model.id == card.id }) {
            start = pos + 1
        }
        return list[start...].filter { !tried.contains($0.model.id) && !refusingPolicies.contains($0.model.safetyPolicy) }
    }

    /// The `route.explain` document: `{task, pinned, chosen, alternatives, rejected, reasons, arm, error}`.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("taskUUID", .string(task.taskUUID))
        o.append("pinned", .bool(result.pinned))
        o.append("chosen", isRouted ? candidateJSON(outcomes[0]) : .null)
        var alts: [JSONValue] = []
        if result.eligible > 1 {
            for (k, x) in outcomes[1..<result.eligible].enumerated() {
                guard case .object(var a) = candidateJSON(x) else { continue }
                a.append("fallback", .bool(k < result.fallbackLimit))
                alts.append(.object(a))
            }
        }
        o.append("alternatives", .array(alts))
        o.append(
            "rejected",
            .array(
                rejected.map { m, r in
                    var x = JSONObject()
                    x.append("model", .string(m))
                    if let card = core.catalog.model(m) { x.append("provider", .string(card.provider)) }
                    x.append("reason", .string(r.reason))
                    x.append("detail", .string(r.detail))
                    return .object(x)
                }))
        o.append("reasons", .array(reasons.map(JSONValue.string)))
        o.append("arm", arm.map(JSONValue.string) ?? .null)
        o.append("error", error?.json ?? .null)
        return .object(o)
    }

    // MARK: Building text

    static func usd(_ d: Double) -> String { String(format: "$%.3f", d) }

    func candidateJSON(_ o: Outcome) -> JSONValue {
        let m = core.catalog.models[Int(o.model)]
        var x = JSONObject()
        x.append("model", .string(m.id))
        x.append("provider", .string(m.provider))
        x.append("estimatedCostUSD", .number((o.cost * 1e9).rounded() / 1e9))
        if o.batch { x.append("batch", .bool(true)) }
        x.append("width", .int(Int64(o.size.pixels.width)))
        x.append("height", .int(Int64(o.size.pixels.height)))
        x.append("resolution", .string(o.size.tier.rawValue))
        x.append("aspectRatio", ifPresent: o.size.aspectRatio.map { .string($0.description) })
        x.append("seedHonored", .bool(m.seedHonored))
        x.append("textRendering", .int(Int64(m.textRendering)))
        x.append("quality", .int(Int64(m.quality)))
        x.append("latencySeconds", .number(m.latencySeconds))
        x.append("safetyPolicy", .string(m.safetyPolicy))
        return .object(x)
    }

    var unknownModelRejection: Rejection {
        let ids = core.catalog.models.map(\.id)
        let hint = Suggestion.closest(task.model, core.catalog.models.flatMap(\.allIDs)).map { "; did you mean \($0)?" } ?? ""
        return Rejection(
            "unknown_model", task.model,
            error: AtelierError(
                .unknownModel, "unknown model '\(task.model)'\(hint)", field: "/model",
                details: ["known": .array(ids.map(JSONValue.string))]))
    }

    func budgetError(cost: Double) -> AtelierError {
        guard let h = result.headroom else {
            return AtelierError(.budgetExceeded, "the task would exceed its budget")
        }
        let b = core.budgets[h.rule]
        var budget = JSONObject()
        budget.append("tag", .string(b.tag))
        budget.append("value", .string(h.value))
        budget.append("period", .string(h.period.rawValue))
        budget.append("limitUSD", .number(h.limit))
        budget.append("spentUSD", .number(h.spent))
        return AtelierError(
            .budgetExceeded,
            "tags.\(b.tag)=\(h.value) has \(Self.usd(max(h.remaining, 0))) left of its \(h.period.rawValue) budget of \(Self.usd(h.limit)); "
                + "this task would cost about \(Self.usd(cost))",
            details: [
                "remainingUSD": .number(max(h.remaining, 0)), "estimatedCostUSD": .number(cost), "budget": .object(budget),
            ])
    }

    /// The full rejection for one outcome.
    func rejection(_ o: Outcome) -> Rejection {
        let i = Int(o.model)
        let card = core.catalog.models[i]
        switch o.code {
        case _ where o.code.isModelCheck:
            if case .failure(let r) = card.check(task) { return r }
            return Rejection(o.code.reason, "", error: AtelierError(.internalError, "\(card.id): \(o.code.reason)"))
        case .overMaxCost:
            let cap = task.requirements.maxCostUSD ?? 0
            return Rejection(
                "over_max_cost", "\(Self.usd(o.cost)) > \(Self.usd(cap))",
                error: AtelierError(
                    .requirementUnsatisfiable,
                    "\(card.id) would cost about \(Self.usd(o.cost)), more than requirements.maxCostUSD \(Self.usd(cap))",
                    field: "/requirements/maxCostUSD", details: ["estimatedCostUSD": .number(o.cost), "maxCostUSD": .number(cap)]))
        case .builtinNotAllowed:
            return Rejection(
                "builtin_not_allowed", "model \"auto\" skips the built-in renderer unless the policy sets allowBuiltin",
                error: AtelierError(.noRoute, "\(card.id) is the built-in renderer; pin it with model=\"\(card.id)\" or set allowBuiltin"))
        case .excludedByPolicy:
            let detail = policyExclusion(i)
            return Rejection(
                "excluded_by_policy", detail, error: AtelierError(.noRoute, "\(card.id) is excluded by the routing policy: \(detail)"))
        case .unavailable:
            let keys = card.allIDs + [card.provider]
            for k in keys { if let r = context.unavailable[k] { return r } }
            return Rejection("unavailable", "", error: AtelierError(.unavailable, "\(card.id) is unavailable", retryable: true))
        case .overBudget:
            let left = max(result.headroom?.remaining ?? 0, 0)
            var detail = "\(Self.usd(o.cost)) > \(Self.usd(left)) left"
            if let h = result.headroom { detail += " (tags.\(core.budgets[h.rule].tag)=\(h.value) \(h.period.rawValue))" }
            return Rejection("over_budget", detail, error: budgetError(cost: o.cost))
        case .priceUnknown:
            let why = result.headroom != nil ? "a budget applies to this task" : "the task sets requirements.maxCostUSD"
            return Rejection(
                "price_unknown", "ceiling \(Self.usd(o.cost))",
                error: AtelierError(
                    .requirementUnsatisfiable,
                    "\(card.id) has no known price and \(why); the routing policy refuses unknown prices (costs.unknownPrice)",
                    field: result.headroom != nil ? "/tags" : "/requirements/maxCostUSD", details: ["ceilingUSD": .number(o.cost)]))
        case .batchNotSupported, .deadlineTooShort, .deadlinePassed:
            return deadlineRejection(o.code, card: card)
        default:
            return Rejection(o.code.reason, "", error: AtelierError(.internalError, "\(card.id): \(o.code.reason)"))
        }
    }

    /// Which matched rule (or arm) removed model `i`.
    func policyExclusion(_ i: Int) -> String {
        let c = core.compiled
        let router = Router(core: core)
        for ri in router.matchedRules(task) {
            let r = c.rules[ri]
            var actions = [(r.actions, "rule '\(r.name)'")]
            if let s = r.split, Int(result.effective.splitRule) == ri {
                let a = s.arms[Int(result.effective.arm)]
                actions.insert((a.actions, "rule '\(r.name)' arm '\(a.name)'"), at: 0)
            }
            for (a, who) in actions {
                if let m = a.require, !m.contains(i) { return "\(who) requires \(a.requireText ?? "other models")" }
                if let m = a.exclude, m.contains(i) { return "\(who) excludes \(a.excludeText ?? "it")" }
            }
        }
        return "routing policy"
    }
}

extension Router {
    init(core: RouterCore) { self.core = core }
}
