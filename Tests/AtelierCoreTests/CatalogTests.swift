import Foundation
import Testing

@testable import AtelierCore

/// The repository root, found from this file (symlinks resolved, so a scratch package that links the tests works too).
private let repositoryRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private let providersDirectory = repositoryRoot.appendingPathComponent("providers").path

/// A minimal valid model with `extra` members merged in (a `null` value removes a member).
private func model(_ id: String, _ extra: JSONObject = [:]) -> JSONValue {
    var o: JSONObject = [
        "id": .string(id), "seedHonored": false,
        "sizes": ["range": ["minWidth": 64, "maxWidth": 2048, "minHeight": 64, "maxHeight": 2048, "multipleOf": 8, "maxMegapixels": 4]],
        "price": ["kind": "free"],
    ]
    for (k, v) in extra { o[k] = v.isNull ? nil : v }
    return .object(o)
}

private func provider(_ id: String, kind: String = "local", models: [JSONValue], extra: JSONObject = [:]) -> JSONValue {
    var o: JSONObject = ["id": .string(id), "kind": .string(kind), "models": .array(models)]
    for (k, v) in extra { o[k] = v }
    return .object(o)
}

private func document(_ file: String, _ value: JSONValue) -> (String, Data) { (file, Data(JSONWriter.bytes(value))) }

/// The `ConfigError` from loading `documents`, or nil when they load.
private func loadError(_ documents: [(String, Data)]) -> ConfigError? {
    do throws(ConfigError) {
        _ = try CatalogLoader.load(documents: documents)
        return nil
    } catch {
        return error
    }
}

private func table(_ tiers: JSONValue) -> JSONValue { ["table": tiers] }

@Suite("CatalogLoader")
struct CatalogLoaderTests {
    @Test func theShippedLocalProviderLoads() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: providersDirectory).appendingPathComponent("local.json"))
        let catalog = try CatalogLoader.load(documents: [("providers/local.json", data)])
        #expect(catalog.providers.count == 1)
        let p = try #require(catalog.provider("local"))
        #expect(p.kind == .local)
        #expect(p.displayName == "Built-in offline renderer")
        #expect(p.baseURL == nil)
        #expect(p.concurrency == 2)
        #expect(p.requestTimeoutSeconds == 60)
        #expect(p.totalTimeoutSeconds == 120)
        #expect(p.retry == RetryPolicy(maxAttempts: 2, baseDelaySeconds: 0.1, maxDelaySeconds: 1))
        #expect(p.source == "providers/local.json")
        #expect(p.baseURLEnv == "ATELIER_LOCAL_BASE_URL")

        let m = try #require(catalog.model("local-render"))
        #expect(m.provider == "local")
        #expect(m.kind == .local)
        #expect(m.upstreamID == "atelier-local-v1")
        #expect(m.status == .active)
        #expect(m.seedHonored && m.seedAccepted)
        #expect(m.builtin)
        #expect(m.textRendering == 1 && m.quality == 1)
        #expect(m.latencySeconds == 0.3)
        #expect(m.maxReferenceImages == 4)
        #expect(m.maxReferenceImageBytes == 20 * 1_048_576)
        #expect(m.maxPromptLength == 4000)
        #expect(m.numberResults == 1...8)
        #expect(m.outputFormats == [.png, .jpg, .webp])
        #expect(m.sizes == .range(.init(minWidth: 64, maxWidth: 4096, minHeight: 64, maxHeight: 4096, multipleOf: 8, maxMegapixels: 16.8)))
        #expect(m.price == .free)
        #expect(m.safetyPolicy == "none")
        #expect(catalog.models == [m])
        #expect(catalog.model("auto") == nil)
    }

    @Test func theProvidersDirectoryLoads() throws {
        let catalog = try CatalogLoader.load(directory: providersDirectory)
        #expect(catalog.provider("local")?.source.hasSuffix("/providers/local.json") == true)
        #expect(catalog.model("local-render")?.builtin == true)
        // File-name order.
        let ids = catalog.providers.map(\.id)
        #expect(ids == ids.sorted())
    }

    @Test func directoryProblemsAreIssues() throws {
        let missing = "/nonexistent-\(UUID().uuidString)"
        do throws(ConfigError) {
            _ = try CatalogLoader.load(directory: missing)
            Issue.record("expected an error")
        } catch {
            #expect(error.issues == [ConfigIssue(file: missing, pointer: "", message: "cannot read the providers directory")])
        }
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-empty-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: empty).appendingPathComponent("notes.txt"))
        do throws(ConfigError) {
            _ = try CatalogLoader.load(directory: empty)
            Issue.record("expected an error")
        } catch {
            #expect(error.issues.count == 1)
            #expect(error.issues.first?.message.contains("no provider files") == true)
        }
    }

    @Test func brokenDocumentsReportEveryIssueWithFileAndPointer() throws {
        let a = provider(
            "a",
            models: [
                model("m-typo", ["prise": ["kind": "free"]]),
                model("m-tier", ["sizes": table(["3K": ["1:1": "1024x1024"]])]),
                model("m-ratio", ["sizes": table(["1K": ["16-9": "1376x768"]])]),
                model("m-size", ["sizes": table(["1K": ["1:1": "1024by1024"]])]),
                model("m-seed", ["seedHonored": nil]),
                model("shared"),
                model("m-replaced", ["status": "retired", "replacedBy": "nowhere"]),
            ])
        // A model that fails to parse must not shift the pointers of the models after it.
        let b = provider("bee", models: [model("b-bad", ["quality": 9]), model("shared"), model("b-ok")])
        let c: (String, Data) = ("providers/c.json", Data("{\"id\":\"c\",".utf8))
        let d = provider("d", models: [model("d-ok")], extra: ["modles": []])

        let error = try #require(loadError([document("providers/a.json", a), document("providers/b.json", b), c, document("providers/d.json", d)]))
        let found = Set(error.issues.map { "\($0.file) \($0.pointer)" })
        let expected: Set<String> = [
            "providers/a.json /models/0/prise",  // unknown member
            "providers/a.json /models/1/sizes/table/3K",  // bad tier
            "providers/a.json /models/2/sizes/table/1K/16-9",  // bad ratio
            "providers/a.json /models/3/sizes/table/1K/1:1",  // bad size string
            "providers/a.json /models/4/seedHonored",  // missing seedHonored
            "providers/b.json /id",  // id does not match the file name
            "providers/b.json /models/0/quality",  // out of range
            "providers/b.json /models/1",  // duplicate model id across files
            "providers/c.json ",  // not JSON
            "providers/d.json /modles",  // unknown top-level member
            "providers/a.json /models/6/replacedBy",  // replacedBy names no model
        ]
        #expect(found == expected, "\(error)")
        #expect(error.issues.count == expected.count)

        func issue(_ file: String, _ pointer: String) -> ConfigIssue? {
            error.issues.first { $0.file == file && $0.pointer == pointer }
        }
        #expect(issue("providers/a.json", "/models/0/prise")?.hint == "check the spelling; unknown members are not ignored")
        #expect(issue("providers/a.json", "/models/1/sizes/table/3K")?.hint == "allowed: 512, 1K, 2K, 4K")
        #expect(issue("providers/a.json", "/models/4/seedHonored")?.message.contains("seedHonored is required") == true)
        #expect(issue("providers/b.json", "/id")?.hint == "name the file bee.json")
        #expect(issue("providers/b.json", "/models/1")?.message.contains("'shared' is already used by a/shared") == true)
        #expect(issue("providers/c.json", "")?.message.hasPrefix("invalid JSON at byte 10") == true)
        #expect(issue("providers/a.json", "/models/6/replacedBy")?.message == "model m-replaced is replacedBy unknown model 'nowhere'")
        // The description lists one issue per line.
        #expect(error.description.split(separator: "\n").count == expected.count)
        #expect(error.description.contains("providers/c.json:/: invalid JSON"))
    }

    @Test func replacedByAndAliasesResolveAcrossFiles() throws {
        let one = provider("one", models: [model("old", ["status": "retired", "replacedBy": "new", "aliases": ["old-preview"]])])
        let two = provider(
            "two", kind: "runware", models: [model("new")], extra: ["baseURL": "https://api.runware.ai/v1", "apiKeyEnv": "RUNWARE_API_KEY"])
        let catalog = try CatalogLoader.load(documents: [document("one.json", one), document("two.json", two)])
        #expect(catalog.model("old-preview")?.id == "old")
        #expect(catalog.model("old")?.replacedBy == "new")
        #expect(catalog.model("new")?.provider == "two")
        #expect(catalog.model("new")?.kind == .runware)
        #expect(catalog.provider("two")?.apiKeyEnv == "RUNWARE_API_KEY")
        #expect(catalog.models.map(\.id) == ["old", "new"])
        // An alias may not shadow another model's id.
        let clash = provider("three", models: [model("x", ["aliases": ["new"]])])
        let e = try #require(loadError([document("two.json", two), document("three.json", clash)]))
        #expect(e.issues.map(\.pointer) == ["/models/0"])
        #expect(e.issues.first?.file == "three.json")
    }

    /// (what is wrong, the document, the expected pointer, a fragment of the message or hint).
    static let singleIssueCases: [(String, JSONValue, String, String)] = [
        ("unknown provider kind", provider("p", kind: "dalle", models: [model("m")]), "/kind", "allowed: local, gemini, runware, bfl, a1111"),
        ("remote provider without baseURL", provider("p", kind: "gemini", models: [model("m")]), "/baseURL", "baseURL is required"),
        ("baseURL not http", provider("p", kind: "bfl", models: [model("m")], extra: ["baseURL": "ftp://x.example"]), "/baseURL", "only http"),
        ("no models", provider("p", models: []), "/models", "non-empty"),
        ("concurrency out of range", provider("p", models: [model("m")], extra: ["concurrency": 0]), "/concurrency", "between 1 and 256"),
        ("retry typo", provider("p", models: [model("m")], extra: ["retry": ["maxAttempt": 3]]), "/retry/maxAttempt", "unknown field"),
        ("zero timeout", provider("p", models: [model("m")], extra: ["requestTimeoutSeconds": 0]), "/requestTimeoutSeconds", "greater than zero"),
        ("model id auto", provider("p", models: [model("auto")]), "/models/0/id", "not 'auto'"),
        ("model id with space", provider("p", models: [model("a b")]), "/models/0/id", "without spaces"),
        ("bad status", provider("p", models: [model("m", ["status": "gone"])]), "/models/0/status", "allowed: active, deprecated, retired"),
        (
            "honours but refuses seeds", provider("p", models: [model("m", ["seedHonored": true, "seedAccepted": false])]), "/models/0/seedAccepted",
            "must accept"
        ),
        ("quality out of range", provider("p", models: [model("m", ["quality": 6])]), "/models/0/quality", "between 1 and 5"),
        ("bad output format", provider("p", models: [model("m", ["outputFormats": ["PNG", "GIF"]])]), "/models/0/outputFormats/1", "GIF"),
        (
            "numberResults min > max", provider("p", models: [model("m", ["numberResults": ["min": 4, "max": 2]])]), "/models/0/numberResults/min",
            "must not exceed"
        ),
        ("sizes missing", provider("p", models: [model("m", ["sizes": nil])]), "/models/0/sizes", "sizes is required"),
        ("sizes empty", provider("p", models: [model("m", ["sizes": [:]])]), "/models/0/sizes", "\"range\" or \"table\""),
        (
            "range and table", provider("p", models: [model("m", ["sizes": ["range": [:], "table": ["1K": ["1:1": "8x8"]]]])]),
            "/models/0/sizes/table", "unknown field"
        ),
        (
            "range typo", provider("p", models: [model("m", ["sizes": ["range": ["maxMegapixel": 4]]])]), "/models/0/sizes/range/maxMegapixel",
            "unknown field"
        ),
        (
            "range min above max", provider("p", models: [model("m", ["sizes": ["range": ["minWidth": 512, "maxWidth": 256]]])]),
            "/models/0/sizes/range", "must not exceed"
        ),
        (
            "size list item", provider("p", models: [model("m", ["sizes": table(["1K": ["1:1": ["1024x1024", "big"]]])])]),
            "/models/0/sizes/table/1K/1:1/1", "WxH"
        ),
        ("size not a string", provider("p", models: [model("m", ["sizes": table(["1K": ["1:1": 1024]])])]), "/models/0/sizes/table/1K/1:1", "WxH"),
        ("tier not an object", provider("p", models: [model("m", ["sizes": table(["1K": "1024x1024"])])]), "/models/0/sizes/table/1K", "maps ratios"),
        ("empty table", provider("p", models: [model("m", ["sizes": table([:])])]), "/models/0/sizes/table", "empty"),
        ("price missing", provider("p", models: [model("m", ["price": nil])]), "/models/0/price", "price is required"),
        (
            "price kind", provider("p", models: [model("m", ["price": ["kind": "perToken"]])]), "/models/0/price/kind",
            "allowed: free, perImage, perTier, perMegapixel"
        ),
        ("price usd missing", provider("p", models: [model("m", ["price": ["kind": "perImage"]])]), "/models/0/price/usd", "usd is required"),
        ("price negative", provider("p", models: [model("m", ["price": ["kind": "perImage", "usd": -1]])]), "/models/0/price/usd", "zero or more"),
        (
            "price tier", provider("p", models: [model("m", ["price": ["kind": "perTier", "usd": ["3K": 0.1]]])]), "/models/0/price/usd/3K",
            "allowed: 512"
        ),
        ("price typo", provider("p", models: [model("m", ["price": ["kind": "free", "usd": 0]])]), "/models/0/price/usd", "unknown field"),
        ("parameters not an object", provider("p", models: [model("m", ["parameters": [1]])]), "/models/0/parameters", "must be an object"),
        ("model not an object", provider("p", models: ["m"]), "/models/0", "must be an object"),
        ("document not an object", [1, 2], "", "must be an object"),
        ("duplicate id in one file", provider("p", models: [model("m"), model("m")]), "/models/1", "already used by p/m"),
    ]

    @Test(arguments: singleIssueCases)
    func singleIssues(label: String, doc: JSONValue, pointer: String, fragment: String) throws {
        let e = try #require(loadError([document("p.json", doc)]), "\(label) should fail")
        #expect(e.issues.count == 1, "\(label): \(e)")
        let issue = try #require(e.issues.first)
        #expect(issue.file == "p.json")
        #expect(issue.pointer == pointer, "\(label): \(issue)")
        #expect(issue.message.contains(fragment) || issue.hint?.contains(fragment) == true, "\(label): \(issue)")
    }

    @Test func everyModelOfAFileIsChecked() throws {
        let doc = provider("p", models: [model("ok"), model("bad1", ["quality": 0]), model("bad2", ["typo": 1]), model("bad3", ["status": 1])])
        let e = try #require(loadError([document("p.json", doc)]))
        #expect(e.issues.map(\.pointer) == ["/models/1/quality", "/models/2/typo", "/models/3/status"])
    }

    @Test func fullModelCardsAreRead() throws {
        let doc = provider(
            "gemini", kind: "gemini",
            models: [
                model(
                    "gemini-3-pro-image",
                    [
                        "upstreamId": "gemini-3-pro-image-preview", "displayName": "Nano Banana Pro", "status": "deprecated",
                        "aliases": ["nano-banana-pro"], "seedHonored": false, "seedAccepted": true, "textRendering": 5, "quality": 5,
                        "latencySeconds": 20, "maxReferenceImages": 14, "maxReferenceImageMB": 7.5, "maxPromptLength": 32_000,
                        "numberResults": ["min": 1, "max": 4], "outputFormats": ["png", "jpeg"],
                        "sizes": table(["1K": ["1:1": "1024x1024", "16:9": "1376x768"], "2K": ["1:1": ["2048x2048", "2000x2000"]]]),
                        "price": [
                            "kind": "perTier", "usd": ["1K": 0.134, "2K": 0.134, "4K": 0.24], "perInputImageUSD": 0.0011,
                            "asOf": "2026-11-21",
                        ],
                        "safetyPolicy": "google", "parameters": ["thinking": false],
                    ])
            ],
            extra: [
                "displayName": "Google Gemini", "baseURL": "https://generativelanguage.googleapis.com/v1beta", "apiKeyEnv": "GEMINI_API_KEY",
                "concurrency": 8, "retry": ["maxAttempts": 5],
            ])
        let catalog = try CatalogLoader.load(documents: [document("gemini.json", doc)])
        let m = try #require(catalog.model("nano-banana-pro"))
        #expect(m.id == "gemini-3-pro-image")
        #expect(m.upstreamID == "gemini-3-pro-image-preview")
        #expect(m.status == .deprecated)
        #expect(!m.seedHonored && m.seedAccepted)
        #expect(m.maxReferenceImages == 14)
        #expect(m.maxReferenceImageBytes == 7_864_320)
        #expect(m.numberResults == 1...4)
        #expect(m.outputFormats == [.png, .jpg])
        #expect(m.sizes.tiers == [.r1K, .r2K])
        #expect(m.price == .perTier(usd: [.r1K: 0.134, .r2K: 0.134, .r4K: 0.24], perInputImageUSD: 0.0011))
        #expect(m.priceAsOf == "2026-11-21")
        #expect(m.safetyPolicy == "google")
        #expect(m.parameters == ["thinking": false])
        #expect(m.builtin == false)
        let p = try #require(catalog.provider("gemini"))
        #expect(p.retry == RetryPolicy(maxAttempts: 5, baseDelaySeconds: 1, maxDelaySeconds: 30))
        #expect(p.concurrency == 8)
        #expect(p.requestTimeoutSeconds == 120 && p.totalTimeoutSeconds == 900)
        // Defaults for a bare model.
        let bare = try CatalogLoader.load(documents: [document("p.json", provider("p", models: [model("m")]))]).models[0]
        #expect(bare.upstreamID == "m" && bare.displayName == "m")
        #expect(bare.seedAccepted == false)
        #expect(bare.textRendering == 1 && bare.quality == 3 && bare.latencySeconds == 10)
        #expect(bare.maxReferenceImages == 0 && bare.maxPromptLength == 3000)
        #expect(bare.numberResults == 1...1)
        #expect(bare.outputFormats == [.png])
        #expect(bare.safetyPolicy == "p")
    }
}

@Suite("Catalog")
struct CatalogTypeTests {
    @Test func retryDelaysGrowExponentiallyWithJitterAndACap() {
        let r = RetryPolicy(maxAttempts: 5, baseDelaySeconds: 1, maxDelaySeconds: 30)
        #expect(r.delay(beforeRetry: 1, unitRandom: 0) == 0.5)
        #expect(r.delay(beforeRetry: 1, unitRandom: 0.5) == 0.75)
        #expect(r.delay(beforeRetry: 3, unitRandom: 0.5) == 3)  // 4 s, half jittered
        #expect(r.delay(beforeRetry: 10, unitRandom: 0) == 15)  // capped at 30 s
        #expect(r.delay(beforeRetry: 1_000, unitRandom: 0.999) < 30)
        #expect(r.delay(beforeRetry: 0, unitRandom: 0) == 0.5)
    }

    @Test func baseURLEnvironmentName() {
        let p = ProviderConfig(id: "my-a1111", kind: .a1111, displayName: "x", models: [])
        #expect(p.baseURLEnv == "ATELIER_MY_A1111_BASE_URL")
    }

    @Test func configIssueRendering() {
        let i = ConfigIssue(file: "p.json", pointer: "/models/0", message: "bad", hint: "fix it")
        #expect(i.description == "p.json:/models/0: bad (hint: fix it)")
        #expect(ConfigIssue(file: "p.json", pointer: "", message: "bad").description == "p.json:/: bad")
        #expect(i.json == ["file": "p.json", "pointer": "/models/0", "message": "bad", "hint": "fix it"])
        #expect(ConfigIssue(file: "f", pointer: "", message: "m").json["hint"] == nil)
    }
}
