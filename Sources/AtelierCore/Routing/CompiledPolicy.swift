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
        let h = StableHash.fnv1a64Unmixed(key.keyString(of: task) ?? task.taskUUID, from: saltState)
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
