import Foundation

/// What breaks ties after the task's needs, the rule's `prefer` list and the phase.
public enum RoutingObjective: String, Sendable, Hashable, CaseIterable {
    /// Lowest estimated cost.
    case cheapest
    /// Lowest typical latency.
    case fastest
    /// Highest quality grade.
    case quality
}

/// The actions of a rule (or of a split arm), compiled against a catalog.
struct CompiledActions: Sendable {
    /// Models that may serve (nil: no restriction).
    var require: ModelMask?
    var requireText: String?
    /// Models that may not serve.
    var exclude: ModelMask?
    var excludeText: String?
    /// Index into ``CompiledPolicy/preferLists``, or -1.
    var prefer: Int32 = -1
    var objective: RoutingObjective?
    var fallbackMax: Int?
    var afterRefusal: Bool?

    var isEmpty: Bool {
        require == nil && exclude == nil && prefer < 0 && objective == nil && fallbackMax == nil && afterRefusal == nil
    }
}

struct CompiledArm: Sendable {
    var name: String
    var weight: Double
    var actions: CompiledActions
}

struct CompiledSplit: Sendable {
    var key: PredicateField
    var salt: String
    /// FNV-1a state after hashing `salt + ":"`, so that hashing a key costs only the key's bytes.
    var saltState: UInt64
    /// Running totals of the arm weights.
    var cumulative: [Double]
    var total: Double
    var arms: [CompiledArm]

    /// The arm for `task`: `StableHash.fnv1a64(salt + ":" + key)` scaled to the total weight. An absent key hashes the
    /// taskUUID instead.
    @inline(__always)
    func arm(for task: ImageTask) -> Int {
        var h = saltState
        if let s = key.keyString(of: task) {
            for b in s.utf8 {
                h ^= UInt64(b)
                h &*= 0x0000_0100_0000_01B3
            }
        } else {
            for b in task.taskUUID.utf8 {
                h ^= UInt64(b)
                h &*= 0x0000_0100_0000_01B3
            }
        }
        return armIndex(unit: Double(StableHash.mix(h) >> 11) * 0x1p-53)
    }

    @inline(__always)
    func armIndex(unit u: Double) -> Int {
        let x = u * total
        for (i, c) in cumulative.enumerated() where x < c { return i }
        return cumulative.count - 1
    }
}

struct CompiledRule: Sendable {
    var name: String
    var pointer: String
    var when: Predicate
    var actions: CompiledActions
    var split: CompiledSplit?
    var stop: Bool
}

/// A routing policy compiled against one catalog: model ids resolved to indices, selectors to masks, regexes compiled.
final class CompiledPolicy: Sendable {
    let catalog: CompiledCatalog
    let rules: [CompiledRule]
    /// Per `prefer` list: the position of each model (by catalog index), `Int32.max` when unlisted.
    let preferPositions: [[Int32]]
    let preferIDs: [[String]]
    let allowBuiltin: Bool
    let objective: RoutingObjective
    let fallbackMax: Int
    let afterRefusal: Bool
    /// Every routable index (the first ``ModelMask/capacity`` models).
    let allMask: ModelMask
    let builtinMask: ModelMask

    init(
        catalog: CompiledCatalog, rules: [CompiledRule], preferPositions: [[Int32]], preferIDs: [[String]], allowBuiltin: Bool,
        objective: RoutingObjective, fallbackMax: Int, afterRefusal: Bool
    ) {
        self.catalog = catalog
        self.rules = rules
        self.preferPositions = preferPositions
        self.preferIDs = preferIDs
        self.allowBuiltin = allowBuiltin
        self.objective = objective
        self.fallbackMax = fallbackMax
        self.afterRefusal = afterRefusal
        self.allMask = ModelMask.all(catalog.count)
        var b = ModelMask.none
        for (i, m) in catalog.models.enumerated() where m.builtin && i < ModelMask.capacity { b.insert(i) }
        self.builtinMask = b
    }
}

/// A parsed, validated and precompiled `routing.json`.
///
/// The format is documented in `docs/routing.md`. Loading reports every problem at once (file, JSON pointer, hint);
/// unknown members are errors. A policy is compiled against the catalog it was loaded with; ``Router`` recompiles it
/// when handed a different catalog.
public struct RoutingPolicy: Sendable {
    /// Per-tag daily/monthly caps in USD.
    public var budgets: [BudgetRule]
    /// Where the policy came from.
    public let file: String
    /// The document as loaded (for `routing.get` and recompilation).
    public let source: JSONValue
    let compiled: CompiledPolicy

    /// Whether `model: "auto"` may pick the built-in renderer.
    public var allowBuiltin: Bool { compiled.allowBuiltin }
    /// The policy-wide objective (rules may override it).
    public var objective: RoutingObjective { compiled.objective }
    /// The rule names, in order.
    public var ruleNames: [String] { compiled.rules.map(\.name) }
    /// The policy-wide fallback limit.
    public var maxFallbacks: Int { compiled.fallbackMax }

    init(budgets: [BudgetRule], file: String, source: JSONValue, compiled: CompiledPolicy) {
        self.budgets = budgets
        self.file = file
        self.source = source
        self.compiled = compiled
    }

    /// Reads, validates and compiles a routing file.
    public static func load(path: String, catalog: Catalog) throws(ConfigError) -> RoutingPolicy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError([ConfigIssue(file: path, pointer: "", message: "cannot read the routing file")])
        }
        return try parse(data: data, file: path, catalog: catalog)
    }

    /// Parses routing JSON bytes.
    public static func parse(data: Data, file: String, catalog: Catalog) throws(ConfigError) -> RoutingPolicy {
        let value: JSONValue
        do {
            value = try JSONParser.parse(data)
        } catch {
            let (line, column) = Self.lineColumn(data, offset: error.offset)
            throw ConfigError([
                ConfigIssue(
                    file: file, pointer: "", message: "\(error.description) (line \(line), column \(column))",
                    hint: "routing.json must be strict JSON: no comments, no trailing commas")
            ])
        }
        return try parse(value, file: file, catalog: catalog)
    }

    /// Validates and compiles a parsed routing document against `catalog`.
    public static func parse(_ json: JSONValue, file: String, catalog: Catalog) throws(ConfigError) -> RoutingPolicy {
        var p = RoutingPolicyParser(file: file, catalog: catalog, lenient: false)
        let policy = p.parse(json)
        if !p.issues.isEmpty { throw ConfigError(p.issues) }
        return policy!
    }

    /// A policy with no rules: cheapest model that does the job, up to 3 fallbacks, builtin only when allowed.
    public static func empty(catalog: Catalog, allowBuiltin: Bool = false) -> RoutingPolicy {
        var p = RoutingPolicyParser(file: "<empty>", catalog: catalog, lenient: true)
        return p.parse(["version": 1, "allowBuiltin": .bool(allowBuiltin)])!
    }

    /// The same policy compiled for another catalog; ids the catalog lacks are dropped.
    func recompiled(for catalog: Catalog) -> RoutingPolicy {
        var p = RoutingPolicyParser(file: file, catalog: catalog, lenient: true)
        var out = p.parse(source) ?? RoutingPolicy.empty(catalog: catalog)
        out.budgets = budgets
        return out
    }

    static func lineColumn(_ data: Data, offset: Int) -> (Int, Int) {
        var line = 1
        var col = 1
        for (i, b) in data.enumerated() {
            if i >= offset { break }
            if b == 0x0A {
                line += 1
                col = 1
            } else {
                col += 1
            }
        }
        return (line, col)
    }
}

// MARK: - Parser

/// Reads a routing document, collecting every issue.
struct RoutingPolicyParser {
    let file: String
    let catalog: Catalog
    let compiledCatalog: CompiledCatalog
    /// Recompiling for another catalog: unknown model/provider ids are dropped instead of reported.
    let lenient: Bool
    var issues: [ConfigIssue] = []
    var preferPositions: [[Int32]] = []
    var preferIDs: [[String]] = []

    init(file: String, catalog: Catalog, lenient: Bool) {
        self.file = file
        self.catalog = catalog
        self.compiledCatalog = CompiledCatalog(catalog)
        self.lenient = lenient
    }

    static let topKeys = ["version", "description", "allowBuiltin", "objective", "fallbacks", "rules", "budgets"]
    static let ruleKeys = ["name", "description", "when", "require", "exclude", "prefer", "objective", "fallbacks", "split", "stop"]
    static let armKeys = ["name", "description", "weight", "require", "exclude", "prefer", "objective", "fallbacks"]
    static let splitKeys = ["key", "salt", "arms"]
    static let selectorKeys = [
        "models", "providers", "kinds", "statuses", "seedHonored", "builtin", "minTextRendering", "minQuality", "maxLatencySeconds",
        "safetyPolicies",
    ]
    static let fallbackKeys = ["max", "afterRefusal"]
    static let budgetKeys = ["tag", "value", "dailyUSD", "monthlyUSD", "description"]
    static let operatorKeys = ["eq", "ne", "in", "notIn", "min", "max", "matches", "exists"]

    mutating func issue(_ pointer: String, _ message: String, hint: String? = nil) {
        issues.append(ConfigIssue(file: file, pointer: pointer, message: message, hint: hint))
    }

    /// The object at `pointer`, reporting a type error or unknown members.
    mutating func object(_ v: JSONValue, _ pointer: String, known: [String], what: String) -> JSONObject? {
        guard case .object(let o) = v else {
            issue(pointer, "\(what) must be an object, not \(v.typeName)")
            return nil
        }
        for k in o.keys where !known.contains(k) {
            issue(
                JSONPointer.appending(k, to: pointer), "unknown field '\(k)' in \(what)",
                hint: Self.suggestion(k, known).map { "did you mean '\($0)'? " } .map { $0 + "unknown fields are errors, not ignored" }
                    ?? "allowed: \(known.joined(separator: ", ")); unknown fields are errors, not ignored")
        }
        return o
    }

    /// The closest of `candidates` to `word` (edit distance ≤ 2, or a case-insensitive match).
    static func suggestion(_ word: String, _ candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            if a.isEmpty { return b.count }
            if b.isEmpty { return a.count }
            var prev = Array(0...b.count)
            var cur = prev
            for i in 1...a.count {
                cur[0] = i
                for j in 1...b.count {
                    cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                swap(&prev, &cur)
            }
            return prev[b.count]
        }
        let w = Array(word.lowercased())
        var best: (String, Int)?
        let lw = word.lowercased()
        for c in candidates {
            let lc = c.lowercased()
            let d = distance(w, Array(lc))
            let close = d <= max(2, w.count / 4) || (lw.count >= 3 && (lc.hasPrefix(lw) || lw.hasPrefix(lc)))
            if close, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    mutating func parse(_ json: JSONValue) -> RoutingPolicy? {
        if catalog.models.count > ModelMask.capacity {
            issue("", "the catalog has \(catalog.models.count) models; routing supports at most \(ModelMask.capacity)")
        }
        guard let top = object(json, "", known: Self.topKeys, what: "the routing document") else { return nil }
        if let v = top["version"], v.intValue != 1 {
            issue("/version", "unsupported version \(v)", hint: "this Atelier reads version 1")
        }
        if let d = top["description"], d.stringValue == nil { issue("/description", "description must be a string") }
        var allowBuiltin = false
        if let v = top["allowBuiltin"] {
            if let b = v.boolValue { allowBuiltin = b } else { issue("/allowBuiltin", "allowBuiltin must be true or false") }
        }
        let objective = top["objective"].flatMap { parseObjective($0, "/objective") } ?? .cheapest
        var fallbackMax = 3
        var afterRefusal = false
        if let v = top["fallbacks"] {
            let (m, a) = parseFallbacks(v, "/fallbacks")
            fallbackMax = m ?? fallbackMax
            afterRefusal = a ?? afterRefusal
        }
        var rules: [CompiledRule] = []
        if let v = top["rules"] {
            if case .array(let arr) = v {
                var names: [String: String] = [:]
                for (i, rv) in arr.enumerated() {
                    let p = "/rules/\(i)"
                    guard let r = parseRule(rv, p, allowBuiltin: allowBuiltin) else { continue }
                    if let other = names[r.name] {
                        issue(p + "/name", "rule name '\(r.name)' is already used at \(other)", hint: "rule names must be unique; reasons and explain name rules")
                    } else {
                        names[r.name] = p
                    }
                    rules.append(r)
                }
                // A rule after a catch-all `stop` rule is never reached.
                if let stopper = rules.firstIndex(where: { $0.stop && $0.when.isAlways }) {
                    for r in rules[(stopper + 1)...] {
                        issue(
                            r.pointer, "rule '\(r.name)' can never match: rule '\(rules[stopper].name)' (\(rules[stopper].pointer)) matches every task and stops",
                            hint: "move this rule above '\(rules[stopper].name)', or give that rule a 'when'")
                    }
                }
            } else {
                issue("/rules", "rules must be an array of rule objects, not \(v.typeName)")
            }
        }
        var budgets: [BudgetRule] = []
        if let v = top["budgets"] {
            if case .array(let arr) = v {
                for (i, bv) in arr.enumerated() {
                    if let b = parseBudget(bv, "/budgets/\(i)") {
                        if let dup = budgets.first(where: { $0.tag == b.tag && $0.value == b.value }) {
                            issue(b.pointer, "a budget for tags.\(b.tag)\(b.value.map { "=\($0)" } ?? "") is already defined at \(dup.pointer)",
                                  hint: "merge the two; one rule can carry dailyUSD and monthlyUSD")
                        } else {
                            budgets.append(b)
                        }
                    }
                }
            } else {
                issue("/budgets", "budgets must be an array, not \(v.typeName)")
            }
        }
        let compiled = CompiledPolicy(
            catalog: compiledCatalog, rules: rules, preferPositions: preferPositions, preferIDs: preferIDs, allowBuiltin: allowBuiltin,
            objective: objective, fallbackMax: fallbackMax, afterRefusal: afterRefusal)
        return RoutingPolicy(budgets: budgets, file: file, source: json, compiled: compiled)
    }

    mutating func parseObjective(_ v: JSONValue, _ p: String) -> RoutingObjective? {
        guard let s = v.stringValue, let o = RoutingObjective(rawValue: s) else {
            issue(p, "objective must be one of cheapest, fastest, quality, not \(v)", hint: "allowed: cheapest, fastest, quality")
            return nil
        }
        return o
    }

    mutating func parseFallbacks(_ v: JSONValue, _ p: String) -> (Int?, Bool?) {
        guard let o = object(v, p, known: Self.fallbackKeys, what: "fallbacks") else { return (nil, nil) }
        var m: Int?
        var a: Bool?
        if let x = o["max"] {
            if let i = x.intValue, (0...20).contains(i) { m = Int(i) } else {
                issue(p + "/max", "fallbacks.max must be an integer from 0 to 20, not \(x)", hint: "0 disables fallbacks")
            }
        }
        if let x = o["afterRefusal"] {
            if let b = x.boolValue { a = b } else { issue(p + "/afterRefusal", "afterRefusal must be true or false") }
        }
        return (m, a)
    }

    mutating func parseBudget(_ v: JSONValue, _ p: String) -> BudgetRule? {
        guard let o = object(v, p, known: Self.budgetKeys, what: "a budget") else { return nil }
        let before = issues.count
        var rule = BudgetRule(tag: "", pointer: p)
        if let t = o["tag"]?.stringValue, !t.isEmpty {
            rule.tag = t.hasPrefix("tags.") ? String(t.dropFirst(5)) : t
        } else {
            issue(p + "/tag", "a budget needs a tag name (e.g. \"client\" for tags.client)")
        }
        if let x = o["value"] {
            if let s = x.stringValue { rule.value = s } else { issue(p + "/value", "value must be a string (a tag value)") }
        }
        for key in ["dailyUSD", "monthlyUSD"] {
            guard let x = o[key] else { continue }
            guard let d = x.doubleValue, d >= 0, d.isFinite else {
                issue(p + "/" + key, "\(key) must be a number of dollars, zero or more, not \(x)")
                continue
            }
            if key == "dailyUSD" { rule.dailyUSD = d } else { rule.monthlyUSD = d }
        }
        if o["dailyUSD"] == nil && o["monthlyUSD"] == nil {
            issue(p, "a budget needs dailyUSD, monthlyUSD or both", hint: "e.g. {\"tag\": \"client\", \"dailyUSD\": 50}")
        }
        return issues.count == before ? rule : nil
    }

    // MARK: Rules

    mutating func parseRule(_ v: JSONValue, _ p: String, allowBuiltin: Bool) -> CompiledRule? {
        guard let o = object(v, p, known: Self.ruleKeys, what: "a rule") else { return nil }
        let before = issues.count
        var name = "rule \(p.split(separator: "/").last ?? "")"
        if let n = o["name"]?.stringValue, !n.isEmpty {
            name = n
        } else {
            issue(p + "/name", "a rule needs a non-empty name", hint: "names appear in route reasons and explain output")
        }
        if let d = o["description"], d.stringValue == nil { issue(p + "/description", "description must be a string") }
        var when = Predicate.always
        if let w = o["when"] {
            let whenStart = issues.count
            when = parseWhen(w, p + "/when")
            if issues.count == whenStart, let why = when.contradiction {
                issue(p + "/when", "rule '\(name)' can never match: \(why)", hint: "a rule that matches nothing is almost always a mistake; fix or delete it")
            }
        }
        let actions = parseActions(o, p)
        var split: CompiledSplit?
        if let s = o["split"] { split = parseSplit(s, p + "/split", ruleName: name) }
        var stop = false
        if let s = o["stop"] {
            if let b = s.boolValue { stop = b } else { issue(p + "/stop", "stop must be true or false") }
        }
        if actions.isEmpty && split == nil && !stop && issues.count == before {
            issue(p, "rule '\(name)' has no action", hint: "add require, exclude, prefer, objective, fallbacks, split or stop")
        }
        // A rule whose require/exclude leave no model can never route anything it matches.
        if issues.count == before {
            let reproducible = when.impliesTrue(.reproducible)
            let arms = split?.arms.map(\.actions) ?? [CompiledActions()]
            for (k, arm) in arms.enumerated() {
                var mask = ModelMask.all(compiledCatalog.count)
                for (i, m) in compiledCatalog.models.enumerated() where m.retired || (m.builtin && !allowBuiltin) || (reproducible && !m.seedHonored) {
                    mask.remove(i)
                }
                for a in [actions, arm] {
                    if let r = a.require { mask = mask & r }
                    if let e = a.exclude { mask = mask.subtracting(e) }
                }
                if mask.isEmpty {
                    let where_ = split == nil ? "" : " in arm '\(split!.arms[k].name)'"
                    issue(
                        split == nil ? p : p + "/split/arms/\(k)",
                        "rule '\(name)'\(where_) leaves no model to route to\(reproducible ? " for the reproducible tasks it matches" : "")",
                        hint: "its require/exclude remove every active model in the catalog"
                            + (reproducible ? " that honours seeds" : "") + (allowBuiltin ? "" : " (builtin models count only with allowBuiltin)"))
                }
            }
        }
        return CompiledRule(name: name, pointer: p, when: when, actions: actions, split: split, stop: stop)
    }

    mutating func parseActions(_ o: JSONObject, _ p: String) -> CompiledActions {
        var a = CompiledActions()
        if let r = o["require"] {
            if let (m, text) = parseSelectors(r, p + "/require") {
                a.require = m
                a.requireText = text
            }
        }
        if let e = o["exclude"] {
            if let (m, text) = parseSelectors(e, p + "/exclude") {
                a.exclude = m
                a.excludeText = text
            }
        }
        if let pv = o["prefer"] { a.prefer = parsePrefer(pv, p + "/prefer") }
        if let ov = o["objective"] { a.objective = parseObjective(ov, p + "/objective") }
        if let fv = o["fallbacks"] {
            let (m, r) = parseFallbacks(fv, p + "/fallbacks")
            a.fallbackMax = m
            a.afterRefusal = r
        }
        return a
    }

    mutating func resolveModel(_ v: JSONValue, _ p: String) -> Int? {
        guard let id = v.stringValue else {
            issue(p, "a model id must be a string, not \(v.typeName)")
            return nil
        }
        if let i = compiledCatalog.nameIndex[id] { return i }
        if !lenient {
            let ids = catalog.models.flatMap(\.allIDs)
            issue(
                p, "unknown model id '\(id)'",
                hint: Self.suggestion(id, ids).map { "did you mean '\($0)'?" } ?? "known models: \(catalog.models.map(\.id).joined(separator: ", "))")
        }
        return nil
    }

    mutating func parsePrefer(_ v: JSONValue, _ p: String) -> Int32 {
        guard case .array(let arr) = v, !arr.isEmpty else {
            issue(p, "prefer must be a non-empty array of model ids, best first")
            return -1
        }
        var positions = [Int32](repeating: .max, count: compiledCatalog.count)
        var ids: [String] = []
        for (k, x) in arr.enumerated() {
            guard let i = resolveModel(x, p + "/\(k)") else { continue }
            if positions[i] != .max {
                issue(p + "/\(k)", "model '\(catalog.models[i].id)' is listed twice in prefer")
                continue
            }
            positions[i] = Int32(ids.count)
            ids.append(catalog.models[i].id)
        }
        preferPositions.append(positions)
        preferIDs.append(ids)
        return Int32(preferPositions.count - 1)
    }

    /// A selector or an array of selectors (a model matches the array when it matches any of them).
    mutating func parseSelectors(_ v: JSONValue, _ p: String) -> (ModelMask, String)? {
        if case .array(let arr) = v {
            if arr.isEmpty {
                issue(p, "an empty list selects no model", hint: "give one selector object, or a list of them")
                return nil
            }
            var mask = ModelMask.none
            var texts: [String] = []
            for (k, x) in arr.enumerated() {
                if let (m, t) = parseSelector(x, p + "/\(k)") {
                    mask = mask | m
                    texts.append(t)
                }
            }
            return (mask, texts.joined(separator: " or "))
        }
        return parseSelector(v, p)
    }

    /// One selector: a model matches when it satisfies every member.
    mutating func parseSelector(_ v: JSONValue, _ p: String) -> (ModelMask, String)? {
        guard let o = object(v, p, known: Self.selectorKeys, what: "a model selector") else { return nil }
        let before = issues.count
        let models = catalog.models
        var mask = ModelMask.all(models.count)
        var text: [String] = []
        func keep(_ pred: (ModelCard) -> Bool) {
            for (i, m) in models.enumerated() where i < ModelMask.capacity && !pred(m) { mask.remove(i) }
        }
        func keepIndex(_ pred: (Int) -> Bool) {
            for i in models.indices where i < ModelMask.capacity && !pred(i) { mask.remove(i) }
        }
        func strings(_ key: String) -> [String]? {
            guard let x = o[key] else { return nil }
            guard case .array(let a) = x, !a.isEmpty, a.allSatisfy({ $0.stringValue != nil }) else {
                issue(p + "/" + key, "\(key) must be a non-empty array of strings")
                return nil
            }
            return a.map { $0.stringValue! }
        }
        if case .array(let a)? = o["models"] {
            var set = Set<Int>()
            for (k, x) in a.enumerated() { if let i = resolveModel(x, p + "/models/\(k)") { set.insert(i) } }
            if a.isEmpty { issue(p + "/models", "models must not be empty") }
            keepIndex { set.contains($0) }
            text.append("models [\(set.sorted().map { models[$0].id }.joined(separator: ", "))]")
        } else if o["models"] != nil {
            issue(p + "/models", "models must be an array of model ids")
        }
        if let ps = strings("providers") {
            for (k, id) in ps.enumerated() where catalog.provider(id) == nil && !lenient {
                issue(
                    p + "/providers/\(k)", "unknown provider id '\(id)'",
                    hint: Self.suggestion(id, catalog.providers.map(\.id)).map { "did you mean '\($0)'?" }
                        ?? "known providers: \(catalog.providers.map(\.id).joined(separator: ", "))")
            }
            keep { ps.contains($0.provider) }
            text.append("providers [\(ps.joined(separator: ", "))]")
        }
        if let ks = strings("kinds") {
            for (k, s) in ks.enumerated() where ProviderKind(rawValue: s) == nil {
                issue(p + "/kinds/\(k)", "unknown provider kind '\(s)'", hint: "allowed: " + ProviderKind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            keep { ks.contains($0.kind.rawValue) }
            text.append("kinds [\(ks.joined(separator: ", "))]")
        }
        if let ss = strings("statuses") {
            for (k, s) in ss.enumerated() where ModelStatus(rawValue: s) == nil {
                issue(p + "/statuses/\(k)", "unknown status '\(s)'", hint: "allowed: active, deprecated, retired")
            }
            keep { ss.contains($0.status.rawValue) }
            text.append("statuses [\(ss.joined(separator: ", "))]")
        }
        if let ss = strings("safetyPolicies") {
            keep { ss.contains($0.safetyPolicy) }
            text.append("safetyPolicies [\(ss.joined(separator: ", "))]")
        }
        for key in ["seedHonored", "builtin"] {
            guard let x = o[key] else { continue }
            guard let b = x.boolValue else {
                issue(p + "/" + key, "\(key) must be true or false")
                continue
            }
            keep { (key == "seedHonored" ? $0.seedHonored : $0.builtin) == b }
            text.append(b ? key : "not \(key)")
        }
        for key in ["minTextRendering", "minQuality"] {
            guard let x = o[key] else { continue }
            guard let g = x.intValue, (1...5).contains(g) else {
                issue(p + "/" + key, "\(key) must be a grade from 1 to 5, not \(x)")
                continue
            }
            keep { (key == "minTextRendering" ? $0.textRendering : $0.quality) >= Int(g) }
            text.append("\(key == "minTextRendering" ? "textRendering" : "quality") ≥ \(g)")
        }
        if let x = o["maxLatencySeconds"] {
            if let d = x.doubleValue, d > 0 {
                keep { $0.latencySeconds <= d }
                text.append("latency ≤ \(JSONValue.number(d))s")
            } else {
                issue(p + "/maxLatencySeconds", "maxLatencySeconds must be a number greater than zero")
            }
        }
        guard issues.count == before else { return nil }
        return (mask, text.isEmpty ? "any model" : text.joined(separator: ", "))
    }

    mutating func parseSplit(_ v: JSONValue, _ p: String, ruleName: String) -> CompiledSplit? {
        guard let o = object(v, p, known: Self.splitKeys, what: "a split") else { return nil }
        let before = issues.count
        var key = PredicateField.taskUUID
        if let k = o["key"]?.stringValue {
            if let f = PredicateField.parse(k) {
                key = f
            } else {
                issue(p + "/key", "unknown split key field '\(k)'", hint: fieldHint(k))
            }
        } else {
            issue(p + "/key", "a split needs a key: the field to hash, e.g. \"tags.user\" or \"taskUUID\"")
        }
        var salt = ruleName
        if let s = o["salt"] {
            if let t = s.stringValue { salt = t } else { issue(p + "/salt", "salt must be a string") }
        }
        var arms: [CompiledArm] = []
        if case .array(let arr)? = o["arms"], !arr.isEmpty {
            var names = Set<String>()
            for (k, av) in arr.enumerated() {
                let ap = p + "/arms/\(k)"
                guard let ao = object(av, ap, known: Self.armKeys, what: "a split arm") else { continue }
                let name = ao["name"]?.stringValue ?? ""
                if name.isEmpty { issue(ap + "/name", "an arm needs a non-empty name") }
                if !names.insert(name).inserted { issue(ap + "/name", "arm name '\(name)' is used twice") }
                var weight = 0.0
                if let w = ao["weight"]?.doubleValue, w.isFinite {
                    weight = w
                    if w <= 0 {
                        issue(ap + "/weight", "arm '\(name)' has weight \(JSONValue.number(w)); weights must be greater than zero",
                              hint: "remove the arm to stop sending it traffic")
                    }
                } else {
                    issue(ap + "/weight", "arm '\(name)' needs a numeric weight greater than zero", hint: "weights are relative: 90 and 10 split 90 % / 10 %")
                }
                arms.append(CompiledArm(name: name, weight: weight, actions: parseActions(ao, ap)))
            }
        } else {
            issue(p + "/arms", "a split needs a non-empty array of arms", hint: "e.g. [{\"name\": \"a\", \"weight\": 50}, {\"name\": \"b\", \"weight\": 50}]")
        }
        guard issues.count == before else { return nil }
        var cumulative: [Double] = []
        var total = 0.0
        for a in arms {
            total += a.weight
            cumulative.append(total)
        }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in (salt + ":").utf8 {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01B3
        }
        return CompiledSplit(key: key, salt: salt, saltState: h, cumulative: cumulative, total: total, arms: arms)
    }

    // MARK: Predicates

    func fieldHint(_ name: String) -> String {
        if name == "model" {
            return "rules apply only to tasks with model \"auto\"; a task that pins a model skips the policy"
        }
        if name.hasPrefix("tag.") || name.hasPrefix("tags") && !name.hasPrefix("tags.") {
            return "tags are read as tags.<name>, e.g. tags.client"
        }
        let names = PredicateField.names.map(\.0)
        if let s = Self.suggestion(name, names + ["and", "or", "not"]) { return "did you mean '\(s)'?" }
        return "fields: \(names.joined(separator: ", ")), tags.<name>; combinators: and, or, not"
    }

    mutating func parseWhen(_ v: JSONValue, _ p: String) -> Predicate {
        guard case .object(let o) = v else {
            issue(p, "a condition must be an object, not \(v.typeName)", hint: "e.g. {\"phase\": \"final\", \"tags.client\": {\"in\": [\"acme\"]}}")
            return .always
        }
        var parts: [Predicate] = []
        for (k, x) in o {
            let kp = JSONPointer.appending(k, to: p)
            switch k {
            case "and", "or":
                guard case .array(let arr) = x, !arr.isEmpty else {
                    issue(kp, "\(k) must be a non-empty array of conditions")
                    continue
                }
                let subs = arr.enumerated().map { parseWhen($0.element, kp + "/\($0.offset)") }
                parts.append(k == "and" ? .all(subs) : .any(subs))
            case "not":
                parts.append(.not(parseWhen(x, kp)))
            default:
                guard let f = PredicateField.parse(k) else {
                    issue(kp, "unknown predicate field '\(k)'", hint: fieldHint(k))
                    continue
                }
                if let tests = parseTests(f, x, kp) { parts.append(.test(f, tests)) }
            }
        }
        if parts.isEmpty { return .always }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    mutating func literal(_ f: PredicateField, _ v: JSONValue, _ p: String) -> Literal? {
        switch f.kind {
        case .bool:
            if let b = v.boolValue { return .bool(b) }
            issue(p, "condition can never match: \(f) is true or false, not \(v)")
        case .number:
            if let d = v.doubleValue { return .number(d) }
            issue(p, "condition can never match: \(f) is a number, not \(v)")
        case .ratio:
            if let s = v.stringValue, let r = AspectRatio(s) { return .ratio(r.value) }
            if let d = v.doubleValue, d > 0 { return .ratio(d) }
            issue(p, "aspectRatio is written like \"16:9\", not \(v)")
        case .string:
            guard let s = v.stringValue else {
                issue(p, "condition can never match: \(f) is a string, not \(v)")
                return nil
            }
            if let domain = f.domain {
                guard let n = f.normalise(s) else {
                    issue(p, "condition can never match: \(f) is one of \(domain.joined(separator: ", ")), not '\(s)'",
                          hint: Self.suggestion(s, domain).map { "did you mean '\($0)'?" })
                    return nil
                }
                return .string(n)
            }
            return .string(s)
        }
        return nil
    }

    mutating func parseTests(_ f: PredicateField, _ v: JSONValue, _ p: String) -> [PredicateTest]? {
        let before = issues.count
        var tests: [PredicateTest] = []
        switch v {
        case .null:
            issue(p, "null is not a condition", hint: "use {\"exists\": false} for an absent field")
        case .array(let arr):
            if arr.isEmpty { issue(p, "condition can never match: an empty list of values") }
            let ls = arr.enumerated().compactMap { literal(f, $0.element, p + "/\($0.offset)") }
            tests.append(.oneOf(ls))
        case .object(let o):
            if o.isEmpty { issue(p, "an empty operator object", hint: "operators: \(Self.operatorKeys.joined(separator: ", "))") }
            for (op, x) in o {
                let op_p = JSONPointer.appending(op, to: p)
                switch op {
                case "eq": if let l = literal(f, x, op_p) { tests.append(.eq(l)) }
                case "ne": if let l = literal(f, x, op_p) { tests.append(.ne(l)) }
                case "in", "notIn":
                    guard case .array(let arr) = x else {
                        issue(op_p, "\(op) takes an array of values")
                        continue
                    }
                    if arr.isEmpty && op == "in" { issue(op_p, "condition can never match: 'in' an empty list") }
                    let ls = arr.enumerated().compactMap { literal(f, $0.element, op_p + "/\($0.offset)") }
                    tests.append(op == "in" ? .oneOf(ls) : .noneOf(ls))
                case "min", "max":
                    guard f.kind == .number || f.kind == .ratio else {
                        issue(op_p, "\(op) applies to numeric fields; \(f) is \(f.kind == .bool ? "a boolean" : "a string")",
                              hint: f == .positivePrompt ? "use promptLength for the prompt's length" : nil)
                        continue
                    }
                    guard let l = literal(f, x, op_p) else { continue }
                    let d: Double
                    switch l {
                    case .number(let n), .ratio(let n): d = n
                    default: continue
                    }
                    tests.append(op == "min" ? .min(d) : .max(d))
                case "matches":
                    guard f.kind == .string else {
                        issue(op_p, "matches applies to text fields; \(f) is not text")
                        continue
                    }
                    guard let pattern = x.stringValue else {
                        issue(op_p, "matches takes a regular expression string")
                        continue
                    }
                    do {
                        let re = try NSRegularExpression(pattern: pattern, options: [])
                        tests.append(.matches(CompiledRegex(re, pattern: pattern)))
                    } catch {
                        issue(op_p, "invalid regular expression '\(pattern)'", hint: "ICU syntax; use (?i) for case-insensitive matching")
                    }
                case "exists":
                    if let b = x.boolValue { tests.append(.exists(b)) } else { issue(op_p, "exists takes true or false") }
                default:
                    issue(op_p, "unknown operator '\(op)'",
                          hint: (Self.suggestion(op, Self.operatorKeys).map { "did you mean '\($0)'? " } ?? "")
                            + "operators: \(Self.operatorKeys.joined(separator: ", "))")
                }
            }
            let mins = tests.compactMap { if case .min(let d) = $0 { return d } else { return nil } }
            let maxs = tests.compactMap { if case .max(let d) = $0 { return d } else { return nil } }
            if let lo = mins.max(), let hi = maxs.min(), lo > hi {
                issue(p, "condition can never match: min \(JSONValue.number(lo)) is greater than max \(JSONValue.number(hi))")
            }
        default:
            if let l = literal(f, v, p) { tests.append(.eq(l)) }
        }
        return issues.count == before ? tests : nil
    }
}

extension Predicate {
    /// True when every task matching the predicate has `field` == true (a top-level conjunct says so).
    func impliesTrue(_ field: PredicateField) -> Bool {
        switch self {
        case .all(let xs): return xs.contains { $0.impliesTrue(field) }
        case .test(let f, let tests):
            guard f == field else { return false }
            return tests.contains { t in
                if case .eq(.bool(true)) = t { return true }
                if case .oneOf(let ls) = t, ls == [.bool(true)] { return true }
                return false
            }
        default: return false
        }
    }
}
