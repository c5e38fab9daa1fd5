import Foundation

/// Why a model is out of a decision, as a one-byte code. The strings (`ignores_seed`, `nearest 1376x768`, …) are built
/// only when someone asks for them (``RouteDecision/rejected``, ``RouteDecision/json``).
enum RouteCode: UInt8, Sendable {
    case ok = 0
    // Model-only checks, in the order `ModelCard.check` applies them.
    case retired
    case ignoresSeed
    case seededConsistency
    case tooManyReferences
    case promptTooLong
    case numberResults
    case format
    case size
    // Then the task's cost cap, the policy, runtime availability and budgets.
    case overMaxCost
    case builtinNotAllowed
    case excludedByPolicy
    case unavailable
    case overBudget
    case unknownModel
    /// The policy refuses unknown-price models for tasks under a budget or a `maxCostUSD` (`costs.unknownPrice`).
    case priceUnknown
    /// `requirements.batch: "only"` on a model without a batch interface.
    case batchNotSupported
    /// `requirements.batch: "only"` with a deadline shorter than the batch turnaround.
    case deadlineTooShort
    /// The task's deadline (an RFC 3339 time) has passed.
    case deadlinePassed

    /// The stable reason string shown by `route.explain` (availability reasons come from the context instead).
    var reason: String {
        switch self {
        case .ok: return "ok"
        case .retired: return "retired"
        case .ignoresSeed: return "ignores_seed"
        case .seededConsistency: return "seed_makes_consistency_pointless"
        case .tooManyReferences: return "too_many_references"
        case .promptTooLong: return "prompt_too_long"
        case .numberResults: return "number_results_not_supported"
        case .format: return "format_not_supported"
        case .size: return "size_not_supported"
        case .overMaxCost: return "over_max_cost"
        case .builtinNotAllowed: return "builtin_not_allowed"
        case .excludedByPolicy: return "excluded_by_policy"
        case .unavailable: return "unavailable"
        case .overBudget: return "over_budget"
        case .unknownModel: return "unknown_model"
        case .priceUnknown: return "price_unknown"
        case .batchNotSupported: return "batch_not_supported"
        case .deadlineTooShort: return "deadline_too_short"
        case .deadlinePassed: return "deadline_passed"
        }
    }

    /// True for the reasons that belong to the model and the task alone (``ModelCard/check(_:)``).
    var isModelCheck: Bool { rawValue >= RouteCode.retired.rawValue && rawValue <= RouteCode.size.rawValue }
}

/// A price rule reduced to arithmetic (no dictionary lookups on the hot path). Gives bit-identical results to
/// ``PriceRule/cost(size:referenceImages:)``.
enum CompiledPrice: Sendable {
    case free
    case perImage(usd: Double, input: Double)
    case perTier(t512: Double, t1K: Double, t2K: Double, t4K: Double, input: Double)
    case perMegapixel(first: Double, extra: Double, input: Double)

    init(_ rule: PriceRule) {
        switch rule {
        case .free:
            self = .free
        case .perImage(let usd, let input):
            self = .perImage(usd: usd, input: input)
        case .perTier(let table, let input):
            let fallback = table.values.max() ?? 0
            self = .perTier(
                t512: table[.r512] ?? fallback, t1K: table[.r1K] ?? fallback, t2K: table[.r2K] ?? fallback,
                t4K: table[.r4K] ?? fallback, input: input)
        case .perMegapixel(let f, let e, let i):
            self = .perMegapixel(first: f, extra: e, input: i)
        case .unknown(let ceiling):
            // Routed, capped and budgeted at its ceiling (``CompiledModel/priceKnown`` says it is one).
            self.init(ceiling)
        }
    }

    @inline(__always)
    func cost(_ size: ResolvedSize, referenceImages: Int, numberResults: Int) -> Double {
        let one: Double
        switch self {
        case .free:
            one = 0
        case .perImage(let usd, let input):
            one = usd + input * Double(referenceImages)
        case .perTier(let a, let b, let c, let d, let input):
            let base: Double
            switch size.tier {
            case .r512: base = a
            case .r1K: base = b
            case .r2K: base = c
            case .r4K: base = d
            }
            one = base + input * Double(referenceImages)
        case .perMegapixel(let first, let extra, let input):
            let mp = max(size.pixels.megapixels, 0)
            one = first + max(mp - 1, 0) * extra + input * Double(referenceImages)
        }
        return one * Double(numberResults)
    }
}

/// One size-table row, flattened for scanning.
struct FlatSizeEntry: Sendable {
    var tier: ResolutionTier
    var ratio: AspectRatio
    var ratioValue: Double
    var pixels: PixelSize
}

/// A model's size rules, precompiled. Table rows live in ``CompiledCatalog/entries``.
struct CompiledSizes: Sendable {
    var isTable: Bool
    /// Declaration order of all rows: `entries[allStart ..< allStart + allCount]`.
    var allStart: Int32
    var allCount: Int32
    /// Rows per tier, in declaration order: `tierRows[tierStart[t] ..< tierStart[t] + tierCount[t]]` (indices into entries).
    var tierStart: (Int32, Int32, Int32, Int32)
    var tierCount: (Int32, Int32, Int32, Int32)
    /// The tier used when a table model is asked for no tier.
    var defaultTier: ResolutionTier
    var range: SizeRules.SizeRange
}

/// Everything the hot path needs about one model, as plain values (no reference counting while scanning).
struct CompiledModel: Sendable {
    var retired: Bool
    var seedHonored: Bool
    var builtin: Bool
    var maxReferenceImages: Int
    var maxPromptLength: Int
    var numberResultsMin: Int
    var numberResultsMax: Int
    var formats: UInt8
    var textRendering: Int
    var quality: Int
    var latency: Double
    var sizes: CompiledSizes
    var price: CompiledPrice
    /// False when ``price`` is the ceiling of an unknown price.
    var priceKnown: Bool
    /// The price through the provider's batch interface; nil when the model cannot be batched.
    var batchPrice: CompiledPrice? = nil
    /// The provider's batch turnaround (``BatchSettings/turnaroundSeconds``).
    var batchTurnaround: Double = .infinity
}

@inline(__always)
func formatBit(_ f: OutputFormat) -> UInt8 {
    switch f {
    case .png: return 1
    case .jpg: return 2
    case .webp: return 4
    }
}

@inline(__always)
func tierSlot(_ t: ResolutionTier) -> Int {
    switch t {
    case .r512: return 0
    case .r1K: return 1
    case .r2K: return 2
    case .r4K: return 3
    }
}

/// The catalog in the form the router scans: indices, plain values, flat size tables.
final class CompiledCatalog: Sendable {
    let catalog: Catalog
    let models: [CompiledModel]
    let entries: [FlatSizeEntry]
    let tierRows: [Int32]
    /// Model ids and aliases → index.
    let nameIndex: [String: Int]
    /// Model ids, aliases and provider ids → the models they name (for `RoutingContext.unavailable`).
    let nameMasks: [String: ModelMask]
    let count: Int
    /// The smallest `maxPromptLength` of any model: prompts whose UTF-8 length is within it never need counting.
    let smallestMaxPrompt: Int

    init(_ catalog: Catalog) {
        self.catalog = catalog
        var models: [CompiledModel] = []
        var entries: [FlatSizeEntry] = []
        var tierRows: [Int32] = []
        var nameIndex: [String: Int] = [:]
        var nameMasks: [String: ModelMask] = [:]
        var smallest = Int.max
        for (i, card) in catalog.models.enumerated() {
            for name in card.allIDs where nameIndex[name] == nil { nameIndex[name] = i }
            if i < ModelMask.capacity {
                for name in card.allIDs { nameMasks[name, default: ModelMask.none].insert(i) }
                nameMasks["provider:" + card.provider, default: ModelMask.none].insert(i)
            }
            smallest = min(smallest, card.maxPromptLength)
            var sizes = CompiledSizes(
                isTable: false, allStart: 0, allCount: 0, tierStart: (0, 0, 0, 0), tierCount: (0, 0, 0, 0), defaultTier: .r1K,
                range: SizeRules.SizeRange(minWidth: 0, maxWidth: 0, minHeight: 0, maxHeight: 0, multipleOf: 1, maxMegapixels: 0))
            switch card.sizes {
            case .range(let r):
                sizes.range = r
            case .table(let rows):
                sizes.isTable = true
                sizes.allStart = Int32(entries.count)
                sizes.allCount = Int32(rows.count)
                let base = entries.count
                for e in rows {
                    entries.append(FlatSizeEntry(tier: e.tier, ratio: e.aspectRatio, ratioValue: e.aspectRatio.value, pixels: e.pixels))
                }
                var starts: [Int32] = []
                var counts: [Int32] = []
                for t in ResolutionTier.allCases {
                    starts.append(Int32(tierRows.count))
                    var n: Int32 = 0
                    for (k, e) in rows.enumerated() where e.tier == t {
                        tierRows.append(Int32(base + k))
                        n += 1
                    }
                    counts.append(n)
                }
                sizes.tierStart = (starts[0], starts[1], starts[2], starts[3])
                sizes.tierCount = (counts[0], counts[1], counts[2], counts[3])
                let available = card.sizes.tiers
                sizes.defaultTier = available.contains(.r1K) ? .r1K : available.first ?? .r1K
            }
            var formats: UInt8 = 0
            for f in card.outputFormats { formats |= formatBit(f) }
            models.append(
                CompiledModel(
                    retired: card.status == .retired, seedHonored: card.seedHonored, builtin: card.builtin,
                    maxReferenceImages: card.maxReferenceImages, maxPromptLength: card.maxPromptLength,
                    numberResultsMin: card.numberResults.lowerBound, numberResultsMax: card.numberResults.upperBound, formats: formats,
                    textRendering: card.textRendering, quality: card.quality, latency: card.latencySeconds, sizes: sizes,
                    price: CompiledPrice(card.price), priceKnown: card.price.isKnown))
            if let bp = card.batchPrice, let settings = catalog.providers.first(where: { $0.id == card.provider })?.batch {
                models[models.count - 1].batchPrice = CompiledPrice(bp)
                models[models.count - 1].batchTurnaround = settings.turnaroundSeconds
            }
        }
        for p in catalog.providers where nameMasks[p.id] == nil {
            nameMasks[p.id] = nameMasks["provider:" + p.id] ?? ModelMask.none
        }
        self.models = models
        self.entries = entries
        self.tierRows = tierRows
        self.nameIndex = nameIndex
        self.nameMasks = nameMasks
        self.count = models.count
        self.smallestMaxPrompt = smallest == .max ? 0 : smallest
    }

    /// Resolves a size request for model `m` like ``SizeRules/resolve(_:model:)`` does, without building any
    /// rejection text: nil when the size cannot be served.
    @inline(__always)
    func resolveSize(_ m: Int, _ request: SizeRequest) -> ResolvedSize? {
        let s = models[m].sizes
        if s.isTable {
            switch request {
            case .pixels(let p):
                let start = Int(s.allStart)
                for k in start..<(start + Int(s.allCount)) where entries[k].pixels == p {
                    let e = entries[k]
                    return ResolvedSize(pixels: p, tier: e.tier, aspectRatio: e.ratio, requestedByTier: false)
                }
                return nil
            case .tier(let ratio, let tier):
                let t = tier ?? s.defaultTier
                let start: Int32
                let count: Int32
                switch tierSlot(t) {
                case 0: (start, count) = (s.tierStart.0, s.tierCount.0)
                case 1: (start, count) = (s.tierStart.1, s.tierCount.1)
                case 2: (start, count) = (s.tierStart.2, s.tierCount.2)
                default: (start, count) = (s.tierStart.3, s.tierCount.3)
                }
                if count == 0 { return nil }
                let rw = ratio?.width ?? 1
                let rh = ratio?.height ?? 1
                let lo = Int(start)
                let hi = lo + Int(count)
                for k in lo..<hi {
                    let e = entries[Int(tierRows[k])]
                    if e.ratio.width == rw && e.ratio.height == rh {
                        return ResolvedSize(pixels: e.pixels, tier: t, aspectRatio: e.ratio, requestedByTier: true)
                    }
                }
                let v = Double(rw) / Double(rh)
                for k in lo..<hi {
                    let e = entries[Int(tierRows[k])]
                    if abs(e.ratioValue - v) < 1e-9 {
                        return ResolvedSize(pixels: e.pixels, tier: t, aspectRatio: e.ratio, requestedByTier: true)
                    }
                }
                return nil
            }
        }
        let rr = s.range
        switch request {
        case .pixels(let p):
            guard rr.allows(p) else { return nil }
            return ResolvedSize(pixels: p, tier: Self.nearestTier(p), aspectRatio: nil, requestedByTier: false)
        case .tier(let ratio, let tier):
            let t = tier ?? .r1K
            let r = ratio ?? AspectRatio(width: 1, height: 1)
            let mp = t.nominalMegapixels
            if mp > rr.maxMegapixels * 1.05 { return nil }
            let h = (mp * 1e6 / r.value).squareRoot()
            let w = h * r.value
            let p = rr.nearest(to: PixelSize(width: Int(w.rounded()), height: Int(h.rounded())))
            let got = Double(p.width) / Double(p.height)
            if abs(got / r.value - 1) > 0.03 || !rr.allows(p) { return nil }
            return ResolvedSize(pixels: p, tier: t, aspectRatio: r, requestedByTier: true)
        }
    }

    /// Same as ``ResolutionTier/nearest(width:height:)`` without building the case list.
    @inline(__always)
    static func nearestTier(_ p: PixelSize) -> ResolutionTier {
        let mp = Double(p.width * p.height) / 1_000_000
        var best = ResolutionTier.r512
        var bestD = abs(log2(ResolutionTier.r512.nominalMegapixels / mp))
        var d = abs(log2(ResolutionTier.r1K.nominalMegapixels / mp))
        if d < bestD {
            best = .r1K
            bestD = d
        }
        d = abs(log2(ResolutionTier.r2K.nominalMegapixels / mp))
        if d < bestD {
            best = .r2K
            bestD = d
        }
        d = abs(log2(ResolutionTier.r4K.nominalMegapixels / mp))
        if d < bestD { best = .r4K }
        return best
    }
}

/// The facts about a task that every model check reads, gathered once per decision.
struct TaskFacts {
    var reproducible: Bool
    /// A seed together with `consistency`: best-of-N is refused on seed-honouring models.
    var seededConsistency: Bool
    var references: Int
    var numberResults: Int
    /// Images paid for: `numberResults`, times `consistency.samples` for best-of-N (docs/consistency.md).
    var pricedImages: Int
    var format: UInt8
    var maxCost: Double
    var promptUTF8: Int
    var promptChars: Int  // -1 until counted
    let prompt: String
    /// `requirements.batch`, whether a deadline was given, and the seconds left before it (the router sets them
    /// from ``RoutingContext/now``).
    var batch: BatchPreference
    var hasDeadline: Bool
    var secondsLeft: Double

    init(_ task: ImageTask) {
        reproducible = task.requirements.reproducible
        seededConsistency = task.seed != nil && task.consistency != nil
        references = task.referenceImages.count
        numberResults = task.numberResults
        pricedImages = task.pricedImages
        format = formatBit(task.outputFormat)
        maxCost = task.requirements.maxCostUSD ?? .infinity
        prompt = task.positivePrompt
        promptUTF8 = prompt.utf8.count
        promptChars = -1
        batch = task.requirements.batch
        hasDeadline = task.requirements.deadline != nil
        secondsLeft = .infinity
        if let d = task.requirements.deadline { secondsLeft = d.secondsLeft(now: .now()) }
    }

    /// True when the prompt is longer than `limit` characters (counting characters only when the UTF-8 length says it
    /// might be).
    @inline(__always)
    mutating func promptLonger(than limit: Int) -> Bool {
        if promptUTF8 <= limit { return false }
        if promptChars < 0 { promptChars = prompt.count }
        return promptChars > limit
    }
}

extension CompiledCatalog {
    /// The model-only checks of ``ModelCard/check(_:)``, in the same order, returning a code instead of text.
    @inline(__always)
    func check(_ m: Int, _ f: inout TaskFacts, _ size: SizeRequest, resolved: inout ResolvedSize?) -> RouteCode {
        let c = models[m]
        if c.retired { return .retired }
        if f.reproducible && !c.seedHonored { return .ignoresSeed }
        if f.seededConsistency && c.seedHonored { return .seededConsistency }
        if f.references > c.maxReferenceImages { return .tooManyReferences }
        if f.promptLonger(than: c.maxPromptLength) { return .promptTooLong }
        if f.numberResults < c.numberResultsMin || f.numberResults > c.numberResultsMax { return .numberResults }
        if c.formats & f.format == 0 { return .format }
        guard let s = resolveSize(m, size) else { return .size }
        resolved = s
        return .ok
    }

    /// ``check(_:_:_:resolved:)`` and then the price: `cost` is set when the hard constraints pass (the model can
    /// serve the task at `size`), and `code` becomes `.overMaxCost` when that price exceeds the task's `maxCostUSD`.
    /// The router's pinned and automatic paths and the simulator's baseline all price through here.
    @inline(__always)
    func price(_ m: Int, _ f: inout TaskFacts, _ size: SizeRequest) -> (code: RouteCode, size: ResolvedSize?, cost: Double?, batch: Bool) {
        var resolved: ResolvedSize?
        let code = check(m, &f, size, resolved: &resolved)
        guard code == .ok, let s = resolved else { return (code, resolved, nil, false) }
        // A deadline: past → refused; batch pricing when the deadline leaves the batch turnaround (BatchLane).
        if f.hasDeadline && f.secondsLeft <= 0 { return (.deadlinePassed, s, nil, false) }
        let c = models[m]
        let batched = BatchLane.applies(
            preference: f.batch, hasDeadline: f.hasDeadline, secondsLeft: f.secondsLeft, supported: c.batchPrice != nil,
            turnaround: c.batchTurnaround)
        if f.batch == .only && !batched { return (c.batchPrice == nil ? .batchNotSupported : .deadlineTooShort, s, nil, false) }
        let rule = batched ? (c.batchPrice ?? c.price) : c.price
        let cost = rule.cost(s, referenceImages: f.references, numberResults: f.pricedImages)
        return (cost > f.maxCost + 1e-12 ? .overMaxCost : .ok, s, cost, batched)
    }
}
