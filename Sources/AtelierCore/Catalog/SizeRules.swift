import Foundation

/// The sizes a model can produce.
public enum SizeRules: Sendable, Equatable {
    /// A fixed list: each entry is a tier, a named ratio and exact pixels (Gemini, Nano Banana on Runware).
    case table([SizeEntry])
    /// Any size within bounds on a pixel grid (FLUX, SD, the built-in renderer).
    case range(SizeRange)

    /// One row of a fixed size table.
    public struct SizeEntry: Sendable, Equatable {
        public var tier: ResolutionTier
        public var aspectRatio: AspectRatio
        public var pixels: PixelSize
        public init(tier: ResolutionTier, aspectRatio: AspectRatio, pixels: PixelSize) {
            self.tier = tier
            self.aspectRatio = aspectRatio
            self.pixels = pixels
        }
    }

    /// Bounds for free-form sizes.
    public struct SizeRange: Sendable, Equatable {
        public var minWidth: Int
        public var maxWidth: Int
        public var minHeight: Int
        public var maxHeight: Int
        /// Both sides must be multiples of this.
        public var multipleOf: Int
        /// The largest output, in megapixels (width × height / 1e6).
        public var maxMegapixels: Double
        public init(minWidth: Int, maxWidth: Int, minHeight: Int, maxHeight: Int, multipleOf: Int, maxMegapixels: Double) {
            self.minWidth = minWidth
            self.maxWidth = maxWidth
            self.minHeight = minHeight
            self.maxHeight = maxHeight
            self.multipleOf = multipleOf
            self.maxMegapixels = maxMegapixels
        }

        func allows(_ p: PixelSize) -> Bool {
            p.width >= minWidth && p.width <= maxWidth && p.height >= minHeight && p.height <= maxHeight
                && p.width % multipleOf == 0 && p.height % multipleOf == 0 && p.megapixels <= maxMegapixels + 1e-9
        }

        /// The valid size closest to `p` (same ratio where possible).
        func nearest(to p: PixelSize) -> PixelSize {
            var w = Double(p.width)
            var h = Double(p.height)
            let mp = w * h / 1e6
            if mp > maxMegapixels {
                let s = (maxMegapixels / mp).squareRoot()
                w *= s
                h *= s
            }
            func fit(_ x: Double, _ lo: Int, _ hi: Int, roundDown: Bool) -> Int {
                let m = Double(multipleOf)
                var v = Int((roundDown ? (x / m).rounded(.down) : (x / m).rounded()) * m)
                let loM = (lo + multipleOf - 1) / multipleOf * multipleOf
                let hiM = hi / multipleOf * multipleOf
                v = min(max(v, loM), hiM)
                return v
            }
            var size = PixelSize(width: fit(w, minWidth, maxWidth, roundDown: false), height: fit(h, minHeight, maxHeight, roundDown: false))
            if size.megapixels > maxMegapixels {
                size = PixelSize(width: fit(w, minWidth, maxWidth, roundDown: true), height: fit(h, minHeight, maxHeight, roundDown: true))
            }
            return size
        }
    }

    /// The tiers this model can produce.
    public var tiers: [ResolutionTier] {
        switch self {
        case .table(let entries):
            return ResolutionTier.allCases.filter { t in entries.contains { $0.tier == t } }
        case .range(let r):
            return ResolutionTier.allCases.filter { t in
                let side = Int(t.nominalMegapixels.squareRoot() * 1000)
                return r.allows(r.nearest(to: PixelSize(width: side, height: side)))
                    && t.nominalMegapixels <= r.maxMegapixels * 1.05
            }
        }
    }

    /// Maps a size request to exact pixels, or explains why it cannot be served (listing nearest valid sizes).
    public func resolve(_ request: SizeRequest, model: String) -> Result<ResolvedSize, Rejection> {
        switch (self, request) {
        case (.table(let entries), .pixels(let p)):
            if let e = entries.first(where: { $0.pixels == p }) {
                return .success(ResolvedSize(pixels: p, tier: e.tier, aspectRatio: e.aspectRatio, requestedByTier: false))
            }
            let nearest = Self.nearest(entries.map(\.pixels), to: p, count: 3)
            return .failure(sizeRejection(model, p, nearest: nearest, field: "/width"))

        case (.table(let entries), .tier(let ratio, let tier)):
            let available = self.tiers
            let t = tier ?? (available.contains(.r1K) ? .r1K : available.first ?? .r1K)
            let atTier = entries.filter { $0.tier == t }
            if atTier.isEmpty {
                let allowed = available.map(\.rawValue)
                return .failure(
                    Rejection(
                        "size_not_supported", "tier \(t.rawValue); has \(allowed.joined(separator: ", "))",
                        error: AtelierError(
                            .invalidDimensions, "\(model) does not produce resolution \(t.rawValue); it produces \(allowed.joined(separator: ", "))",
                            field: "/resolution", details: ["allowed": .array(allowed.map(JSONValue.string))])))
            }
            let r = ratio ?? AspectRatio(width: 1, height: 1)
            if let e = atTier.first(where: { $0.aspectRatio == r })
                ?? atTier.first(where: { abs($0.aspectRatio.value - r.value) < 1e-9 })
            {
                return .success(ResolvedSize(pixels: e.pixels, tier: t, aspectRatio: e.aspectRatio, requestedByTier: true))
            }
            var seen: [String] = []
            for e in atTier.sorted(by: { $0.aspectRatio < $1.aspectRatio }) where !seen.contains(e.aspectRatio.description) {
                seen.append(e.aspectRatio.description)
            }
            return .failure(
                Rejection(
                    "size_not_supported", "ratio \(r) at \(t.rawValue)",
                    error: AtelierError(
                        .invalidDimensions,
                        "\(model) does not produce aspect ratio \(r) at \(t.rawValue); it produces \(seen.joined(separator: ", "))",
                        field: "/aspectRatio", details: ["allowed": .array(seen.map(JSONValue.string))])))

        case (.range(let rr), .pixels(let p)):
            if rr.allows(p) {
                return .success(ResolvedSize(pixels: p, tier: .nearest(width: p.width, height: p.height), aspectRatio: nil, requestedByTier: false))
            }
            let n = rr.nearest(to: p)
            var why: [String] = []
            if p.width % rr.multipleOf != 0 || p.height % rr.multipleOf != 0 { why.append("sides must be multiples of \(rr.multipleOf)") }
            if p.width < rr.minWidth || p.width > rr.maxWidth { why.append("width must be \(rr.minWidth)–\(rr.maxWidth)") }
            if p.height < rr.minHeight || p.height > rr.maxHeight { why.append("height must be \(rr.minHeight)–\(rr.maxHeight)") }
            if p.megapixels > rr.maxMegapixels { why.append("at most \(rr.maxMegapixels) megapixels") }
            return .failure(sizeRejection(model, p, nearest: [n], field: "/width", why: why.joined(separator: "; ")))

        case (.range(let rr), .tier(let ratio, let tier)):
            let t = tier ?? .r1K
            let r = ratio ?? AspectRatio(width: 1, height: 1)
            let mp = t.nominalMegapixels
            if mp > rr.maxMegapixels * 1.05 {
                let allowed = tiers.map(\.rawValue)
                return .failure(
                    Rejection(
                        "size_not_supported", "tier \(t.rawValue); max \(rr.maxMegapixels) MP",
                        error: AtelierError(
                            .invalidDimensions, "\(model) produces at most \(rr.maxMegapixels) megapixels; resolution \(t.rawValue) is too large",
                            field: "/resolution", details: ["allowed": .array(allowed.map(JSONValue.string))])))
            }
            let h = (mp * 1e6 / r.value).squareRoot()
            let w = h * r.value
            let p = rr.nearest(to: PixelSize(width: Int(w.rounded()), height: Int(h.rounded())))
            // The clamped size must keep the ratio within 3 %, or the ratio is out of this model's range.
            let got = Double(p.width) / Double(p.height)
            if abs(got / r.value - 1) > 0.03 || !rr.allows(p) {
                return .failure(
                    Rejection(
                        "size_not_supported", "ratio \(r) at \(t.rawValue)",
                        error: AtelierError(
                            .invalidDimensions, "\(model) cannot produce aspect ratio \(r) at \(t.rawValue) within its size limits",
                            field: "/aspectRatio")))
            }
            return .success(ResolvedSize(pixels: p, tier: t, aspectRatio: r, requestedByTier: true))
        }
    }

    private func sizeRejection(_ model: String, _ p: PixelSize, nearest: [PixelSize], field: String, why: String = "") -> Rejection {
        let list = nearest.map(\.description)
        let because = why.isEmpty ? "" : " (\(why))"
        return Rejection(
            "size_not_supported", "nearest \(list.joined(separator: ", "))",
            error: AtelierError(
                .invalidDimensions, "\(model) cannot produce \(p)\(because); nearest valid: \(list.joined(separator: ", "))",
                field: field, details: ["nearest": .array(list.map(JSONValue.string))]))
    }

    /// The `count` sizes of `candidates` closest to `p` in ratio and area.
    static func nearest(_ candidates: [PixelSize], to p: PixelSize, count: Int) -> [PixelSize] {
        let r = log(Double(p.width) / Double(p.height))
        let a = log(Double(p.width * p.height))
        var unique: [PixelSize] = []
        for c in candidates where !unique.contains(c) { unique.append(c) }
        return Array(
            unique.sorted { x, y in
                func d(_ s: PixelSize) -> Double {
                    abs(log(Double(s.width) / Double(s.height)) - r) * 4 + abs(log(Double(s.width * s.height)) - a)
                }
                return (d(x), x) < (d(y), y)
            }.prefix(count))
    }
}

/// How a model's price is computed.
public enum PriceRule: Sendable, Equatable {
    /// Free (the built-in renderer, self-hosted servers).
    case free
    /// A flat price per image.
    case perImage(usd: Double, perInputImageUSD: Double)
    /// A price per image by resolution tier.
    case perTier(usd: [ResolutionTier: Double], perInputImageUSD: Double)
    /// FLUX.2-style: the first output megapixel, each further output megapixel, and each input megapixel.
    case perMegapixel(firstMegapixelUSD: Double, extraMegapixelUSD: Double, inputMegapixelUSD: Double)
    /// No price is published. `ceiling` is the most one image could cost: routing, `maxCostUSD` and budgets count
    /// the model at it (or refuse it, per the policy's `costs.unknownPrice`); a result's cost stays unknown
    /// (`null`) unless the provider reports one.
    indirect case unknown(ceiling: PriceRule)

    /// False for ``unknown(ceiling:)``.
    public var isKnown: Bool {
        if case .unknown = self { return false }
        return true
    }

    /// The price of one image of `size` made with `referenceImages` inputs (each assumed to be about 1 MP); the
    /// ceiling for an unknown price.
    public func cost(size: ResolvedSize, referenceImages: Int) -> Double {
        switch self {
        case .unknown(let ceiling):
            return ceiling.cost(size: size, referenceImages: referenceImages)
        case .free:
            return 0
        case .perImage(let usd, let input):
            return usd + input * Double(referenceImages)
        case .perTier(let table, let input):
            let base = table[size.tier] ?? table.values.max() ?? 0
            return base + input * Double(referenceImages)
        case .perMegapixel(let first, let extra, let input):
            let mp = max(size.pixels.megapixels, 0)
            return first + max(mp - 1, 0) * extra + input * Double(referenceImages)
        }
    }

    /// The JSON form used in `providers/*.json` and `models.list`.
    public var json: JSONValue {
        switch self {
        case .free:
            return ["kind": "free"]
        case .perImage(let usd, let input):
            return ["kind": "perImage", "usd": .number(usd), "perInputImageUSD": .number(input)]
        case .perTier(let table, let input):
            let t = JSONObject(ResolutionTier.allCases.compactMap { k in table[k].map { (k.rawValue, JSONValue.number($0)) } })
            return ["kind": "perTier", "usd": .object(t), "perInputImageUSD": .number(input)]
        case .perMegapixel(let f, let e, let i):
            return ["kind": "perMegapixel", "firstMegapixelUSD": .number(f), "extraMegapixelUSD": .number(e), "inputMegapixelUSD": .number(i)]
        case .unknown(let ceiling):
            return ["kind": "unknown", "ceiling": ceiling.json]
        }
    }
}
