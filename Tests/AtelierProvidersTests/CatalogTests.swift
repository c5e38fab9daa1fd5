import AtelierCore
import Foundation
import Testing

@testable import AtelierProviders

@Suite("Provider catalog files")
struct CatalogTests {
    @Test("every provider file in providers/ loads")
    func loads() throws {
        let catalog: Catalog
        switch Fixtures.catalog {
        case .success(let c): catalog = c
        case .failure(let e):
            Issue.record("catalog failed to load:\n\(e)")
            return
        }
        for id in ["gemini", "runware", "bfl", "a1111"] {
            #expect(catalog.provider(id) != nil, "provider \(id) missing")
        }
        #expect(catalog.provider("gemini")?.apiKeyEnv == "GEMINI_API_KEY")
        #expect(catalog.provider("runware")?.apiKeyEnv == "RUNWARE_API_KEY")
        #expect(catalog.provider("bfl")?.apiKeyEnv == "BFL_API_KEY")
        let a = try #require(catalog.provider("a1111"))
        #expect(a.apiKeyEnv == "SDWEBUI_AUTH" && a.keyOptional && a.concurrency == 1 && a.baseURL == "http://127.0.0.1:7860")
        #expect(catalog.provider("gemini")?.baseURL == "https://generativelanguage.googleapis.com")
        #expect(catalog.provider("runware")?.baseURL == "https://api.runware.ai")
        #expect(catalog.provider("bfl")?.baseURL == "https://api.bfl.ai")
    }

    @Test("required model ids exist with their upstream ids and kinds")
    func requiredIDs() throws {
        let expected: [(String, String, ProviderKind)] = [
            ("gemini-3-pro-image", "gemini-3-pro-image", .gemini), ("gemini-3.1-flash-image", "gemini-3.1-flash-image", .gemini),
            ("gemini-2.5-flash-image", "gemini-2.5-flash-image", .gemini),
            ("runware-nano-banana", "google:4@1", .runware), ("runware-nano-banana-pro", "google:4@2", .runware),
            ("runware-nano-banana-2", "google:4@3", .runware), ("runware-flux-2-pro", "bfl:5@1", .runware),
            ("runware-flux-2-flex", "bfl:6@1", .runware), ("runware-flux-2-dev", "runware:400@1", .runware),
            ("runware-flux-2-klein-4b", "runware:400@4", .runware), ("runware-flux-1-dev", "runware:101@1", .runware),
            ("runware-flux-1-schnell", "runware:100@1", .runware), ("runware-sd3", "runware:5@1", .runware),
            ("runware-seedream-4", "bytedance:5@0", .runware),
            ("flux-2-pro", "flux-2-pro", .bfl), ("flux-2-flex", "flux-2-flex", .bfl), ("flux-2-max", "flux-2-max", .bfl),
            ("flux-2-klein-4b", "flux-2-klein-4b", .bfl), ("flux-2-klein-9b", "flux-2-klein-9b", .bfl), ("flux-pro-1.1", "flux-pro-1.1", .bfl),
            ("flux-kontext-pro", "flux-kontext-pro", .bfl), ("sd-webui", "current", .a1111),
        ]
        for (id, upstream, kind) in expected {
            let m = try Fixtures.model(id)
            #expect(m.upstreamID == upstream, "\(id)")
            #expect(m.kind == kind, "\(id)")
        }
    }

    @Test("Gemini cards: grades, tiers, prices, seeds")
    func geminiCards() throws {
        let pro = try Fixtures.model("gemini-3-pro-image")
        #expect(pro.textRendering == 5 && pro.quality == 5 && pro.maxReferenceImages == 14)
        #expect(pro.sizes.tiers == [.r1K, .r2K, .r4K])
        #expect(pro.price == .perTier(usd: [.r1K: 0.134, .r2K: 0.134, .r4K: 0.24], perInputImageUSD: 0.0011))
        let flash = try Fixtures.model("gemini-3.1-flash-image")
        #expect(flash.textRendering == 4)
        #expect(flash.sizes.tiers == [.r512, .r1K, .r2K, .r4K])
        #expect(flash.price == .perTier(usd: [.r512: 0.045, .r1K: 0.067, .r2K: 0.101, .r4K: 0.151], perInputImageUSD: 0.00028))
        // Extreme ratios exist on Flash only.
        let wide = ImageTask(positivePrompt: "x", size: .tier(aspectRatio: AspectRatio(width: 8, height: 1), resolution: .r1K))
        #expect(try flash.check(wide).get().pixels == PixelSize(width: 3072, height: 384))
        #expect((try? pro.check(wide).get()) == nil)
        let nb = try Fixtures.model("gemini-2.5-flash-image")
        #expect(nb.sizes.tiers == [.r1K])
        #expect(nb.price.cost(size: try nb.check(ImageTask(positivePrompt: "x")).get(), referenceImages: 0) == 0.039)
        for m in try Fixtures.catalog.get().models where m.kind == .gemini {
            #expect(!m.seedHonored && m.seedAccepted, "\(m.id)")
        }
    }

    @Test("retired preview ids point at their replacements")
    func retiredPreviews() throws {
        for (old, new) in [("gemini-3-pro-image-preview", "gemini-3-pro-image"), ("gemini-3.1-flash-image-preview", "gemini-3.1-flash-image")] {
            let m = try Fixtures.model(old)
            #expect(m.status == .retired && m.replacedBy == new)
            guard case .failure(let r) = m.check(ImageTask(positivePrompt: "x")) else {
                Issue.record("\(old) should be refused")
                continue
            }
            #expect(r.reason == "retired" && r.error.message.contains(new))
        }
    }

    @Test("Runware Google models accept a seed but do not honour it; reproducible tasks refuse them")
    func runwareSeeds() throws {
        for id in ["runware-nano-banana", "runware-nano-banana-pro", "runware-nano-banana-2"] {
            let m = try Fixtures.model(id)
            #expect(m.seedAccepted && !m.seedHonored, "\(id)")
            let t = ImageTask(positivePrompt: "x", requirements: .init(reproducible: true))
            guard case .failure(let r) = m.check(t) else {
                Issue.record("\(id) accepted a reproducible task")
                continue
            }
            #expect(r.reason == "ignores_seed")
        }
        #expect(try Fixtures.model("runware-flux-2-dev").seedHonored)
    }

    @Test("BFL cards honour seeds with prompt upsampling switched off")
    func bflSeeds() throws {
        for m in try Fixtures.catalog.get().models where m.kind == .bfl {
            #expect(m.seedHonored, "\(m.id)")
            let off = m.parameters["disable_pup"] == .bool(true) || m.parameters["prompt_upsampling"] == .bool(false)
            let noSwitch = m.id.hasPrefix("flux-2-klein")
            #expect(off || noSwitch, "\(m.id) needs an upsampling switch in parameters")
        }
        #expect(try Fixtures.model("flux-2-pro").price == .perMegapixel(firstMegapixelUSD: 0.03, extraMegapixelUSD: 0.015, inputMegapixelUSD: 0.015))
        #expect(try Fixtures.model("flux-pro-1.1").price == .perImage(usd: 0.04, perInputImageUSD: 0))
    }

    @Test("sd-webui: free, seed-honouring, 0–1 references, sampler defaults")
    func sdWebUI() throws {
        let m = try Fixtures.model("sd-webui")
        #expect(m.price == .free && m.seedHonored && m.maxReferenceImages == 1)
        #expect(m.parameters["steps"] != nil && m.parameters["cfg_scale"] != nil && m.parameters["sampler_name"] != nil)
    }

    static let tableModels = [
        "gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-2.5-flash-image", "runware-nano-banana", "runware-nano-banana-pro",
        "runware-nano-banana-2", "runware-seedream-4", "gemini-3.1-flash-lite-image", "gpt-image-2", "gpt-image-2-low", "gpt-image-2-high",
        "gemini-nano-banana-2.1",
    ]

    @Test("table models refuse an impossible size with a nearest-size hint", arguments: tableModels)
    func impossibleSize(_ id: String) throws {
        let m = try Fixtures.model(id)
        guard case .table = m.sizes else {
            Issue.record("\(id) is not a table model")
            return
        }
        let task = ImageTask(positivePrompt: "x", size: .pixels(PixelSize(width: 1000, height: 1001)))
        guard case .failure(let r) = m.check(task) else {
            Issue.record("\(id) accepted 1000x1001")
            return
        }
        #expect(r.reason == "size_not_supported")
        #expect(r.detail.hasPrefix("nearest "))
        #expect(r.error.code == .invalidDimensions)
        let nearest = r.error.details["nearest"]?.arrayValue ?? []
        #expect(!nearest.isEmpty)
        // The hint is itself a size the model accepts.
        if let first = nearest.first?.stringValue, let p = PixelSize(first) {
            #expect((try? m.check(ImageTask(positivePrompt: "x", size: .pixels(p))).get()) != nil, "\(id): hint \(first) is not valid")
        }
    }

    @Test("every table model in gemini.json, runware.json and openai.json is covered by the impossible-size test")
    func allTablesCovered() throws {
        let tables = try Fixtures.catalog.get().models.filter { m in
            guard m.kind == .gemini || m.kind == .runware || m.kind == .openai, m.status != .retired, case .table = m.sizes else { return false }
            return true
        }
        #expect(Set(tables.map(\.id)) == Set(Self.tableModels))
    }

    @Test("flux-pro-1.1 needs multiples of 32, FLUX.2 multiples of 16")
    func multiples() throws {
        let p11 = try Fixtures.model("flux-pro-1.1")
        let f2 = try Fixtures.model("flux-2-pro")
        let t = ImageTask(positivePrompt: "x", size: .pixels(PixelSize(width: 1008, height: 1008)))
        #expect((try? f2.check(t).get()) != nil)
        guard case .failure(let r) = p11.check(t) else {
            Issue.record("flux-pro-1.1 accepted 1008x1008")
            return
        }
        #expect(r.error.message.contains("multiples of 32"))
    }
}

@Suite("Provider factory")
struct FactoryTests {
    @Test("each network provider kind gets its client, configured from its catalog entry")
    func make() throws {
        let catalog = try Fixtures.catalog.get()
        let t = ScriptedTransport([])
        for id in ["gemini", "runware", "bfl", "a1111", "openai"] {
            let config = try #require(catalog.provider(id))
            let p = try #require(NetworkProviders.make(config: config, credentials: nil, transport: t))
            #expect(p.id == id)
        }
        let local = try #require(catalog.provider("local"))
        #expect(NetworkProviders.make(config: local, credentials: nil, transport: t) == nil)
        let rwConfig = try #require(catalog.provider("runware"))
        let rw = try #require(NetworkProviders.make(config: rwConfig, credentials: nil, transport: t) as? RunwareProvider)
        #expect(rw.configuration.totalTimeoutSeconds == 900 && rw.configuration.requestTimeoutSeconds == 60)
        let aConfig = try #require(catalog.provider("a1111"))
        let a = try #require(NetworkProviders.make(config: aConfig, credentials: nil, transport: t) as? A1111Provider)
        #expect(a.configuration.requestTimeoutSeconds == 1800)
    }

    @Test("the client's configuration is the one owner of the base URL and key: a generation calls what make() was given")
    func baseURLAndKeyHaveOneOwner() async throws {
        let catalog = try Fixtures.catalog.get()
        var config = try #require(catalog.provider("gemini"))
        config.baseURL = "http://127.0.0.1:7/"  // the operator's override, applied by the registry
        let t = ScriptedTransport([reply(500, #"{"error":{"code":500,"message":"down","status":"INTERNAL"}}"#)])
        let p = try #require(NetworkProviders.make(config: config, credentials: Credentials("gm-key-0001"), transport: t))
        let request = try Fixtures.request("gemini-3-pro-image")
        _ = await providerError { () async throws(ProviderError) in try await p.generate(request, context: .none) }
        let sent = try #require(await t.requests.first)
        #expect(sent.url.hasPrefix("http://127.0.0.1:7/v1beta/models/") && sent.url.hasSuffix(":generateContent"))
        #expect(header(sent, "x-goog-api-key") == "gm-key-0001")
        // Without a key the one guard refuses before anything is sent.
        let none = ScriptedTransport([])
        let unkeyed = try #require(NetworkProviders.make(config: config, credentials: nil, transport: none))
        let e = await providerError { () async throws(ProviderError) in try await unkeyed.generate(request, context: .none) }
        #expect(e?.code == .auth && e?.message.contains("gemini") == true)
        #expect(await none.requests.isEmpty)
    }
}
