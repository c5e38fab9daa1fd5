import Foundation

/// The result of routing a workload under several policies without calling any provider.
public struct SimulationReport: Sendable {
    /// How many tasks one model got under one policy.
    public struct MixEntry: Sendable, Equatable {
        public var model: String
        public var tasks: Int
        public var usd: Double
    }

    /// A count per reason.
    public struct ReasonCount: Sendable, Equatable {
        public var reason: String
        public var tasks: Int
    }

    /// A task no model could serve.
    public struct Unserved: Sendable, Equatable {
        /// 0-based position in the workload (line numbers differ when the file has blank lines).
        public var index: Int
        public var taskUUID: String
        public var code: String
        public var message: String
        /// model → "reason: detail".
        public var rejections: [(model: String, reason: String)]

        public static func == (a: Unserved, b: Unserved) -> Bool {
            a.index == b.index && a.taskUUID == b.taskUUID && a.code == b.code && a.message == b.message
                && a.rejections.map(\.model) == b.rejections.map(\.model) && a.rejections.map(\.reason) == b.rejections.map(\.reason)
        }
    }

    /// A routed task that breaks a hard constraint (the simulator re-checks every route independently; must be none).
    public struct Violation: Sendable, Equatable {
        public var index: Int
        public var taskUUID: String
        public var model: String
        public var what: String
    }

    /// One policy's results.
    public struct PolicyResult: Sendable {
        public var name: String
        public var tasks: Int
        public var routed: Int
        public var unserved: Int
        /// Total estimated cost of the routed tasks.
        public var totalUSD: Double
        /// Mean estimated cost per routed task.
        public var meanUSD: Double
        /// Models in catalog order, with their task counts and cost (only models that got tasks).
        public var modelMix: [MixEntry]
        /// Split arms, by name, when splits applied.
        public var armMix: [ReasonCount]
        /// Unserved tasks by error code (`no_route`, `budget_exceeded`, `unknown_model`, …).
        public var unservedByCode: [ReasonCount]
        /// For unserved tasks, how often each per-model reason blocked a model.
        public var blockingReasons: [ReasonCount]
        /// The first unserved tasks, with reasons.
        public var unservedExamples: [Unserved]
        public var violations: Int
        public var violationExamples: [Violation]
        /// The baseline's cost over the tasks both this policy routed and the baseline could price.
        public var baselineComparedUSD: Double?
        public var comparedTasks: Int
        /// What this policy saves against the baseline over the compared tasks (negative: it costs more).
        public var savingUSD: Double?
        public var savingPercent: Double?
        /// Routed tasks whose model has no known price: they are in ``totalUSD`` at the model's catalog ceiling.
        public var unknownPriceTasks: Int = 0
        /// The part of ``totalUSD`` counted at ceilings (unknown prices); the rest is estimated from dated catalog prices.
        public var unknownPriceUSD: Double = 0
        /// The part of ``totalUSD`` estimated from known catalog prices.
        public var estimatedUSD: Double { totalUSD - unknownPriceUSD }
        /// Routed tasks priced at their model's batch rate (their deadline leaves the batch turnaround).
        public var batchTasks: Int = 0
        /// What those tasks would have cost on the same models interactively, minus their batch cost.
        public var batchSavingUSD: Double = 0
    }

    public var tasks: Int
    public var baselineModel: String?
    /// The baseline's cost over every task it can price (a reproducible task is priced even on a model that ignores seeds:
    /// the baseline is a price reference, not a route).
    public var baselineUSD: Double?
    /// Tasks the baseline model cannot price (size, reference count, format, …).
    public var baselineUnpriced: Int
    public var policies: [PolicyResult]

    /// How many unserved examples each policy keeps.
    public static let exampleLimit = 50
}

/// Offline cost experiments: routes every task of a workload under each policy, without calling anyone.
public enum Simulator {
    /// Routes `workload` under each policy.
    /// - Parameters:
    ///   - baselineModel: a model id or alias to compare against ("everything on gemini-3-pro-image"); nil for none.
    ///   - context: availability (e.g. models without keys) applied to every task.
    ///   - applyBudgets: when true, budgets are enforced as if the whole workload ran within one day and one month,
    ///     starting from `context.spend`.
    public static func run(
        workload: [ImageTask], policies: [(name: String, policy: RoutingPolicy)], catalog: Catalog, baselineModel: String?,
        context: RoutingContext = RoutingContext(), applyBudgets: Bool = false
    ) -> SimulationReport {
        let compiledCatalog = CompiledCatalog(catalog)
        // Baseline prices, once.
        var baseline: [Double] = []
        var baselineUSD: Double?
        var unpriced = 0
        var baselineID: String?
        if let b = baselineModel {
            if let bi = compiledCatalog.nameIndex[b] {
                baselineID = catalog.models[bi].id
                baseline.reserveCapacity(workload.count)
                var total = 0.0
                for task in workload {
                    var f = TaskFacts(task)
                    f.reproducible = false
                    if let c = compiledCatalog.price(bi, &f, task.size).cost {
                        baseline.append(c)
                        total += c
                    } else {
                        baseline.append(.nan)
                        unpriced += 1
                    }
                }
                baselineUSD = total
            } else {
                baselineID = b
                unpriced = workload.count
                baseline = Array(repeating: .nan, count: workload.count)
                baselineUSD = nil
            }
        }
        var results: [SimulationReport.PolicyResult] = []
        for (name, policy) in policies {
            results.append(
                simulate(
                    workload, name: name, router: Router(catalog: catalog, policy: policy), baseline: baseline, context: context,
                    applyBudgets: applyBudgets))
        }
        return SimulationReport(
            tasks: workload.count, baselineModel: baselineID, baselineUSD: baselineUSD, baselineUnpriced: unpriced, policies: results)
    }

    static func simulate(
        _ workload: [ImageTask], name: String, router: Router, baseline: [Double], context: RoutingContext, applyBudgets: Bool
    ) -> SimulationReport.PolicyResult {
        let core = router.core
        let catalog = core.catalog
        let n = catalog.models.count
        var counts = [Int](repeating: 0, count: n)
        var costs = [Double](repeating: 0, count: n)
        var arms: [String: Int] = [:]
        var armOrder: [String] = []
        var byCode: [String: Int] = [:]
        var codeOrder: [String] = []
        var blocking = [Int](repeating: 0, count: Int(UInt8.max) + 1)
        var examples: [SimulationReport.Unserved] = []
        var violations: [SimulationReport.Violation] = []
        var violationCount = 0
        var routed = 0
        var total = 0.0
        var unknownTasks = 0
        var unknownUSD = 0.0
        var batchTasks = 0
        var batchSaving = 0.0
        var compared = 0
        var comparedBaseline = 0.0
        var comparedPolicy = 0.0
        var ctx = context
        var unavailableMask = ModelMask.none
        for (k, _) in context.unavailable { if let m = core.compiled.catalog.nameMasks[k] { unavailableMask = unavailableMask | m } }
        var buffer: [Outcome] = []
        buffer.reserveCapacity(n)

        for (ti, task) in workload.enumerated() {
            let r = router.run(task, context: ctx, into: &buffer)
            if r.effective.splitRule >= 0, let s = core.compiled.rules[Int(r.effective.splitRule)].split {
                let a = s.arms[Int(r.effective.arm)].name
                if arms[a] == nil { armOrder.append(a) }
                arms[a, default: 0] += 1
            }
            if r.eligible > 0 {
                let o = buffer[0]
                let i = Int(o.model)
                routed += 1
                counts[i] += 1
                costs[i] += o.cost
                total += o.cost
                if !core.compiled.catalog.models[i].priceKnown {
                    unknownTasks += 1
                    unknownUSD += o.cost
                }
                if o.batch {
                    batchTasks += 1
                    batchSaving += catalog.models[i].estimatedCost(task, size: o.size) - o.cost
                }
                if !baseline.isEmpty, !baseline[ti].isNaN {
                    compared += 1
                    comparedBaseline += baseline[ti]
                    comparedPolicy += o.cost
                }
                if applyBudgets && !core.budgets.isEmpty { ctx.spend.record(o.cost, task: task, budgets: core.budgets) }
                // Independent re-check of the hard constraints with the reference implementation.
                let card = catalog.models[i]
                var problems: [String] = []
                switch card.check(task) {
                case .failure(let rej): problems.append("model check fails: \(rej)")
                case .success(let size):
                    if size != o.size { problems.append("size \(o.size.pixels) differs from the model's \(size.pixels)") }
                    let ref = o.batch ? card.estimatedBatchCost(task, size: size) : card.estimatedCost(task, size: size)
                    if abs(ref - o.cost) > 1e-9 { problems.append("estimate \(o.cost) differs from \(ref)") }
                    if let cap = task.requirements.maxCostUSD, ref > cap + 1e-9 { problems.append("cost \(ref) over maxCostUSD \(cap)") }
                }
                if task.requirements.reproducible && !card.seedHonored { problems.append("reproducible task on a model that ignores seeds") }
                if task.model == "auto" && card.builtin && !core.compiled.allowBuiltin {
                    problems.append("builtin model chosen without allowBuiltin")
                }
                if unavailableMask.contains(i) { problems.append("unavailable model chosen") }
                if task.model == "auto" && !r.effective.policyMask.contains(i) { problems.append("model excluded by the policy chosen") }
                if !problems.isEmpty {
                    violationCount += 1
                    if violations.count < SimulationReport.exampleLimit {
                        violations.append(.init(index: ti, taskUUID: task.taskUUID, model: card.id, what: problems.joined(separator: "; ")))
                    }
                }
            } else {
                let code: String
                if r.pinnedUnknown {
                    code = ErrorCode.unknownModel.rawValue
                } else if r.pinned {
                    code = RouteDecision(core: core, task: task, context: ctx, outcomes: buffer, result: r).error?.code.rawValue ?? "no_route"
                } else if buffer.contains(where: { $0.code == .overBudget }) {
                    code = ErrorCode.budgetExceeded.rawValue
                } else {
                    code = ErrorCode.noRoute.rawValue
                }
                if byCode[code] == nil { codeOrder.append(code) }
                byCode[code, default: 0] += 1
                for o in buffer { blocking[Int(o.code.rawValue)] += 1 }
                if examples.count < SimulationReport.exampleLimit {
                    let d = RouteDecision(core: core, task: task, context: ctx, outcomes: buffer, result: r)
                    let e = d.error
                    examples.append(
                        .init(
                            index: ti, taskUUID: task.taskUUID, code: e?.code.rawValue ?? code, message: e?.message ?? "",
                            rejections: d.rejected.map { ($0.model, $0.rejection.description) }))
                }
            }
        }
        var mix: [SimulationReport.MixEntry] = []
        for i in 0..<n where counts[i] > 0 { mix.append(.init(model: catalog.models[i].id, tasks: counts[i], usd: costs[i])) }
        var blockingReasons: [SimulationReport.ReasonCount] = []
        for (k, c) in blocking.enumerated() where c > 0 {
            if let code = RouteCode(rawValue: UInt8(k)), code != .ok { blockingReasons.append(.init(reason: code.reason, tasks: c)) }
        }
        blockingReasons.sort { $0.tasks > $1.tasks }
        let hasBaseline = !baseline.isEmpty
        let saving = hasBaseline ? comparedBaseline - comparedPolicy : nil
        var result = SimulationReport.PolicyResult(
            name: name, tasks: workload.count, routed: routed, unserved: workload.count - routed, totalUSD: total,
            meanUSD: routed > 0 ? total / Double(routed) : 0, modelMix: mix,
            armMix: armOrder.map { .init(reason: $0, tasks: arms[$0]!) }, unservedByCode: codeOrder.map { .init(reason: $0, tasks: byCode[$0]!) },
            blockingReasons: blockingReasons, unservedExamples: examples, violations: violationCount, violationExamples: violations,
            baselineComparedUSD: hasBaseline ? comparedBaseline : nil, comparedTasks: compared, savingUSD: saving,
            savingPercent: hasBaseline && comparedBaseline > 0 ? (saving! / comparedBaseline) * 100 : nil)
        result.unknownPriceTasks = unknownTasks
        result.unknownPriceUSD = unknownUSD
        result.batchTasks = batchTasks
        result.batchSavingUSD = batchSaving
        return result
    }
}

// MARK: - Rendering

extension SimulationReport {
    static func money(_ d: Double) -> String { String(format: "$%.4f", d) }
    static func round(_ d: Double, _ places: Double = 1e6) -> JSONValue { .number((d * places).rounded() / places) }

    /// `{tasks, baseline: {model, totalUSD, unpricedTasks}, policies: [{name, tasks, routed, unserved, totalUSD, meanUSD,
    /// violations, modelMix, armMix, unservedByCode, blockingReasons, unserved, violationExamples, baseline}]}`.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("tasks", .int(Int64(tasks)))
        if let b = baselineModel {
            o.append(
                "baseline",
                [
                    "model": .string(b), "totalUSD": baselineUSD.map { Self.round($0) } ?? .null, "unpricedTasks": .int(Int64(baselineUnpriced)),
                ])
        } else {
            o.append("baseline", .null)
        }
        o.append(
            "policies",
            .array(
                policies.map { p in
                    var x = JSONObject()
                    x.append("name", .string(p.name))
                    x.append("tasks", .int(Int64(p.tasks)))
                    x.append("routed", .int(Int64(p.routed)))
                    x.append("unserved", .int(Int64(p.unserved)))
                    x.append("totalUSD", Self.round(p.totalUSD))
                    // How much of the total is estimated from dated prices, and how much counts unknown prices at ceilings.
                    x.append("estimatedUSD", Self.round(p.estimatedUSD))
                    x.append("unknownPrice", ["tasks": .int(Int64(p.unknownPriceTasks)), "ceilingUSD": Self.round(p.unknownPriceUSD)])
                    x.append("meanUSD", Self.round(p.meanUSD))
                    // Tasks priced at a batch rate (deadline routing) and what that saves against the same models interactively.
                    if p.batchTasks > 0 { x.append("batch", ["tasks": .int(Int64(p.batchTasks)), "savingUSD": Self.round(p.batchSavingUSD)]) }
                    x.append("violations", .int(Int64(p.violations)))
                    x.append(
                        "modelMix",
                        .array(
                            p.modelMix.map {
                                [
                                    "model": .string($0.model), "tasks": .int(Int64($0.tasks)),
                                    "share": Self.round(Double($0.tasks) / Double(max(p.tasks, 1)), 1e4),
                                    "totalUSD": Self.round($0.usd),
                                ]
                            }))
                    x.append("armMix", .array(p.armMix.map { ["arm": .string($0.reason), "tasks": .int(Int64($0.tasks))] }))
                    x.append("unservedByCode", .array(p.unservedByCode.map { ["code": .string($0.reason), "tasks": .int(Int64($0.tasks))] }))
                    x.append("blockingReasons", .array(p.blockingReasons.map { ["reason": .string($0.reason), "models": .int(Int64($0.tasks))] }))
                    x.append(
                        "unservedExamples",
                        .array(
                            p.unservedExamples.map { u in
                                var r = JSONObject()
                                for (m, why) in u.rejections { r.append(m, .string(why)) }
                                return [
                                    "index": .int(Int64(u.index)), "taskUUID": .string(u.taskUUID), "code": .string(u.code),
                                    "message": .string(u.message),
                                    "rejections": .object(r),
                                ]
                            }))
                    x.append(
                        "violationExamples",
                        .array(
                            p.violationExamples.map {
                                [
                                    "index": .int(Int64($0.index)), "taskUUID": .string($0.taskUUID), "model": .string($0.model),
                                    "what": .string($0.what),
                                ]
                            }))
                    if let s = p.savingUSD {
                        x.append(
                            "baseline",
                            [
                                "comparedTasks": .int(Int64(p.comparedTasks)), "baselineUSD": Self.round(p.baselineComparedUSD ?? 0),
                                "savingUSD": Self.round(s), "savingPercent": p.savingPercent.map { Self.round($0, 100) } ?? .null,
                            ])
                    } else {
                        x.append("baseline", .null)
                    }
                    return .object(x)
                }))
        return .object(o)
    }

    /// One row per policy: the totals, then one `model:<id>` column per model that got tasks under any policy.
    public var csv: String {
        var models: [String] = []
        for p in policies { for m in p.modelMix where !models.contains(m.model) { models.append(m.model) } }
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var header = [
            "policy", "tasks", "routed", "unserved", "total_usd", "mean_usd", "violations", "baseline_model", "baseline_usd", "compared_tasks",
            "saving_usd", "saving_pct", "unknown_price_tasks", "unknown_price_ceiling_usd",
        ]
        header += models.map { "model:" + $0 }
        var lines = [header.map(field).joined(separator: ",")]
        for p in policies {
            var row = [
                p.name, "\(p.tasks)", "\(p.routed)", "\(p.unserved)", String(format: "%.6f", p.totalUSD), String(format: "%.6f", p.meanUSD),
                "\(p.violations)", baselineModel ?? "", p.baselineComparedUSD.map { String(format: "%.6f", $0) } ?? "",
                p.savingUSD == nil ? "" : "\(p.comparedTasks)", p.savingUSD.map { String(format: "%.6f", $0) } ?? "",
                p.savingPercent.map { String(format: "%.2f", $0) } ?? "", "\(p.unknownPriceTasks)", String(format: "%.6f", p.unknownPriceUSD),
            ]
            row += models.map { m in "\(p.modelMix.first { $0.model == m }?.tasks ?? 0)" }
            lines.append(row.map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A side-by-side table for people.
    public var table: String {
        var labels = [
            "hard-constraint violations", "  tasks the baseline cannot price", "saving vs baseline", "  unknown prices, at ceiling",
        ]
        if let b = baselineModel { labels.append("baseline: everything on \(b)") }
        for p in policies {
            labels += p.modelMix.map { "  " + $0.model } + p.armMix.map { "  " + $0.reason } + p.unservedByCode.map { "  " + $0.reason }
        }
        let labelWidth = labels.map(\.count).max()! + 2
        let colWidth = max(22, (policies.map { $0.name.count + 2 }).max() ?? 0)
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }
        func row(_ label: String, _ cells: [String]) -> String {
            var line = pad(label, labelWidth) + cells.map { pad($0, colWidth) }.joined()
            while line.last == " " { line.removeLast() }
            return line
        }
        func pct(_ a: Int, _ b: Int) -> String { b == 0 ? "0%" : String(format: "%.1f%%", Double(a) / Double(b) * 100) }
        var out: [String] = []
        out.append(row("policy", policies.map(\.name)))
        out.append(String(repeating: "-", count: labelWidth + colWidth * policies.count))
        out.append(row("tasks", policies.map { "\($0.tasks)" }))
        out.append(row("routed", policies.map { "\($0.routed)" }))
        out.append(row("unserved", policies.map { "\($0.unserved)" }))
        out.append(row("total estimated cost", policies.map { Self.money($0.totalUSD) }))
        if policies.contains(where: { $0.unknownPriceTasks > 0 }) {
            out.append(row("  from dated prices", policies.map { Self.money($0.estimatedUSD) }))
            out.append(
                row("  unknown prices, at ceiling", policies.map { "\(Self.money($0.unknownPriceUSD)) (\($0.unknownPriceTasks) tasks)" }))
        }
        out.append(row("mean per routed task", policies.map { Self.money($0.meanUSD) }))
        if policies.contains(where: { $0.batchTasks > 0 }) {
            out.append(row("  batched (deadline allows)", policies.map { "\($0.batchTasks) tasks" }))
            out.append(row("  saving by batching", policies.map { Self.money($0.batchSavingUSD) }))
        }
        out.append(row("hard-constraint violations", policies.map { "\($0.violations)" }))
        if let b = baselineModel {
            out.append(row("baseline: everything on \(b)", policies.map { p in p.baselineComparedUSD.map { Self.money($0) } ?? "n/a" }))
            out.append(row("  tasks compared", policies.map { p in p.savingUSD == nil ? "n/a" : "\(p.comparedTasks)" }))
            out.append(
                row(
                    "saving vs baseline",
                    policies.map { p in
                        guard let s = p.savingUSD else { return "n/a" }
                        return Self.money(s) + (p.savingPercent.map { String(format: " (%.1f%%)", $0) } ?? "")
                    }))
            if baselineUnpriced > 0 { out.append(row("  tasks the baseline cannot price", policies.map { _ in "\(baselineUnpriced)" })) }
        }
        var models: [String] = []
        for p in policies { for m in p.modelMix where !models.contains(m.model) { models.append(m.model) } }
        if !models.isEmpty {
            out.append("")
            out.append("model mix (tasks, share, cost)")
            for m in models {
                out.append(
                    row(
                        "  " + m,
                        policies.map { p in
                            guard let e = p.modelMix.first(where: { $0.model == m }) else { return "-" }
                            return "\(e.tasks) \(pct(e.tasks, p.tasks)) \(Self.money(e.usd))"
                        }))
            }
        }
        var arms: [String] = []
        for p in policies { for a in p.armMix where !arms.contains(a.reason) { arms.append(a.reason) } }
        if !arms.isEmpty {
            out.append("")
            out.append("split arms (tasks)")
            for a in arms { out.append(row("  " + a, policies.map { p in "\(p.armMix.first { $0.reason == a }?.tasks ?? 0)" })) }
        }
        if policies.contains(where: { $0.unserved > 0 }) {
            out.append("")
            out.append("unserved tasks")
            var codes: [String] = []
            for p in policies { for c in p.unservedByCode where !codes.contains(c.reason) { codes.append(c.reason) } }
            for c in codes { out.append(row("  " + c, policies.map { p in "\(p.unservedByCode.first { $0.reason == c }?.tasks ?? 0)" })) }
            for p in policies where !p.unservedExamples.isEmpty {
                out.append("")
                out.append("unserved under \(p.name) (first \(min(p.unservedExamples.count, 10)) of \(p.unserved)):")
                for u in p.unservedExamples.prefix(10) {
                    out.append("  #\(u.index) \(u.taskUUID): \(u.code): \(u.message)")
                }
            }
        }
        if policies.contains(where: { $0.violations > 0 }) {
            out.append("")
            out.append("HARD-CONSTRAINT VIOLATIONS (must be 0):")
            for p in policies { for v in p.violationExamples { out.append("  \(p.name) #\(v.index) \(v.taskUUID) on \(v.model): \(v.what)") } }
        }
        return out.joined(separator: "\n") + "\n"
    }
}
