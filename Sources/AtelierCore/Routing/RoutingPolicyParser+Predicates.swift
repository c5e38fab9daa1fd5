import Foundation

/// Predicates: the `when` conditions, their literals and operator tests.
extension RoutingPolicyParser {
    func fieldHint(_ name: String) -> String {
        if name == "model" {
            return "rules apply only to tasks with model \"auto\"; a task that pins a model skips the policy"
        }
        if name.hasPrefix("tag.") || name.hasPrefix("tags") && !name.hasPrefix("tags.") {
            return "tags are read as tags.<name>, e.g. tags.client"
        }
        let names = PredicateField.names.map(\.0)
        if let s = Suggestion.closest(name, names + ["and", "or", "not"]) { return "did you mean '\(s)'?" }
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
                    issue(
                        p, "condition can never match: \(f) is one of \(domain.joined(separator: ", ")), not '\(s)'",
                        hint: Suggestion.closest(s, domain).map { "did you mean '\($0)'?" })
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
                        issue(
                            op_p, "\(op) applies to numeric fields; \(f) is \(f.kind == .bool ? "a boolean" : "a string")",
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
                    issue(
                        op_p, "unknown operator '\(op)'",
                        hint: (Suggestion.closest(op, Self.operatorKeys).map { "did you mean '\($0)'? " } ?? "")
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
