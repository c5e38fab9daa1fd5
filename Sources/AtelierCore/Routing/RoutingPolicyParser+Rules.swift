import Foundation

/// Rules: `when`, actions (`require`, `exclude`, `prefer`, `objective`, `fallbacks`), model selectors and splits.
extension RoutingPolicyParser {
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
                issue(
                    p + "/when", "rule '\(name)' can never match: \(why)",
                    hint: "a rule that matches nothing is almost always a mistake; fix or delete it")
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
                for (i, m) in compiledCatalog.models.enumerated() where m.retired || (m.builtin && !allowBuiltin) || (reproducible && !m.seedHonored)
                {
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
                hint: Suggestion.closest(id, ids).map { "did you mean '\($0)'?" }
                    ?? "known models: \(catalog.models.map(\.id).joined(separator: ", "))")
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
                    hint: Suggestion.closest(id, catalog.providers.map(\.id)).map { "did you mean '\($0)'?" }
                        ?? "known providers: \(catalog.providers.map(\.id).joined(separator: ", "))")
            }
            keep { ps.contains($0.provider) }
            text.append("providers [\(ps.joined(separator: ", "))]")
        }
        if let ks = strings("kinds") {
            for (k, s) in ks.enumerated() where ProviderKind(rawValue: s) == nil {
                issue(
                    p + "/kinds/\(k)", "unknown provider kind '\(s)'",
                    hint: "allowed: " + ProviderKind.allCases.map(\.rawValue).joined(separator: ", "))
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
                        issue(
                            ap + "/weight", "arm '\(name)' has weight \(JSONValue.number(w)); weights must be greater than zero",
                            hint: "remove the arm to stop sending it traffic")
                    }
                } else {
                    issue(
                        ap + "/weight", "arm '\(name)' needs a numeric weight greater than zero",
                        hint: "weights are relative: 90 and 10 split 90 % / 10 %")
                }
                arms.append(CompiledArm(name: name, weight: weight, actions: parseActions(ao, ap)))
            }
        } else {
            issue(
                p + "/arms", "a split needs a non-empty array of arms",
                hint: "e.g. [{\"name\": \"a\", \"weight\": 50}, {\"name\": \"b\", \"weight\": 50}]")
        }
        guard issues.count == before else { return nil }
        var cumulative: [Double] = []
        var total = 0.0
        for a in arms {
            total += a.weight
            cumulative.append(total)
        }
        return CompiledSplit(
            key: key, salt: salt, saltState: StableHash.fnv1a64Unmixed(salt + ":"), cumulative: cumulative, total: total, arms: arms)
    }
}
