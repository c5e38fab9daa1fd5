import Foundation
import Testing

@testable import AtelierCore

/// A catalog shaped like the real providers/*.json (same ids, capabilities and list prices), built in code so the router
/// tests do not depend on provider files.
enum RoutingFixtures {
    static let geminiPro1K: [(String, String)] = [
        ("1:1", "1024x1024"), ("2:3", "848x1264"), ("3:2", "1264x848"), ("3:4", "896x1200"), ("4:3", "1200x896"),
        ("4:5", "928x1152"), ("5:4", "1152x928"), ("9:16", "768x1376"), ("16:9", "1376x768"), ("21:9", "1584x672"),
    ]

    /// The Gemini 3 size table: 1K as listed, 2K doubled, 4K quadrupled (plus 512 when asked).
    static func geminiTable(tiers: [ResolutionTier]) -> SizeRules {
        var rows: [SizeRules.SizeEntry] = []
        for t in tiers {
            let factor: Double
            switch t {
            case .r512: factor = 0.5
            case .r1K: factor = 1
            case .r2K: factor = 2
            case .r4K: factor = 4
            }
            for (r, p) in geminiPro1K {
                let px = PixelSize(p)!
                rows.append(
                    .init(
                        tier: t, aspectRatio: AspectRatio(r)!,
                        pixels: PixelSize(width: Int(Double(px.width) * factor), height: Int(Double(px.height) * factor))))
            }
        }
        return .table(rows)
    }

    static let flash25Table: SizeRules = .table(
        [
            ("1:1", "1024x1024"), ("2:3", "832x1248"), ("3:2", "1248x832"), ("3:4", "864x1184"), ("4:3", "1184x864"),
            ("4:5", "896x1152"), ("5:4", "1152x896"), ("9:16", "768x1344"), ("16:9", "1344x768"), ("21:9", "1536x672"),
        ].map { .init(tier: .r1K, aspectRatio: AspectRatio($0.0)!, pixels: PixelSize($0.1)!) })

    static func range(_ lo: Int, _ hi: Int, multiple: Int, mp: Double) -> SizeRules {
        .range(.init(minWidth: lo, maxWidth: hi, minHeight: lo, maxHeight: hi, multipleOf: multiple, maxMegapixels: mp))
    }

    static func card(
        _ id: String, provider: String, kind: ProviderKind, seed: Bool, text: Int, quality: Int, latency: Double, refs: Int,
        sizes: SizeRules, price: PriceRule, results: ClosedRange<Int> = 1...4, formats: [OutputFormat] = [.png, .jpg],
        builtin: Bool = false, safety: String, status: ModelStatus = .active, aliases: [String] = []
    ) -> ModelCard {
        ModelCard(
            id: id, provider: provider, kind: kind, upstreamID: id, displayName: id, status: status, aliases: aliases, seedHonored: seed,
            seedAccepted: seed || kind == .gemini, textRendering: text, quality: quality, latencySeconds: latency, maxReferenceImages: refs,
            maxPromptLength: 8000, numberResults: results, outputFormats: formats, sizes: sizes, price: price, builtin: builtin,
            safetyPolicy: safety)
    }

    /// The 13 models of the real catalog.
    static let models: [String: [ModelCard]] = [
        "local": [
            card(
                "local-render", provider: "local", kind: .local, seed: true, text: 1, quality: 1, latency: 0.3, refs: 4,
                sizes: range(64, 4096, multiple: 8, mp: 16.8), price: .free, results: 1...8, builtin: true, safety: "none")
        ],
        "gemini": [
            card(
                "gemini-3-pro-image", provider: "gemini", kind: .gemini, seed: false, text: 5, quality: 5, latency: 20, refs: 14,
                sizes: geminiTable(tiers: [.r1K, .r2K, .r4K]),
                price: .perTier(usd: [.r1K: 0.134, .r2K: 0.134, .r4K: 0.24], perInputImageUSD: 0.0011),
                safety: "google", aliases: ["gemini-3-pro-image-preview", "nano-banana-pro"]),
            card(
                "gemini-3.1-flash-image", provider: "gemini", kind: .gemini, seed: false, text: 4, quality: 4, latency: 8, refs: 14,
                sizes: geminiTable(tiers: [.r512, .r1K, .r2K, .r4K]),
                price: .perTier(usd: [.r512: 0.045, .r1K: 0.067, .r2K: 0.101, .r4K: 0.151], perInputImageUSD: 0.0005), safety: "google"),
            card(
                "gemini-2.5-flash-image", provider: "gemini", kind: .gemini, seed: false, text: 3, quality: 3, latency: 6, refs: 3,
                sizes: flash25Table, price: .perImage(usd: 0.039, perInputImageUSD: 0.0003), safety: "google"),
        ],
        "bfl": [
            card(
                "flux-2-pro", provider: "bfl", kind: .bfl, seed: true, text: 4, quality: 5, latency: 10, refs: 8,
                sizes: range(64, 2048, multiple: 16, mp: 4.0),
                price: .perMegapixel(firstMegapixelUSD: 0.03, extraMegapixelUSD: 0.015, inputMegapixelUSD: 0.015), safety: "bfl"),
            card(
                "flux-2-flex", provider: "bfl", kind: .bfl, seed: true, text: 4, quality: 4, latency: 20, refs: 10,
                sizes: range(64, 2048, multiple: 16, mp: 4.0),
                price: .perMegapixel(firstMegapixelUSD: 0.05, extraMegapixelUSD: 0.05, inputMegapixelUSD: 0.05), safety: "bfl"),
            card(
                "flux-2-klein-4b", provider: "bfl", kind: .bfl, seed: true, text: 2, quality: 3, latency: 2, refs: 4,
                sizes: range(64, 2048, multiple: 16, mp: 4.0),
                price: .perMegapixel(firstMegapixelUSD: 0.014, extraMegapixelUSD: 0.014, inputMegapixelUSD: 0.007), safety: "bfl"),
            card(
                "flux-pro-1.1", provider: "bfl", kind: .bfl, seed: true, text: 3, quality: 4, latency: 8, refs: 0,
                sizes: range(256, 1440, multiple: 32, mp: 2.1), price: .perImage(usd: 0.04, perInputImageUSD: 0), results: 1...1, safety: "bfl"),
        ],
        "runware": [
            card(
                "runware-nano-banana-pro", provider: "runware", kind: .runware, seed: false, text: 5, quality: 5, latency: 25, refs: 14,
                sizes: geminiTable(tiers: [.r1K, .r2K, .r4K]), price: .perTier(usd: [.r1K: 0.138, .r2K: 0.138, .r4K: 0.244], perInputImageUSD: 0),
                results: 1...4, formats: [.png, .jpg, .webp], safety: "google"),
            card(
                "runware-flux-2-dev", provider: "runware", kind: .runware, seed: true, text: 3, quality: 4, latency: 12, refs: 4,
                sizes: range(128, 2048, multiple: 16, mp: 4.2),
                price: .perMegapixel(firstMegapixelUSD: 0.012, extraMegapixelUSD: 0.012, inputMegapixelUSD: 0.006), results: 1...20,
                formats: [.png, .jpg, .webp], safety: "runware"),
            card(
                "runware-flux-1-schnell", provider: "runware", kind: .runware, seed: true, text: 1, quality: 2, latency: 1.5, refs: 0,
                sizes: range(128, 2048, multiple: 64, mp: 4.2), price: .perImage(usd: 0.0013, perInputImageUSD: 0), results: 1...20,
                formats: [.png, .jpg, .webp], safety: "runware"),
        ],
        "a1111": [
            card(
                "sd-webui", provider: "a1111", kind: .a1111, seed: true, text: 1, quality: 3, latency: 8, refs: 1,
                sizes: range(64, 2048, multiple: 8, mp: 4.2), price: .free, results: 1...8, safety: "self-hosted")
        ],
    ]

    static let kinds: [String: ProviderKind] = ["local": .local, "gemini": .gemini, "bfl": .bfl, "runware": .runware, "a1111": .a1111]

    /// The full catalog (providers in file-name order, like the loader).
    static func catalog(only ids: Set<String>? = nil, edit: (inout ModelCard) -> Void = { _ in }) -> Catalog {
        var providers: [ProviderConfig] = []
        for p in ["a1111", "bfl", "gemini", "local", "runware"] {
            var ms = models[p]!.filter { ids?.contains($0.id) ?? true }
            for k in ms.indices { edit(&ms[k]) }
            if ms.isEmpty { continue }
            providers.append(ProviderConfig(id: p, kind: kinds[p]!, displayName: p, models: ms))
        }
        return Catalog(providers: providers)
    }

    static let full = catalog()

    static func policy(_ text: String, catalog: Catalog = full) throws -> RoutingPolicy {
        try RoutingPolicy.parse(JSONParser.parse(text), file: "test.json", catalog: catalog)
    }

    static func issues(_ text: String, catalog: Catalog = full) -> [ConfigIssue] {
        do {
            _ = try policy(text, catalog: catalog)
            return []
        } catch let e as ConfigError {
            return e.issues
        } catch {
            return [ConfigIssue(file: "", pointer: "", message: "\(error)")]
        }
    }

    static func task(
        _ prompt: String = "a lighthouse at dusk", model: String = "auto", size: SizeRequest = .automatic, refs: Int = 0,
        reproducible: Bool = false, text: Bool = false, maxCost: Double? = nil, phase: Phase? = nil, tags: [String: String] = [:],
        results: Int = 1, format: OutputFormat = .png, uuid: String? = nil
    ) -> ImageTask {
        ImageTask(
            taskUUID: uuid ?? UUIDv4.derived(from: prompt + "\(refs)\(reproducible)\(text)\(String(describing: phase))\(tags)"),
            positivePrompt: prompt, model: model, size: size, numberResults: results,
            referenceImages: (0..<refs).map { .url("https://example.com/ref\($0).png") }, outputFormat: format,
            requirements: .init(reproducible: reproducible, textRendering: text, maxCostUSD: maxCost), phase: phase, tags: tags)
    }

    static func router(_ policyText: String = "{}", catalog: Catalog = full) throws -> Router {
        Router(catalog: catalog, policy: try policy(policyText, catalog: catalog))
    }

    /// The repository root (the test files may be symlinks into it).
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static func unavailable(_ ids: [String], reason: String = "no_api_key") -> RoutingContext {
        var u: [String: Rejection] = [:]
        for id in ids { u[id] = Rejection(reason, "key not set", error: AtelierError(.auth, "\(id): key not set")) }
        return RoutingContext(unavailable: u)
    }
}
