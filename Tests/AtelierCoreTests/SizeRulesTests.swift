import Testing

@testable import AtelierCore

private func ratio(_ text: String) -> AspectRatio { AspectRatio(text)! }

private func entry(_ tier: ResolutionTier, _ r: String, _ size: String) -> SizeRules.SizeEntry {
    .init(tier: tier, aspectRatio: ratio(r), pixels: PixelSize(size)!)
}

/// A Gemini-3-Pro-like fixed table.
private let table = SizeRules.table([
    entry(.r1K, "1:1", "1024x1024"), entry(.r1K, "16:9", "1376x768"), entry(.r1K, "9:16", "768x1376"),
    entry(.r1K, "4:3", "1200x896"), entry(.r1K, "3:4", "896x1200"),
    entry(.r2K, "1:1", "2048x2048"), entry(.r2K, "16:9", "2752x1536"), entry(.r2K, "9:16", "1536x2752"),
    entry(.r4K, "1:1", "4096x4096"), entry(.r4K, "16:9", "5504x3072"),
])

/// A FLUX-like free range: multiples of 16, 256…2048 per side, at most 4 MP.
private let range = SizeRules.range(.init(minWidth: 256, maxWidth: 2048, minHeight: 256, maxHeight: 2048, multipleOf: 16, maxMegapixels: 4.0))

private func pixels(_ w: Int, _ h: Int) -> SizeRequest { .pixels(PixelSize(width: w, height: h)) }
private func tier(_ r: String?, _ t: ResolutionTier?) -> SizeRequest { .tier(aspectRatio: r.map(ratio), resolution: t) }

extension Result {
    fileprivate var success: Success? { if case .success(let s) = self { return s } else { return nil } }
    fileprivate var failure: Failure? { if case .failure(let f) = self { return f } else { return nil } }
}

@Suite("SizeRules: tables")
struct TableSizeTests {
    @Test func exactTableSizeIsAccepted() throws {
        let s = try #require(table.resolve(pixels(1376, 768), model: "g").success)
        #expect(s == ResolvedSize(pixels: PixelSize(width: 1376, height: 768), tier: .r1K, aspectRatio: ratio("16:9"), requestedByTier: false))
        let big = try #require(table.resolve(pixels(5504, 3072), model: "g").success)
        #expect(big.tier == .r4K)
    }

    @Test func impossibleSizeListsTheNearestValidSizes() throws {
        let r = try #require(table.resolve(pixels(1370, 770), model: "gemini").failure)
        #expect(r.reason == "size_not_supported")
        #expect(r.detail.hasPrefix("nearest 1376x768, "))
        #expect(r.error.code == .invalidDimensions)
        #expect(r.error.field == "/width")
        let nearest = try #require(r.error.details["nearest"]?.arrayValue)
        #expect(nearest.count == 3)
        #expect(nearest.first == "1376x768")
        #expect(r.error.message.hasPrefix("gemini cannot produce 1370x770; nearest valid: 1376x768"))

        let square = try #require(table.resolve(pixels(1000, 1000), model: "gemini").failure)
        let list = try #require(square.error.details["nearest"]?.arrayValue)
        let n2 = list.compactMap { $0.stringValue }
        #expect(n2.first == "1024x1024")
        #expect(Set(n2.dropFirst()) == ["1200x896", "896x1200"])  // same ratio distance either way
    }

    @Test(
        "tier and ratio map to the table entry",
        arguments: [
            ("16:9", ResolutionTier.r2K, "2752x1536"),
            ("16:9", .r1K, "1376x768"),
            ("9:16", .r2K, "1536x2752"),
            ("1:1", .r4K, "4096x4096"),
            ("32:18", .r1K, "1376x768"),  // same value, written differently
            ("4:3", .r1K, "1200x896"),
        ] as [(String, ResolutionTier, String)])
    func tierAndRatioMapToTheEntry(r: String, t: ResolutionTier, expected: String) throws {
        let s = try #require(table.resolve(tier(r, t), model: "g").success)
        #expect(s.pixels.description == expected)
        #expect(s.tier == t)
        #expect(s.requestedByTier)
        #expect(s.aspectRatio?.value == ratio(r).value)
    }

    @Test func missingPartsDefaultToOneKAndSquare() throws {
        #expect(try #require(table.resolve(.automatic, model: "g").success).pixels == PixelSize(width: 1024, height: 1024))
        #expect(try #require(table.resolve(tier(nil, .r2K), model: "g").success).pixels == PixelSize(width: 2048, height: 2048))
        #expect(try #require(table.resolve(tier("16:9", nil), model: "g").success).pixels == PixelSize(width: 1376, height: 768))
        // A table without 1K defaults to its smallest tier.
        let only2K = SizeRules.table([entry(.r4K, "1:1", "4096x4096"), entry(.r2K, "1:1", "2048x2048")])
        let s = try #require(only2K.resolve(.automatic, model: "g").success)
        #expect(s.tier == .r2K)
    }

    @Test func unsupportedTierListsTheAllowedTiers() throws {
        #expect(table.tiers == [.r1K, .r2K, .r4K])
        let r = try #require(table.resolve(tier(nil, .r512), model: "gemini").failure)
        #expect(r.reason == "size_not_supported")
        #expect(r.detail == "tier 512; has 1K, 2K, 4K")
        #expect(r.error.code == .invalidDimensions)
        #expect(r.error.field == "/resolution")
        #expect(r.error.details["allowed"] == ["1K", "2K", "4K"])
    }

    @Test func unsupportedRatioListsTheRatiosAtThatTier() throws {
        let r = try #require(table.resolve(tier("4:3", .r2K), model: "gemini").failure)
        #expect(r.detail == "ratio 4:3 at 2K")
        #expect(r.error.field == "/aspectRatio")
        #expect(r.error.details["allowed"] == ["9:16", "1:1", "16:9"])  // ordered by ratio value
    }
}

@Suite("SizeRules: ranges")
struct RangeSizeTests {
    @Test(arguments: [(1024, 768), (256, 256), (2048, 1024), (2000, 2000), (1360, 768)] as [(Int, Int)])
    func validSizesAreAccepted(w: Int, h: Int) throws {
        let s = try #require(range.resolve(pixels(w, h), model: "flux").success)
        #expect(s.pixels == PixelSize(width: w, height: h))
        #expect(s.aspectRatio == nil)
        #expect(!s.requestedByTier)
        #expect(s.tier == ResolutionTier.nearest(width: w, height: h))
    }

    @Test(
        "invalid sizes name the rule broken and the nearest valid size",
        arguments: [
            (1000, 1000, "1008x1008", "multiples of 16"),
            (128, 1024, "256x1024", "width must be 256–2048"),
            (1024, 3008, "1024x2048", "height must be 256–2048"),
            (4096, 256, "2048x256", "width must be 256–2048"),
            (2048, 2048, "2000x2000", "at most 4.0 megapixels"),
        ] as [(Int, Int, String, String)])
    func invalidSizes(w: Int, h: Int, nearest: String, why: String) throws {
        let r = try #require(range.resolve(pixels(w, h), model: "flux").failure)
        #expect(r.reason == "size_not_supported")
        #expect(r.detail == "nearest \(nearest)")
        #expect(r.error.code == .invalidDimensions)
        #expect(r.error.field == "/width")
        #expect(r.error.details["nearest"] == [.string(nearest)])
        #expect(r.error.message.contains(why), "\(r.error.message)")
        // The suggestion itself is valid.
        #expect(range.resolve(.pixels(PixelSize(nearest)!), model: "flux").success != nil)
    }

    @Test func tiersOfARange() {
        #expect(range.tiers == [.r512, .r1K, .r2K])
        let local = SizeRules.range(.init(minWidth: 64, maxWidth: 4096, minHeight: 64, maxHeight: 4096, multipleOf: 8, maxMegapixels: 16.8))
        #expect(local.tiers == ResolutionTier.allCases)
    }

    @Test func tierAndRatioMapToGridSizesNearTheNominalArea() throws {
        let s = try #require(range.resolve(tier("16:9", .r1K), model: "flux").success)
        #expect(s.pixels == PixelSize(width: 1360, height: 768))
        #expect(s.pixels.width % 16 == 0 && s.pixels.height % 16 == 0)
        #expect(abs(s.pixels.megapixels / ResolutionTier.r1K.nominalMegapixels - 1) < 0.02)
        #expect(abs(Double(s.pixels.width) / Double(s.pixels.height) / (16.0 / 9.0) - 1) < 0.01)
        #expect(s.tier == .r1K)
        #expect(s.aspectRatio == ratio("16:9"))
        #expect(s.requestedByTier)

        #expect(try #require(range.resolve(.automatic, model: "flux").success).pixels == PixelSize(width: 1024, height: 1024))
        #expect(try #require(range.resolve(tier(nil, .r512), model: "flux").success).pixels == PixelSize(width: 512, height: 512))
        #expect(try #require(range.resolve(tier("9:16", .r1K), model: "flux").success).pixels == PixelSize(width: 768, height: 1360))
        // 2K square is 4.19 MP; this model stops at 4 MP, so it is scaled into bounds.
        let twoK = try #require(range.resolve(tier("1:1", .r2K), model: "flux").success)
        #expect(twoK.pixels == PixelSize(width: 2000, height: 2000))
        #expect(twoK.tier == .r2K)
    }

    @Test(arguments: ["1:1", "4:3", "3:2", "16:9", "21:9", "9:16", "2:3"], [ResolutionTier.r512, .r1K])
    func everyTierRatioResultIsValidAndClose(r: String, t: ResolutionTier) throws {
        let s = try #require(range.resolve(tier(r, t), model: "flux").success, "\(r) at \(t)")
        #expect(range.resolve(.pixels(s.pixels), model: "flux").success != nil)
        #expect(abs(Double(s.pixels.width) / Double(s.pixels.height) / ratio(r).value - 1) <= 0.03)
    }

    @Test func tooLargeTierListsTheTiersTheModelHas() throws {
        let r = try #require(range.resolve(tier("1:1", .r4K), model: "flux").failure)
        #expect(r.reason == "size_not_supported")
        #expect(r.error.code == .invalidDimensions)
        #expect(r.error.field == "/resolution")
        #expect(r.error.details["allowed"] == ["512", "1K", "2K"])
        #expect(r.detail == "tier 4K; max 4.0 MP")
    }

    @Test func ratioOutsideTheRangeIsRefused() throws {
        // 100:1 cannot fit: the short side would be far below the 256 px minimum.
        let r = try #require(range.resolve(tier("100:1", .r1K), model: "flux").failure)
        #expect(r.reason == "size_not_supported")
        #expect(r.detail == "ratio 100:1 at 1K")
        #expect(r.error.code == .invalidDimensions)
        #expect(r.error.field == "/aspectRatio")
        #expect(r.error.message == "flux cannot produce aspect ratio 100:1 at 1K within its size limits")
        #expect(range.resolve(tier("1:50", .r512), model: "flux").failure?.error.field == "/aspectRatio")
        let local = SizeRules.range(.init(minWidth: 64, maxWidth: 4096, minHeight: 64, maxHeight: 4096, multipleOf: 8, maxMegapixels: 16.8))
        #expect(local.resolve(tier("1:1", .r4K), model: "local").success?.pixels == PixelSize(width: 4096, height: 4096))
    }
}

@Suite("ModelCard.check and prices")
struct ModelCardCheckTests {
    static func card(
        status: ModelStatus = .active, seedHonored: Bool = true, maxReferenceImages: Int = 8, maxPromptLength: Int = 100,
        numberResults: ClosedRange<Int> = 1...4, formats: [OutputFormat] = [.png], price: PriceRule = .free
    ) -> ModelCard {
        ModelCard(
            id: "m", provider: "p", kind: .gemini, upstreamID: "up-m", displayName: "M", status: status, replacedBy: "m2",
            seedHonored: seedHonored, seedAccepted: seedHonored, textRendering: 3, quality: 3, latencySeconds: 5,
            maxReferenceImages: maxReferenceImages, maxPromptLength: maxPromptLength, numberResults: numberResults,
            outputFormats: formats, sizes: table, price: price)
    }

    static func badTask() -> ImageTask {
        ImageTask(
            taskUUID: "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0c", positivePrompt: String(repeating: "p", count: 101),
            size: pixels(1000, 1000), numberResults: 5, referenceImages: Array(repeating: .url("https://r.example/a.png"), count: 9),
            outputFormat: .webp, requirements: .init(reproducible: true))
    }

    @Test func checksRunInOrderAndEachFailureIsPrecise() throws {
        var card = Self.card(status: .retired, seedHonored: false)
        var task = Self.badTask()

        var r = try #require(card.check(task).failure)
        #expect(r.reason == "retired")
        #expect(r.detail == "replaced by m2")
        #expect(r.description == "retired: replaced by m2")
        #expect(r.error.code == .modelRetired)
        #expect(r.error.field == "/model")
        #expect(r.error.details == ["replacedBy": "m2"])
        #expect(r.error.message == "model m is retired; use m2")

        card.status = .deprecated  // deprecated still serves
        r = try #require(card.check(task).failure)
        #expect(r.reason == "ignores_seed")
        #expect(r.description == "ignores_seed")
        #expect(r.error.code == .requirementUnsatisfiable)
        #expect(r.error.field == "/requirements/reproducible")

        card.seedHonored = true
        r = try #require(card.check(task).failure)
        #expect(r.reason == "too_many_references")
        #expect(r.detail == "9 > 8")
        #expect(r.error.code == .tooManyReferences)
        #expect(r.error.field == "/referenceImages")
        #expect(r.error.details == ["max": 8])

        task.referenceImages.removeLast()
        r = try #require(card.check(task).failure)
        #expect(r.reason == "prompt_too_long")
        #expect(r.detail == "101 > 100")
        #expect(r.error.code == .promptTooLong)
        #expect(r.error.field == "/positivePrompt")
        #expect(r.error.details == ["maxLength": 100])

        task.positivePrompt.removeLast()
        r = try #require(card.check(task).failure)
        #expect(r.reason == "number_results_not_supported")
        #expect(r.detail == "5 not in 1…4")
        #expect(r.error.code == .invalidNumberResults)
        #expect(r.error.field == "/numberResults")
        #expect(r.error.details == ["min": 1, "max": 4])

        task.numberResults = 4
        r = try #require(card.check(task).failure)
        #expect(r.reason == "format_not_supported")
        #expect(r.detail == "WEBP")
        #expect(r.error.code == .unsupportedOutputFormat)
        #expect(r.error.field == "/outputFormat")
        #expect(r.error.details == ["allowed": ["PNG"]])

        task.outputFormat = .png
        r = try #require(card.check(task).failure)
        #expect(r.reason == "size_not_supported")
        #expect(r.error.code == .invalidDimensions)

        task.size = tier("16:9", .r2K)
        let ok = try #require(card.check(task).success)
        #expect(ok.pixels == PixelSize(width: 2752, height: 1536))

        // Without the requirement, a model that ignores seeds is fine.
        card.seedHonored = false
        task.requirements.reproducible = false
        #expect(card.check(task).success != nil)
        task.requirements.reproducible = true
        #expect(card.check(task).failure?.reason == "ignores_seed")
    }

    @Test func retiredWithoutReplacement() throws {
        var card = Self.card(status: .retired)
        card.replacedBy = nil
        let r = try #require(card.check(ImageTask(positivePrompt: "x")).failure)
        #expect(r.detail == "")
        #expect(r.error.details.isEmpty)
        #expect(r.error.message == "model m is retired")
    }

    @Test func allIDsIncludeAliases() {
        var card = Self.card()
        card.aliases = ["m-preview", "m-old"]
        #expect(card.allIDs == ["m", "m-preview", "m-old"])
    }

    private static func size(_ w: Int, _ h: Int, _ t: ResolutionTier) -> ResolvedSize {
        ResolvedSize(pixels: PixelSize(width: w, height: h), tier: t, aspectRatio: nil, requestedByTier: false)
    }

    @Test func priceRules() {
        let s1K = Self.size(1024, 1024, .r1K)
        let s4K = Self.size(4096, 4096, .r4K)
        // free
        #expect(PriceRule.free.cost(size: s4K, referenceImages: 3) == 0)
        // perImage: 0.039 + 3 × 0.002
        #expect(abs(PriceRule.perImage(usd: 0.039, perInputImageUSD: 0.002).cost(size: s1K, referenceImages: 3) - 0.045) < 1e-12)
        #expect(PriceRule.perImage(usd: 0.039, perInputImageUSD: 0.002).cost(size: s4K, referenceImages: 0) == 0.039)
        // perTier: the tier's price + 2 × 0.0011; an unlisted tier costs the most expensive listed one
        let tiered = PriceRule.perTier(usd: [.r1K: 0.134, .r2K: 0.134, .r4K: 0.24], perInputImageUSD: 0.0011)
        #expect(abs(tiered.cost(size: s4K, referenceImages: 2) - 0.2422) < 1e-12)
        #expect(abs(tiered.cost(size: s1K, referenceImages: 0) - 0.134) < 1e-12)
        #expect(abs(tiered.cost(size: Self.size(512, 512, .r512), referenceImages: 0) - 0.24) < 1e-12)
        // perMegapixel: 0.03 for the first MP + 0.015 per further MP + 0.015 per input image
        let mp = PriceRule.perMegapixel(firstMegapixelUSD: 0.03, extraMegapixelUSD: 0.015, inputMegapixelUSD: 0.015)
        // 2048 × 2048 = 4.194304 MP → 0.03 + 3.194304 × 0.015 + 2 × 0.015
        #expect(abs(mp.cost(size: Self.size(2048, 2048, .r2K), referenceImages: 2) - 0.107_914_56) < 1e-12)
        // Below one megapixel only the first-megapixel price applies.
        #expect(mp.cost(size: Self.size(512, 512, .r512), referenceImages: 0) == 0.03)
        // 1000 × 1000 is exactly 1 MP.
        #expect(mp.cost(size: Self.size(1000, 1000, .r1K), referenceImages: 0) == 0.03)
    }

    @Test func estimatedCostMultipliesByResults() throws {
        let card = Self.card(price: .perImage(usd: 0.04, perInputImageUSD: 0.01))
        var task = ImageTask(positivePrompt: "x", numberResults: 3, referenceImages: [.url("https://a.example/1"), .url("https://a.example/2")])
        task.size = tier("1:1", .r1K)
        let size = try #require(card.check(task).success)
        // (0.04 + 2 × 0.01) × 3
        #expect(abs(card.estimatedCost(task, size: size) - 0.18) < 1e-12)
    }

    @Test(
        arguments: [
            PriceRule.free, .perImage(usd: 0.039, perInputImageUSD: 0), .perImage(usd: 0.5, perInputImageUSD: 0.25),
            .perTier(usd: [.r1K: 0.134, .r4K: 0.24], perInputImageUSD: 0.0011),
            .perMegapixel(firstMegapixelUSD: 0.03, extraMegapixelUSD: 0.015, inputMegapixelUSD: 0.015),
        ])
    func priceJSONReadsBack(rule: PriceRule) throws {
        #expect(try CatalogLoader.parsePrice(rule.json, path: "/price") == rule)
    }

    @Test func sizesJSONReadsBack() throws {
        #expect(try CatalogLoader.parseSizes(range.json, path: "/sizes") == range)
        guard case .table(let back) = try CatalogLoader.parseSizes(table.json, path: "/sizes"), case .table(let orig) = table else {
            Issue.record("expected a table")
            return
        }
        let key = { (e: SizeRules.SizeEntry) in "\(e.tier.rawValue) \(e.aspectRatio) \(e.pixels)" }
        #expect(back.map(key).sorted() == orig.map(key).sorted())
        // Two sizes for one ratio are written as an array.
        let two = SizeRules.table([entry(.r1K, "1:1", "1024x1024"), entry(.r1K, "1:1", "1000x1000")])
        #expect(JSONWriter.string(two.json) == #"{"table":{"1K":{"1:1":["1024x1024","1000x1000"]}}}"#)
        #expect(try CatalogLoader.parseSizes(two.json, path: "") == two)
    }

    @Test func cardJSONDescribesTheModel() throws {
        let card = Self.card(price: .perImage(usd: 0.04, perInputImageUSD: 0))
        let j = card.json
        #expect(j["id"] == "m")
        #expect(j["upstreamId"] == "up-m")
        #expect(j["replacedBy"] == "m2")
        #expect(j["tiers"] == ["1K", "2K", "4K"])
        #expect(j["numberResults"] == ["min": 1, "max": 4])
        #expect(j["price"] == ["kind": "perImage", "usd": 0.04, "perInputImageUSD": 0])
        #expect(j["aliases"] == nil)
        #expect(j["latencySeconds"] == 5)
    }
}
