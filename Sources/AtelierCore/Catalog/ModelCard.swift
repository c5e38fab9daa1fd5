/// The lifecycle state of a model id at its provider.
public enum ModelStatus: String, Sendable, Hashable, CaseIterable {
    /// Current and routable.
    case active
    /// Still works, scheduled for removal; routable, but `models.list` warns.
    case deprecated
    /// Gone upstream: never routed; a pinned request names the replacement.
    case retired
}

/// Which wire protocol a provider speaks. Each kind has one codec in `AtelierProviders`.
public enum ProviderKind: String, Sendable, Hashable, CaseIterable {
    /// The built-in deterministic offline renderer.
    case local
    /// Google Gemini `generateContent` image models.
    case gemini
    /// The Runware task API (`POST /v1` with an array of tasks).
    case runware
    /// Black Forest Labs FLUX API (submit, then poll `polling_url`).
    case bfl
    /// A self-hosted AUTOMATIC1111 / Forge `sdapi/v1` server.
    case a1111
    /// OpenAI's Images API (`/v1/images/generations`, `/v1/images/edits`) or any endpoint compatible with it.
    case openai
}

/// Everything Atelier knows about one model: identity, capabilities, limits and price.
///
/// Cards are read from `providers/*.json`; nothing about a model is hard-coded.
public struct ModelCard: Sendable, Equatable {
    /// The catalog id callers use in `model` (unique across providers).
    public var id: String
    /// The provider that serves it.
    public var provider: String
    /// The provider's wire protocol.
    public var kind: ProviderKind
    /// The id sent upstream (Gemini model name, Runware AIR, BFL endpoint path, A1111 checkpoint).
    public var upstreamID: String
    /// A human name.
    public var displayName: String
    /// Lifecycle state.
    public var status: ModelStatus
    /// Other ids that resolve to this card (e.g. retired `-preview` ids).
    public var aliases: [String]
    /// The id that replaces this one, when retired or deprecated.
    public var replacedBy: String?
    /// True only when the same seed and inputs really reproduce the same image.
    public var seedHonored: Bool
    /// True when the API accepts a `seed` field at all (it may still ignore it).
    public var seedAccepted: Bool
    /// How well the model renders text inside images, 1 (poor) to 5 (best).
    public var textRendering: Int
    /// Overall image quality, 1 to 5.
    public var quality: Int
    /// Typical seconds per image.
    public var latencySeconds: Double
    /// The most reference images per call (0 = text-to-image only).
    public var maxReferenceImages: Int
    /// The largest reference image accepted, in bytes.
    public var maxReferenceImageBytes: Int
    /// The longest prompt accepted, in characters.
    public var maxPromptLength: Int
    /// Accepted `numberResults`.
    public var numberResults: ClosedRange<Int>
    /// Formats the model can return.
    public var outputFormats: [OutputFormat]
    /// Allowed sizes.
    public var sizes: SizeRules
    /// How a task's cost is computed.
    public var price: PriceRule
    /// The day the price was read from the provider's price list (`price.asOf`, `YYYY-MM-DD`); nil for a free
    /// model (and for cards built in code).
    public var priceAsOf: String?
    /// The built-in offline renderer: never chosen by `model: "auto"` unless the policy allows it.
    public var builtin: Bool
    /// A label for the model's content-safety policy; a `refused` job falls back only to models whose policy differs,
    /// and only when the routing rules allow it.
    public var safetyPolicy: String
    /// Provider-specific defaults sent with every request (e.g. `steps`, `cfg_scale`, `disable_pup`).
    public var parameters: JSONObject
    /// The price through the provider's batch interface (`batch.price`), nil when the model cannot be batched.
    public var batchPrice: PriceRule? = nil
    /// The day the batch price was read (`batch.price.asOf`).
    public var batchPriceAsOf: String? = nil

    /// Creates a card. Loading from JSON is in ``CatalogLoader``.
    public init(
        id: String, provider: String, kind: ProviderKind, upstreamID: String, displayName: String, status: ModelStatus = .active,
        aliases: [String] = [], replacedBy: String? = nil, seedHonored: Bool, seedAccepted: Bool, textRendering: Int, quality: Int,
        latencySeconds: Double, maxReferenceImages: Int, maxReferenceImageBytes: Int = 20 << 20, maxPromptLength: Int,
        numberResults: ClosedRange<Int>, outputFormats: [OutputFormat], sizes: SizeRules, price: PriceRule, builtin: Bool = false,
        safetyPolicy: String = "", parameters: JSONObject = [:], priceAsOf: String? = nil
    ) {
        self.priceAsOf = priceAsOf
        self.id = id
        self.provider = provider
        self.kind = kind
        self.upstreamID = upstreamID
        self.displayName = displayName
        self.status = status
        self.aliases = aliases
        self.replacedBy = replacedBy
        self.seedHonored = seedHonored
        self.seedAccepted = seedAccepted
        self.textRendering = textRendering
        self.quality = quality
        self.latencySeconds = latencySeconds
        self.maxReferenceImages = maxReferenceImages
        self.maxReferenceImageBytes = maxReferenceImageBytes
        self.maxPromptLength = maxPromptLength
        self.numberResults = numberResults
        self.outputFormats = outputFormats
        self.sizes = sizes
        self.price = price
        self.builtin = builtin
        self.safetyPolicy = safetyPolicy
        self.parameters = parameters
    }
}

/// A concrete size chosen for a task on a model.
public struct ResolvedSize: Sendable, Equatable {
    /// The output pixels.
    public var pixels: PixelSize
    /// The tier these pixels belong to (what Gemini's `imageSize` and Runware's `resolution` call it).
    public var tier: ResolutionTier
    /// The named ratio, when the model lists sizes by ratio.
    public var aspectRatio: AspectRatio?
    /// True when the caller asked by tier/ratio rather than exact pixels.
    public var requestedByTier: Bool
}

/// Why a model cannot serve a task: a short reason code for explanations, and the full error for a pinned model.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// Short stable reason (`ignores_seed`, `size_not_supported`, `too_many_references`, `over_budget`, …).
    public var reason: String
    /// A short human detail (`nearest 1376x768`, `9 > 8`).
    public var detail: String
    /// The error a caller gets when this model was pinned.
    public var error: AtelierError

    /// Creates a rejection.
    public init(_ reason: String, _ detail: String, error: AtelierError) {
        self.reason = reason
        self.detail = detail
        self.error = error
    }

    /// `reason: detail`, as shown by `route.explain`.
    public var description: String { detail.isEmpty ? reason : "\(reason): \(detail)" }
}

extension ModelCard {
    /// All ids this card answers to.
    public var allIDs: [String] { [id] + aliases }

    /// Checks everything about `task` that depends only on this card — not availability, budgets or policy —
    /// and returns the size to produce.
    public func check(_ task: ImageTask) -> Result<ResolvedSize, Rejection> {
        if status == .retired {
            let hint = replacedBy.map { "; use \($0)" } ?? ""
            return .failure(
                Rejection(
                    "retired", replacedBy.map { "replaced by \($0)" } ?? "",
                    error: AtelierError(
                        .modelRetired, "model \(id) is retired\(hint)", field: "/model",
                        details: replacedBy.map { ["replacedBy": .string($0)] } ?? [:])))
        }
        if task.requirements.reproducible && !seedHonored {
            return .failure(
                Rejection(
                    "ignores_seed", "",
                    error: AtelierError(
                        .requirementUnsatisfiable,
                        "\(id) does not reproduce images from a seed; requirements.reproducible needs a seed-honouring model",
                        field: "/requirements/reproducible")))
        }
        if task.seed != nil && task.consistency != nil && seedHonored {
            return .failure(
                Rejection(
                    "seed_makes_consistency_pointless", "",
                    error: AtelierError(
                        .requirementUnsatisfiable,
                        "\(id) reproduces images from a seed, so best-of-N sampling with a fixed seed gives one image N times; drop the seed or consistency",
                        field: "/consistency")))
        }
        if task.referenceImages.count > maxReferenceImages {
            let n = task.referenceImages.count
            return .failure(
                Rejection(
                    "too_many_references", "\(n) > \(maxReferenceImages)",
                    error: AtelierError(
                        .tooManyReferences, "\(id) accepts at most \(maxReferenceImages) reference images, got \(n)",
                        field: "/referenceImages", details: ["max": .int(Int64(maxReferenceImages))])))
        }
        if task.positivePrompt.count > maxPromptLength {
            return .failure(
                Rejection(
                    "prompt_too_long", "\(task.positivePrompt.count) > \(maxPromptLength)",
                    error: AtelierError(
                        .promptTooLong, "\(id) accepts prompts of at most \(maxPromptLength) characters, got \(task.positivePrompt.count)",
                        field: "/positivePrompt", details: ["maxLength": .int(Int64(maxPromptLength))])))
        }
        if !numberResults.contains(task.numberResults) {
            return .failure(
                Rejection(
                    "number_results_not_supported", "\(task.numberResults) not in \(numberResults.lowerBound)…\(numberResults.upperBound)",
                    error: AtelierError(
                        .invalidNumberResults,
                        "\(id) produces \(numberResults.lowerBound)–\(numberResults.upperBound) images per task, not \(task.numberResults)",
                        field: "/numberResults",
                        details: ["min": .int(Int64(numberResults.lowerBound)), "max": .int(Int64(numberResults.upperBound))])))
        }
        if !outputFormats.contains(task.outputFormat) {
            return .failure(
                Rejection(
                    "format_not_supported", task.outputFormat.rawValue,
                    error: AtelierError(
                        .unsupportedOutputFormat,
                        "\(id) cannot produce \(task.outputFormat.rawValue); it produces \(outputFormats.map(\.rawValue).joined(separator: ", "))",
                        field: "/outputFormat", details: ["allowed": .array(outputFormats.map { .string($0.rawValue) })])))
        }
        return sizes.resolve(task.size, model: id)
    }

    /// The estimated cost of `task` at `size`, in USD, for all results together (at the ceiling when the price
    /// is unknown).
    public func estimatedCost(_ task: ImageTask, size: ResolvedSize) -> Double {
        price.cost(size: size, referenceImages: task.referenceImages.count) * Double(task.pricedImages)
    }

    /// What the catalog says one image of `size` costs when the call said nothing: the price as an `estimated`
    /// figure, or `unknown` (no number) when the price is not known.
    public func catalogCost(size: ResolvedSize, referenceImages: Int) -> CostFigure {
        guard price.isKnown else { return CostFigure(usd: nil, source: .unknown) }
        return CostFigure(usd: price.cost(size: size, referenceImages: referenceImages), source: .estimated)
    }
}

extension ModelCard {
    /// The `models.list` form: identity, capabilities, grades, sizes and price.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("id", .string(id))
        o.append("provider", .string(provider))
        o.append("upstreamId", .string(upstreamID))
        o.append("displayName", .string(displayName))
        o.append("status", .string(status.rawValue))
        if !aliases.isEmpty { o.append("aliases", .array(aliases.map(JSONValue.string))) }
        o.append("replacedBy", ifPresent: replacedBy.map(JSONValue.string))
        o.append("seedHonored", .bool(seedHonored))
        o.append("seedAccepted", .bool(seedAccepted))
        o.append("textRendering", .int(Int64(textRendering)))
        o.append("quality", .int(Int64(quality)))
        o.append("latencySeconds", .number(latencySeconds))
        o.append("maxReferenceImages", .int(Int64(maxReferenceImages)))
        o.append("maxPromptLength", .int(Int64(maxPromptLength)))
        o.append("numberResults", ["min": .int(Int64(numberResults.lowerBound)), "max": .int(Int64(numberResults.upperBound))])
        o.append("outputFormats", .array(outputFormats.map { .string($0.rawValue) }))
        o.append("tiers", .array(sizes.tiers.map { .string($0.rawValue) }))
        o.append("sizes", sizes.json)
        if let priceAsOf, case .object(var p) = price.json {
            p.append("asOf", .string(priceAsOf))
            o.append("price", .object(p))
        } else {
            o.append("price", price.json)
        }
        if let batchPrice, case .object(var p) = batchPrice.json {
            p.append("asOf", ifPresent: batchPriceAsOf.map(JSONValue.string))
            o.append("batch", ["price": .object(p)])
        }
        o.append("builtin", .bool(builtin))
        return .object(o)
    }
}

extension SizeRules {
    /// The JSON form used in `providers/*.json` and `models.list`.
    public var json: JSONValue {
        switch self {
        case .range(let r):
            return [
                "range": [
                    "minWidth": .int(Int64(r.minWidth)), "maxWidth": .int(Int64(r.maxWidth)), "minHeight": .int(Int64(r.minHeight)),
                    "maxHeight": .int(Int64(r.maxHeight)), "multipleOf": .int(Int64(r.multipleOf)), "maxMegapixels": .number(r.maxMegapixels),
                ]
            ]
        case .table(let entries):
            var tiers = JSONObject()
            for t in ResolutionTier.allCases {
                let rows = entries.filter { $0.tier == t }
                if rows.isEmpty { continue }
                var ratios = JSONObject()
                for e in rows {
                    let s = JSONValue.string(e.pixels.description)
                    switch ratios[e.aspectRatio.description] {
                    case nil: ratios[e.aspectRatio.description] = s
                    case .array(let a)?: ratios[e.aspectRatio.description] = .array(a + [s])
                    case let v?: ratios[e.aspectRatio.description] = .array([v, s])
                    }
                }
                tiers.append(t.rawValue, .object(ratios))
            }
            return ["table": .object(tiers)]
        }
    }
}
