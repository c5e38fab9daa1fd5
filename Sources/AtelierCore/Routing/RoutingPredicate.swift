import Foundation

/// A task field a `when` predicate (or a split key) can read.
enum PredicateField: Sendable, Equatable, CustomStringConvertible {
    case phase
    case reproducible
    case textRendering
    case maxCostUSD
    case tag(String)
    case width
    case height
    case aspectRatio
    case orientation
    case resolution
    case megapixels
    case promptLength
    case positivePrompt
    case negativePrompt
    case referenceCount
    case numberResults
    case outputFormat
    case taskUUID
    case seed

    enum Kind { case string, number, bool, ratio }

    /// The fixed field names (tags are `tags.<name>`).
    static let names: [(String, PredicateField)] = [
        ("phase", .phase), ("requirements.reproducible", .reproducible), ("requirements.textRendering", .textRendering),
        ("requirements.maxCostUSD", .maxCostUSD), ("width", .width), ("height", .height), ("aspectRatio", .aspectRatio),
        ("orientation", .orientation), ("resolution", .resolution), ("megapixels", .megapixels), ("promptLength", .promptLength),
        ("positivePrompt", .positivePrompt), ("negativePrompt", .negativePrompt), ("referenceCount", .referenceCount),
        ("numberResults", .numberResults), ("outputFormat", .outputFormat), ("taskUUID", .taskUUID), ("seed", .seed),
    ]

    static func parse(_ name: String) -> PredicateField? {
        if name.hasPrefix("tags."), name.count > 5 { return .tag(String(name.dropFirst(5))) }
        return names.first { $0.0 == name }?.1
    }

    var description: String {
        if case .tag(let t) = self { return "tags." + t }
        return Self.names.first { $0.1 == self }?.0 ?? "?"
    }

    var kind: Kind {
        switch self {
        case .reproducible, .textRendering: return .bool
        case .maxCostUSD, .width, .height, .megapixels, .promptLength, .referenceCount, .numberResults, .seed: return .number
        case .aspectRatio: return .ratio
        case .phase, .tag, .orientation, .resolution, .positivePrompt, .negativePrompt, .outputFormat, .taskUUID: return .string
        }
    }

    /// The allowed values of enumerated string fields.
    var domain: [String]? {
        switch self {
        case .phase: return Phase.allCases.map(\.rawValue)
        case .resolution: return ResolutionTier.allCases.map(\.rawValue)
        case .outputFormat: return OutputFormat.allCases.map(\.rawValue)
        case .orientation: return ["landscape", "portrait", "square"]
        case .reproducible, .textRendering, .maxCostUSD, .tag, .width, .height, .aspectRatio, .megapixels, .promptLength,
            .positivePrompt, .negativePrompt, .referenceCount, .numberResults, .taskUUID, .seed:
            return nil
        }
    }

    /// True when every task has a value for the field.
    var alwaysPresent: Bool {
        switch self {
        case .phase, .maxCostUSD, .tag, .width, .height, .negativePrompt, .seed: return false
        case .reproducible, .textRendering, .aspectRatio, .orientation, .resolution, .megapixels, .promptLength, .positivePrompt,
            .referenceCount, .numberResults, .outputFormat, .taskUUID:
            return true
        }
    }

    /// Bounds every task satisfies (from `ImageTask` validation), for "can never match" checks.
    var bounds: ClosedRange<Double>? {
        switch self {
        case .width, .height: return Double(ImageTask.Limits.dimension.lowerBound)...Double(ImageTask.Limits.dimension.upperBound)
        case .promptLength: return 1...Double(ImageTask.Limits.promptLength)
        case .referenceCount: return 0...Double(ImageTask.Limits.referenceImages)
        case .numberResults: return Double(ImageTask.Limits.numberResults.lowerBound)...Double(ImageTask.Limits.numberResults.upperBound)
        case .maxCostUSD, .megapixels, .seed: return 0...Double.greatestFiniteMagnitude
        case .phase, .reproducible, .textRendering, .tag, .aspectRatio, .orientation, .resolution, .positivePrompt, .negativePrompt,
            .outputFormat, .taskUUID:
            return nil
        }
    }

    /// Normalises a literal of an enumerated field to its canonical spelling, or nil when it is not in the domain.
    func normalise(_ s: String) -> String? {
        switch self {
        case .phase: return Phase(rawValue: s)?.rawValue
        case .resolution: return ResolutionTier(parsing: s)?.rawValue
        case .outputFormat: return OutputFormat(parsing: s)?.rawValue
        case .orientation: return ["landscape", "portrait", "square"].contains(s) ? s : nil
        case .reproducible, .textRendering, .maxCostUSD, .tag, .width, .height, .aspectRatio, .megapixels, .promptLength,
            .positivePrompt, .negativePrompt, .referenceCount, .numberResults, .taskUUID, .seed:
            return s
        }
    }
}

/// A value of a field for one task.
enum FieldValue {
    case absent
    case string(String)
    case number(Double)
    case bool(Bool)
    case ratio(Double)
}

/// A compiled regular expression (compiled once, at load).
final class CompiledRegex: @unchecked Sendable {
    // NSRegularExpression is immutable and documented as safe to use from several threads.
    let regex: NSRegularExpression
    let pattern: String
    init(_ regex: NSRegularExpression, pattern: String) {
        self.regex = regex
        self.pattern = pattern
    }
    func matches(_ s: String) -> Bool {
        regex.firstMatch(in: s, options: [], range: NSRange(location: 0, length: s.utf16.count)) != nil
    }
}

/// A literal in a predicate.
enum Literal: Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case ratio(Double)

    var text: String {
        switch self {
        case .string(let s): return "\"\(s)\""
        case .number(let d): return JSONValue.number(d).description
        case .bool(let b): return b ? "true" : "false"
        case .ratio(let r): return String(format: "%.4g", r)
        }
    }
}

/// One comparison on one field.
enum PredicateTest: Sendable {
    case eq(Literal)
    case ne(Literal)
    case oneOf([Literal])
    case noneOf([Literal])
    case min(Double)
    case max(Double)
    case matches(CompiledRegex)
    case exists(Bool)

    @inline(__always)
    static func equal(_ v: FieldValue, _ l: Literal) -> Bool {
        switch (v, l) {
        case (.string(let a), .string(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.ratio(let a), .ratio(let b)): return abs(a / b - 1) <= 0.01
        default: return false
        }
    }

    @inline(__always)
    static func numeric(_ v: FieldValue) -> Double? {
        switch v {
        case .number(let d), .ratio(let d): return d
        default: return nil
        }
    }

    /// Whether `v` passes. An absent field fails every test except `ne`, `noneOf` and `exists: false`.
    func evaluate(_ v: FieldValue) -> Bool {
        switch self {
        case .eq(let l): return Self.equal(v, l)
        case .ne(let l): return !Self.equal(v, l)
        case .oneOf(let ls):
            for l in ls where Self.equal(v, l) { return true }
            return false
        case .noneOf(let ls):
            for l in ls where Self.equal(v, l) { return false }
            return true
        case .min(let m):
            guard let d = Self.numeric(v) else { return false }
            return d >= m - 1e-12
        case .max(let m):
            guard let d = Self.numeric(v) else { return false }
            return d <= m + 1e-12
        case .matches(let r):
            guard case .string(let s) = v else { return false }
            return r.matches(s)
        case .exists(let want):
            if case .absent = v { return !want }
            return want
        }
    }
}

/// A compiled `when` tree.
indirect enum Predicate: Sendable {
    case always
    case all([Predicate])
    case any([Predicate])
    case not(Predicate)
    case test(PredicateField, [PredicateTest])

    var isAlways: Bool {
        switch self {
        case .always: return true
        case .all(let xs): return xs.allSatisfy(\.isAlways)
        default: return false
        }
    }

    func evaluate(_ task: ImageTask) -> Bool {
        switch self {
        case .always: return true
        case .all(let xs):
            for x in xs where !x.evaluate(task) { return false }
            return true
        case .any(let xs):
            for x in xs where x.evaluate(task) { return true }
            return false
        case .not(let x): return !x.evaluate(task)
        case .test(let f, let tests):
            let v = f.value(of: task)
            for t in tests where !t.evaluate(v) { return false }
            return true
        }
    }
}

extension PredicateField {
    /// The field's value for `task`.
    @inline(__always)
    func value(of task: ImageTask) -> FieldValue {
        switch self {
        case .phase: return task.phase.map { .string($0.rawValue) } ?? .absent
        case .reproducible: return .bool(task.requirements.reproducible)
        case .textRendering: return .bool(task.requirements.textRendering)
        case .maxCostUSD: return task.requirements.maxCostUSD.map { .number($0) } ?? .absent
        case .tag(let name): return task.tags[name].map { .string($0) } ?? .absent
        case .width:
            if case .pixels(let p) = task.size { return .number(Double(p.width)) }
            return .absent
        case .height:
            if case .pixels(let p) = task.size { return .number(Double(p.height)) }
            return .absent
        case .aspectRatio:
            switch task.size {
            case .pixels(let p): return .ratio(Double(p.width) / Double(p.height))
            case .tier(let r, _): return .ratio(r?.value ?? 1)
            }
        case .orientation:
            let r: Double
            switch task.size {
            case .pixels(let p): r = Double(p.width) / Double(p.height)
            case .tier(let a, _): r = a?.value ?? 1
            }
            if abs(r - 1) <= 0.01 { return .string("square") }
            return .string(r > 1 ? "landscape" : "portrait")
        case .resolution:
            switch task.size {
            case .pixels(let p): return .string(CompiledCatalog.nearestTier(p).rawValue)
            case .tier(_, let t): return .string((t ?? .r1K).rawValue)
            }
        case .megapixels:
            switch task.size {
            case .pixels(let p): return .number(p.megapixels)
            case .tier(_, let t): return .number((t ?? .r1K).nominalMegapixels)
            }
        case .promptLength: return .number(Double(task.positivePrompt.count))
        case .positivePrompt: return .string(task.positivePrompt)
        case .negativePrompt: return task.negativePrompt.map { .string($0) } ?? .absent
        case .referenceCount: return .number(Double(task.referenceImages.count))
        case .numberResults: return .number(Double(task.numberResults))
        case .outputFormat: return .string(task.outputFormat.rawValue)
        case .taskUUID: return .string(task.taskUUID)
        case .seed: return task.seed.map { .number(Double($0)) } ?? .absent
        }
    }

    /// The field as text, for split keys; nil when absent.
    func keyString(of task: ImageTask) -> String? {
        switch value(of: task) {
        case .absent: return nil
        case .string(let s): return s
        case .number(let d): return JSONValue.number(d).description
        case .bool(let b): return b ? "true" : "false"
        case .ratio(let r): return String(r)
        }
    }
}

// MARK: - "Can this ever match?"

extension Predicate {
    /// False only when no task can satisfy the predicate (it never answers false for a predicate that can match).
    var satisfiable: Bool { contradiction == nil }

    /// Why no task can satisfy the predicate, or nil when some task can (or when that cannot be decided cheaply).
    var contradiction: String? {
        switch self {
        case .always: return nil
        case .any(let xs):
            if xs.isEmpty { return "an empty 'or' matches nothing" }
            for x in xs where x.contradiction == nil { return nil }
            return "no branch of 'or' can match"
        case .not(let x): return x.isAlways ? "'not' of a condition that is always true" : nil
        case .test, .all:
            var atoms: [(PredicateField, [PredicateTest])] = []
            var others: [Predicate] = []
            flatten(into: &atoms, others: &others)
            for o in others { if let why = o.contradiction { return why } }
            // Group the tests of each field and look for one value that passes all of them.
            var done: [PredicateField] = []
            for (f, _) in atoms where !done.contains(f) {
                done.append(f)
                let tests = atoms.filter { $0.0 == f }.flatMap(\.1)
                if !Self.fieldSatisfiable(f, tests) { return "no task can satisfy the conditions on \(f)" }
            }
            return nil
        }
    }

    private func flatten(into atoms: inout [(PredicateField, [PredicateTest])], others: inout [Predicate]) {
        switch self {
        case .always: break
        case .all(let xs): for x in xs { x.flatten(into: &atoms, others: &others) }
        case .test(let f, let t): atoms.append((f, t))
        default: others.append(self)
        }
    }

    /// A candidate value used to probe satisfiability; `wildcard` stands for "any other string".
    private enum Probe {
        case value(FieldValue)
        case wildcard
    }

    static func fieldSatisfiable(_ f: PredicateField, _ tests: [PredicateTest]) -> Bool {
        var probes: [Probe] = []
        if !f.alwaysPresent { probes.append(.value(.absent)) }
        var constants: [Literal] = []
        var numbers: [Double] = []
        var hasEquality = false
        for t in tests {
            switch t {
            case .eq(let l):
                constants.append(l)
                hasEquality = true
            case .oneOf(let ls):
                constants += ls
                hasEquality = true
            case .min(let d), .max(let d): numbers.append(d)
            default: break
            }
        }
        switch f.kind {
        case .bool:
            probes += [.value(.bool(true)), .value(.bool(false))]
        case .string:
            if let domain = f.domain {
                probes += domain.map { .value(.string($0)) }
            } else {
                for case .string(let s) in constants { probes.append(.value(.string(s))) }
                if !hasEquality { probes.append(.wildcard) }
            }
        case .number, .ratio:
            var points: [Double] = numbers
            for case .number(let d) in constants { points.append(d) }
            for case .ratio(let d) in constants { points.append(d) }
            let lows = tests.compactMap { if case .min(let d) = $0 { return d } else { return nil } }
            let highs = tests.compactMap { if case .max(let d) = $0 { return d } else { return nil } }
            if let lo = lows.max(), let hi = highs.min() { points.append((lo + hi) / 2) }
            if let b = f.bounds {
                points += [b.lowerBound, b.upperBound]
                points = points.filter { b.contains($0) }
            } else if points.isEmpty {
                points = [1]
            }
            if !hasEquality && lows.isEmpty && highs.isEmpty { points.append(points.first ?? 1) }
            probes += points.map { f.kind == .ratio ? .value(.ratio($0)) : .value(.number($0)) }
        }
        for p in probes {
            switch p {
            case .value(let v):
                if tests.allSatisfy({ $0.evaluate(v) }) { return true }
            case .wildcard:
                // Any other string: differs from every constant; assume a regex can match it.
                let ok = tests.allSatisfy { t in
                    switch t {
                    case .eq, .oneOf, .min, .max: return false
                    case .exists(let w): return w
                    default: return true
                    }
                }
                if ok { return true }
            }
        }
        return false
    }
}
