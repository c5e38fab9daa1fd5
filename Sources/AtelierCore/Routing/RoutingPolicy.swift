import Foundation

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
    /// What a result that differs from its request does to the job (`verification.onMismatch`; `flag` by default).
    public internal(set) var onMismatch: MismatchPolicy = .flag
    /// How budgets and `maxCostUSD` treat models whose price is unknown (`costs.unknownPrice`; `ceiling` by default).
    public internal(set) var unknownPrice: UnknownPricePolicy = .ceiling

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
