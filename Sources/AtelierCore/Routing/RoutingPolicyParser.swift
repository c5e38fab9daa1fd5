import Foundation

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

    static let topKeys = ["version", "description", "allowBuiltin", "objective", "fallbacks", "rules", "budgets", "verification", "costs"]
    static let verificationKeys = ["onMismatch"]
    static let costsKeys = ["unknownPrice"]
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
                hint: Suggestion.closest(k, known).map { "did you mean '\($0)'? " }.map { $0 + "unknown fields are errors, not ignored" }
                    ?? "allowed: \(known.joined(separator: ", ")); unknown fields are errors, not ignored")
        }
        return o
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
                        issue(
                            p + "/name", "rule name '\(r.name)' is already used at \(other)",
                            hint: "rule names must be unique; reasons and explain name rules")
                    } else {
                        names[r.name] = p
                    }
                    rules.append(r)
                }
                // A rule after a catch-all `stop` rule is never reached.
                if let stopper = rules.firstIndex(where: { $0.stop && $0.when.isAlways }) {
                    for r in rules[(stopper + 1)...] {
                        issue(
                            r.pointer,
                            "rule '\(r.name)' can never match: rule '\(rules[stopper].name)' (\(rules[stopper].pointer)) matches every task and stops",
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
                            issue(
                                b.pointer, "a budget for tags.\(b.tag)\(b.value.map { "=\($0)" } ?? "") is already defined at \(dup.pointer)",
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
        var policy = RoutingPolicy(budgets: budgets, file: file, source: json, compiled: compiled)
        if let v = top["verification"] { policy.onMismatch = parseVerification(v, "/verification") ?? .flag }
        if let v = top["costs"] { policy.unknownPrice = parseCosts(v, "/costs") ?? .ceiling }
        return policy
    }

    /// `costs: {unknownPrice: "ceiling" | "refuse"}`.
    mutating func parseCosts(_ v: JSONValue, _ p: String) -> UnknownPricePolicy? {
        guard let o = object(v, p, known: Self.costsKeys, what: "costs") else { return nil }
        return member("unknownPrice", of: o, p)
    }

    /// `verification: {onMismatch: "flag" | "fail" | "retry"}`.
    mutating func parseVerification(_ v: JSONValue, _ p: String) -> MismatchPolicy? {
        guard let o = object(v, p, known: Self.verificationKeys, what: "verification") else { return nil }
        return member("onMismatch", of: o, p)
    }

    /// The value of `key` in `o` as one of `E`'s cases (nil when absent; an issue naming the allowed values, with a
    /// suggestion for a near miss, when it is none of them).
    mutating func member<E: RawRepresentable & CaseIterable>(_ key: String, of o: JSONObject, _ p: String) -> E? where E.RawValue == String {
        guard let m = o[key] else { return nil }
        let allowed = E.allCases.map(\.rawValue)
        guard let s = m.stringValue, let value = E(rawValue: s) else {
            issue(
                p + "/" + key, "\(key) must be one of \(allowed.joined(separator: ", ")), not \(m)",
                hint: m.stringValue.flatMap { Suggestion.closest($0, allowed) }.map { "did you mean '\($0)'?" }
                    ?? "allowed: \(allowed.joined(separator: ", "))")
            return nil
        }
        return value
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
            if let i = x.intValue, (0...20).contains(i) {
                m = Int(i)
            } else {
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
}
