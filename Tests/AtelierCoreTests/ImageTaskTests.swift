import Testing

@testable import AtelierCore

private let uuid = "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0c"

/// Parses a `job.submit` params document.
private func task(_ text: String, path: String = "") throws -> ImageTask {
    try ImageTask(json: try JSONParser.parse(text), path: path)
}

/// The error `ImageTask(json:)` throws for a document, or nil.
private func taskError(_ value: JSONValue, path: String = "") -> AtelierError? {
    atelierError { () throws(AtelierError) in _ = try ImageTask(json: value, path: path) }
}

/// `{"positivePrompt": "a cat", …extra}`.
private func params(_ extra: JSONObject) -> JSONValue {
    var o: JSONObject = ["positivePrompt": "a cat"]
    for (k, v) in extra { o[k] = v }
    return .object(o)
}

private func canonicalBytes(_ t: ImageTask) -> String { JSONWriter.string(t.json) }

@Suite("ImageTask")
struct ImageTaskTests {
    @Test func defaults() throws {
        let t = try task(#"{"positivePrompt":"a red fox"}"#)
        #expect(UUIDv4.canonical(t.taskUUID) == t.taskUUID)
        #expect(t.positivePrompt == "a red fox")
        #expect(t.negativePrompt == nil)
        #expect(t.model == "auto")
        #expect(t.size == .automatic)
        #expect(t.seed == nil)
        #expect(t.numberResults == 1)
        #expect(t.referenceImages.isEmpty)
        #expect(t.outputFormat == .png)
        #expect(t.requirements == .init(reproducible: false, textRendering: false, maxCostUSD: nil))
        #expect(t.phase == nil)
        #expect(t.tags.isEmpty)
        #expect(t.webhookURL == nil)
        #expect(t.uploadEndpoint == nil)
        #expect(!t.uploadEndpointIsArray)
        // A fresh id per task.
        #expect(try task(#"{"positivePrompt":"a red fox"}"#).taskUUID != t.taskUUID)
        // Defaults are written out in the canonical form.
        #expect(
            canonicalBytes(t)
                == #"{"taskUUID":"\#(t.taskUUID)","positivePrompt":"a red fox","model":"auto","numberResults":1,"outputFormat":"PNG","requirements":{"reproducible":false,"textRendering":false}}"#
        )
    }

    @Test func everyFieldIsReadAndWrittenInCanonicalOrder() throws {
        let text = """
            {"uploadEndpoint":["https://up.example/1","https://up.example/2"],"webhookURL":"https://hooks.example/a?x=1",
             "tags":{"team":"web","env":"prod"},"phase":"final",
             "requirements":{"maxCostUSD":0.25,"textRendering":true,"reproducible":true},
             "outputFormat":"jpeg","referenceImages":["/tmp/ref.png","https://img.example/r.jpg"],"numberResults":2,"seed":42,
             "height":768,"width":1376,"model":"gemini-3-pro-image","negativePrompt":"blur","positivePrompt":"poster",
             "taskUUID":"\(uuid.uppercased())"}
            """
        let t = try task(text)
        #expect(t.taskUUID == uuid)
        #expect(t.size == .pixels(PixelSize(width: 1376, height: 768)))
        #expect(t.seed == 42)
        #expect(t.numberResults == 2)
        #expect(t.referenceImages == [.file(path: "/tmp/ref.png"), .url("https://img.example/r.jpg")])
        #expect(t.outputFormat == .jpg)
        #expect(t.requirements == .init(reproducible: true, textRendering: true, maxCostUSD: 0.25))
        #expect(t.phase == .final)
        #expect(t.tags == ["team": "web", "env": "prod"])
        #expect(t.webhookURL == "https://hooks.example/a?x=1")
        #expect(t.uploadEndpoint == ["https://up.example/1", "https://up.example/2"])
        #expect(t.uploadEndpointIsArray)
        #expect(t.promptLength == 6)
        #expect(
            canonicalBytes(t)
                == #"{"taskUUID":"\#(uuid)","positivePrompt":"poster","negativePrompt":"blur","model":"gemini-3-pro-image","width":1376,"height":768,"seed":42,"numberResults":2,"referenceImages":["/tmp/ref.png","https://img.example/r.jpg"],"outputFormat":"JPG","requirements":{"reproducible":true,"textRendering":true,"maxCostUSD":0.25},"phase":"final","tags":{"env":"prod","team":"web"},"webhookURL":"https://hooks.example/a?x=1","uploadEndpoint":["https://up.example/1","https://up.example/2"]}"#
        )
    }

    @Test(
        "canonical JSON is a fixed point",
        arguments: [
            #"{"positivePrompt":"a"}"#,
            #"{"positivePrompt":"a","aspectRatio":"16:9"}"#,
            #"{"positivePrompt":"a","resolution":"2k"}"#,
            #"{"positivePrompt":"a","aspectRatio":"21:9","resolution":"4K","seed":0,"numberResults":20}"#,
            #"{"positivePrompt":"日本 🎨\n\"q\"","negativePrompt":"","width":64,"height":16384,"outputFormat":"webp"}"#,
            #"{"positivePrompt":"a","referenceImages":["file:///tmp/x%20y.png","data:image/png;base64,iVBORw0KGgo=","iVBORw0KGgoAAAANSUhEUg=="]}"#,
            #"{"positivePrompt":"a","uploadEndpoint":"https://u.example/x","requirements":{"maxCostUSD":2}}"#,
            #"{"positivePrompt":"a","uploadEndpoint":["https://u.example/x"],"phase":"ideation","tags":{"b":"","a":"x"}}"#,
            #"{"positivePrompt":"a","requirements":{"maxCostUSD":0}}"#,
        ])
    func canonicalJSONIsStable(text: String) throws {
        let first = try task(text)
        let bytes1 = JSONWriter.bytes(first.json)
        let second = try ImageTask(json: try JSONParser.parse(bytes1))
        let bytes2 = JSONWriter.bytes(second.json)
        #expect(bytes1 == bytes2)
        #expect(first == second)
    }

    @Test func twoSpellingsOfTheSameTaskAreEqual() throws {
        let a = try task(
            """
            {"positivePrompt":"cat","taskUUID":"\(uuid.uppercased())","outputFormat":"jpeg","resolution":"2k","aspectRatio":"16:9",
             "requirements":{"reproducible":false},"numberResults":1,"tags":{"b":"2","a":"1"},
             "referenceImages":["file:///tmp/ref.png"],"uploadEndpoint":"https://u.example/1"}
            """)
        let b = try task(
            """
            {"taskUUID":"\(uuid)","aspectRatio":"16:9","resolution":"2K","outputFormat":"JPG","positivePrompt":"cat",
             "tags":{"a":"1","b":"2"},"referenceImages":["/tmp/ref.png"],"model":"auto","negativePrompt":null,"seed":null,
             "requirements":{"textRendering":false,"maxCostUSD":null},"uploadEndpoint":"https://u.example/1"}
            """)
        #expect(a == b)
        #expect(canonicalBytes(a) == canonicalBytes(b))
        // …while a real difference is seen.
        var c = b
        c.seed = 1
        #expect(c != a)
        #expect(canonicalBytes(c) != canonicalBytes(a))
    }

    @Test func sizeForms() throws {
        #expect(try task(#"{"positivePrompt":"a","width":1024,"height":768}"#).size == .pixels(PixelSize(width: 1024, height: 768)))
        #expect(try task(#"{"positivePrompt":"a","width":1024.0,"height":768}"#).size == .pixels(PixelSize(width: 1024, height: 768)))
        #expect(
            try task(#"{"positivePrompt":"a","aspectRatio":"16:9"}"#).size == .tier(aspectRatio: AspectRatio(width: 16, height: 9), resolution: nil))
        #expect(try task(#"{"positivePrompt":"a","resolution":"0.5k"}"#).size == .tier(aspectRatio: nil, resolution: .r512))
        #expect(try task(#"{"positivePrompt":"a","width":null,"height":null}"#).size == .automatic)
        #expect(SizeRequest.automatic.aspectRatio == nil)
        #expect(SizeRequest.tier(aspectRatio: AspectRatio(width: 3, height: 2), resolution: nil).aspectRatio?.description == "3:2")
    }

    @Test(
        "reference image kinds",
        arguments: [
            ("/tmp/a.png", ReferenceImage.file(path: "/tmp/a.png")),
            ("/Users/me/My Pictures/b.jpg", .file(path: "/Users/me/My Pictures/b.jpg")),
            ("file:///tmp/a%20b.png", .file(path: "/tmp/a b.png")),
            ("FILE:///tmp/c.png", .file(path: "/tmp/c.png")),
            ("file://localhost/tmp/d.png", .file(path: "/tmp/d.png")),
            ("data:image/png;base64,iVBORw0KGgo=", .dataURI(mimeType: "image/png", base64: "iVBORw0KGgo=")),
            ("data:image/jpeg;name=x.jpg;base64,/9j/4AAQ", .dataURI(mimeType: "image/jpeg", base64: "/9j/4AAQ")),
            ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB", .base64("iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB")),
            ("iVBORw0K-_GgoAAAA\nNSUhEUg==", .base64("iVBORw0K-_GgoAAAA\nNSUhEUg==")),
            ("https://img.example/a.png?sig=1", .url("https://img.example/a.png?sig=1")),
            ("HTTP://IMG.EXAMPLE/A.PNG", .url("HTTP://IMG.EXAMPLE/A.PNG")),
        ] as [(String, ReferenceImage)])
    func referenceImageKinds(text: String, expected: ReferenceImage) throws {
        #expect(try ReferenceImage.parse(text, field: "/referenceImages/0") == expected)
        let t = try ImageTask(json: params(["referenceImages": [.string(text)]]))
        #expect(t.referenceImages == [expected])
        // The written form reads back as the same reference.
        #expect(try ReferenceImage.parse(expected.description, field: "") == expected)
    }

    @Test(
        "refuses relative paths and malformed references",
        arguments: [
            "cat.png", "./cat.png", "../images/cat.png", "images/cat.png", "~/cat.png", "C:\\images\\cat.png", "", "short",
            "file://images/cat.png",  // a host, not a path: would otherwise silently become /cat.png
            "file://", "data:image/png,iVBORw0KGgo=",  // not base64
            "data:text/plain;base64,aGVsbG8=", "data:;base64,aGVsbG8=", "data:image/png;base64", "http://", "https:///x.png",
            "ftp://img.example/a.png",
        ])
    func refusedReferences(text: String) throws {
        let e = try #require(taskError(params(["referenceImages": ["/ok.png", .string(text)]])))
        #expect(e.code == .invalidReferenceImage, "\(text.debugDescription): \(e)")
        #expect(e.field == "/referenceImages/1")
    }

    @Test func uploadEndpointShapes() throws {
        let single = try ImageTask(json: params(["uploadEndpoint": "https://u.example/1"]))
        #expect(single.uploadEndpoint == ["https://u.example/1"])
        #expect(!single.uploadEndpointIsArray)
        #expect(single.json["uploadEndpoint"] == "https://u.example/1")
        let one = try ImageTask(json: params(["uploadEndpoint": ["https://u.example/1"]]))
        #expect(one.uploadEndpointIsArray)
        #expect(one.json["uploadEndpoint"] == ["https://u.example/1"])
        let two = try ImageTask(json: params(["uploadEndpoint": ["https://u.example/1", "http://u.example/2"], "numberResults": 2]))
        #expect(two.uploadEndpoint?.count == 2)
    }

    @Test func memberwiseTasksAlwaysHaveAWritableCanonicalForm() throws {
        // An empty list must not crash the writer (it used to index u[0]) and must read back as what it is.
        let empty = ImageTask(taskUUID: uuid, positivePrompt: "x", uploadEndpoint: [])
        #expect(empty.json["uploadEndpoint"] == [])
        var several = ImageTask(
            taskUUID: uuid, positivePrompt: "x", numberResults: 2, uploadEndpoint: ["https://a.example/1", "https://a.example/2"])
        #expect(several.uploadEndpointIsArray)
        several.uploadEndpointIsArray = false  // no URL may be dropped even so
        #expect(several.json["uploadEndpoint"] == ["https://a.example/1", "https://a.example/2"])
        let built = ImageTask(
            taskUUID: uuid, positivePrompt: "p", size: .tier(aspectRatio: AspectRatio(width: 4, height: 3), resolution: .r2K), seed: 9,
            referenceImages: [.dataURI(mimeType: "image/webp", base64: "UklGRg==")], outputFormat: .webp, phase: .ideation, tags: ["k": "v"])
        #expect(try ImageTask(json: built.json) == built)
    }

    /// (params document, expected code, expected field).
    static let errorCases: [(String, JSONValue, ErrorCode, String)] = [
        ("taskUUID malformed", params(["taskUUID": "not-a-uuid"]), .invalidUUID, "/taskUUID"),
        ("taskUUID v1", params(["taskUUID": "3f1c2a9e-7b4d-11e1-9a2b-5d6e7f8a9b0c"]), .invalidUUID, "/taskUUID"),
        ("taskUUID not a string", params(["taskUUID": 5]), .invalidType, "/taskUUID"),
        ("prompt missing", ["model": "auto"], .missingField, "/positivePrompt"),
        ("prompt null", ["positivePrompt": nil], .missingField, "/positivePrompt"),
        ("prompt not a string", ["positivePrompt": ["a"]], .invalidType, "/positivePrompt"),
        ("prompt empty", ["positivePrompt": ""], .promptEmpty, "/positivePrompt"),
        ("prompt blank", ["positivePrompt": " \n\t\u{3000}"], .promptEmpty, "/positivePrompt"),
        ("prompt too long", ["positivePrompt": .string(String(repeating: "a", count: 32_001))], .promptTooLong, "/positivePrompt"),
        ("negative too long", params(["negativePrompt": .string(String(repeating: "é", count: 32_001))]), .promptTooLong, "/negativePrompt"),
        ("model empty", params(["model": ""]), .invalidValue, "/model"),
        ("width without height", params(["width": 1024]), .invalidDimensions, "/height"),
        ("height without width", params(["height": 1024]), .invalidDimensions, "/width"),
        ("width and resolution", params(["width": 1024, "height": 1024, "resolution": "1K"]), .invalidDimensions, "/resolution"),
        ("width and aspectRatio", params(["width": 1024, "height": 1024, "aspectRatio": "1:1"]), .invalidDimensions, "/aspectRatio"),
        ("aspectRatio with x", params(["aspectRatio": "16x9"]), .invalidDimensions, "/aspectRatio"),
        ("aspectRatio zero", params(["aspectRatio": "0:1"]), .invalidDimensions, "/aspectRatio"),
        ("aspectRatio half", params(["aspectRatio": "16:"]), .invalidDimensions, "/aspectRatio"),
        ("aspectRatio too big", params(["aspectRatio": "1:101"]), .invalidDimensions, "/aspectRatio"),
        ("aspectRatio signed", params(["aspectRatio": "+16:9"]), .invalidDimensions, "/aspectRatio"),
        ("aspectRatio three parts", params(["aspectRatio": "1:1:1"]), .invalidDimensions, "/aspectRatio"),
        ("aspectRatio number", params(["aspectRatio": 1.5]), .invalidType, "/aspectRatio"),
        ("resolution 8K", params(["resolution": "8K"]), .invalidDimensions, "/resolution"),
        ("resolution 1024", params(["resolution": "1024"]), .invalidDimensions, "/resolution"),
        ("width too small", params(["width": 63, "height": 512]), .invalidDimensions, "/width"),
        ("width too large", params(["width": 16_385, "height": 512]), .invalidDimensions, "/width"),
        ("height zero", params(["width": 512, "height": 0]), .invalidDimensions, "/height"),
        ("width fractional", params(["width": 1024.5, "height": 512]), .invalidType, "/width"),
        ("width string", params(["width": "1024", "height": 512]), .invalidType, "/width"),
        ("numberResults zero", params(["numberResults": 0]), .invalidNumberResults, "/numberResults"),
        ("numberResults 21", params(["numberResults": 21]), .invalidNumberResults, "/numberResults"),
        ("seed negative", params(["seed": -1]), .invalidValue, "/seed"),
        ("seed fractional", params(["seed": 1.5]), .invalidType, "/seed"),
        ("outputFormat GIF", params(["outputFormat": "GIF"]), .unsupportedOutputFormat, "/outputFormat"),
        ("phase draft", params(["phase": "draft"]), .invalidValue, "/phase"),
        ("phase capitalised", params(["phase": "Final"]), .invalidValue, "/phase"),
        ("tags not an object", params(["tags": ["a"]]), .invalidType, "/tags"),
        ("tag value not a string", params(["tags": ["ok": "1", "n": 1]]), .invalidType, "/tags/n"),
        ("tag name empty", params(["tags": ["": "x"]]), .invalidValue, "/tags/"),
        ("tag value too long", params(["tags": ["k/1": .string(String(repeating: "v", count: 257))]]), .invalidValue, "/tags/k~11"),
        ("too many tags", params(["tags": .object(JSONObject((0...32).map { ("t\($0)", JSONValue.string("v")) }))]), .invalidValue, "/tags"),
        ("webhook ftp", params(["webhookURL": "ftp://hooks.example/x"]), .invalidURL, "/webhookURL"),
        ("webhook no host", params(["webhookURL": "https:///x"]), .invalidURL, "/webhookURL"),
        ("webhook empty host", params(["webhookURL": "http://"]), .invalidURL, "/webhookURL"),
        ("webhook no scheme", params(["webhookURL": "hooks.example/x"]), .invalidURL, "/webhookURL"),
        (
            "webhook too long", params(["webhookURL": .string("https://h.example/" + String(repeating: "a", count: 4_096))]), .invalidURL,
            "/webhookURL"
        ),
        ("upload ftp", params(["uploadEndpoint": "ftp://u.example/x"]), .invalidURL, "/uploadEndpoint"),
        (
            "upload second bad", params(["uploadEndpoint": ["https://u.example/1", "file:///tmp/x"], "numberResults": 2]), .invalidURL,
            "/uploadEndpoint/1"
        ),
        ("upload two for one", params(["uploadEndpoint": ["https://u.example/1", "https://u.example/2"]]), .uploadCountMismatch, "/uploadEndpoint"),
        ("upload one for two", params(["uploadEndpoint": "https://u.example/1", "numberResults": 2]), .uploadCountMismatch, "/uploadEndpoint"),
        (
            "upload one-element list for two", params(["uploadEndpoint": ["https://u.example/1"], "numberResults": 2]), .uploadCountMismatch,
            "/uploadEndpoint"
        ),
        ("upload empty list", params(["uploadEndpoint": []]), .uploadCountMismatch, "/uploadEndpoint"),
        ("upload number", params(["uploadEndpoint": 5]), .invalidType, "/uploadEndpoint"),
        ("upload list of numbers", params(["uploadEndpoint": [5]]), .invalidType, "/uploadEndpoint/0"),
        ("references not a list", params(["referenceImages": "/tmp/a.png"]), .invalidType, "/referenceImages"),
        ("reference not a string", params(["referenceImages": ["/tmp/a.png", 3]]), .invalidType, "/referenceImages/1"),
        (
            "too many references", params(["referenceImages": .array(Array(repeating: "/tmp/a.png", count: 17))]), .tooManyReferences,
            "/referenceImages"
        ),
        ("unknown field", params(["positive_prompt": "typo"]), .unknownField, "/positive_prompt"),
        ("unknown field with slash", params(["a/b": 1]), .unknownField, "/a~1b"),
        ("unknown null field", params(["extra": nil]), .unknownField, "/extra"),
        ("requirements unknown", params(["requirements": ["reproducible": true, "x": 1]]), .unknownField, "/requirements/x"),
        ("requirements not an object", params(["requirements": "strict"]), .invalidType, "/requirements"),
        ("requirements wrong type", params(["requirements": ["reproducible": "yes"]]), .invalidType, "/requirements/reproducible"),
        ("maxCostUSD negative", params(["requirements": ["maxCostUSD": -0.01]]), .invalidValue, "/requirements/maxCostUSD"),
        ("params not an object", ["a cat"], .invalidType, ""),
    ]

    @Test(arguments: errorCases)
    func errorPaths(label: String, params: JSONValue, code: ErrorCode, field: String) throws {
        let e = try #require(taskError(params), "\(label) should fail")
        #expect(e.code == code, "\(label): \(e)")
        #expect(e.field == field, "\(label): \(e)")
        #expect(!e.retryable)
        #expect(!e.message.isEmpty)
    }

    @Test func errorsCarryUsefulDetails() throws {
        let count = try #require(taskError(params(["uploadEndpoint": "https://u.example/1", "numberResults": 2])))
        #expect(count.details == ["expected": 2, "got": 1])
        #expect(count.message.contains("1 URL but numberResults is 2"))
        let range = try #require(taskError(params(["numberResults": 21])))
        #expect(range.details == ["min": 1, "max": 20])
        let format = try #require(taskError(params(["outputFormat": "gif"])))
        #expect(format.details["allowed"] == ["PNG", "JPG", "WEBP"])
        let tier = try #require(taskError(params(["resolution": "3K"])))
        #expect(tier.details["allowed"] == ["512", "1K", "2K", "4K"])
        let long = try #require(taskError(["positivePrompt": .string(String(repeating: "a", count: 32_001))]))
        #expect(long.details["maxLength"] == 32_000)
        // Exactly at the limits is fine.
        _ = try ImageTask(json: ["positivePrompt": .string(String(repeating: "a", count: 32_000))])
        _ = try ImageTask(
            json: params([
                "width": 64, "height": 16_384, "numberResults": 20, "tags": .object(JSONObject((0..<32).map { ("t\($0)", JSONValue.string("v")) })),
            ]))
        _ = try ImageTask(json: params(["referenceImages": .array(Array(repeating: "/tmp/a.png", count: 16))]))
    }

    @Test func errorFieldsArePrefixedWithTheTaskPath() throws {
        #expect(taskError(params(["width": 1024]), path: "/tasks/3")?.field == "/tasks/3/height")
        #expect(taskError(params(["requirements": ["x": 1]]), path: "/tasks/3")?.field == "/tasks/3/requirements/x")
        #expect(taskError(params(["referenceImages": ["rel.png"]]), path: "/tasks/0")?.field == "/tasks/0/referenceImages/0")
        #expect(taskError(params(["typo": 1]), path: "/tasks/1")?.field == "/tasks/1/typo")
        #expect(taskError("x", path: "/tasks/2")?.field == "/tasks/2")
    }

    @Test func uuidIsLowercasedAndVersionChecked() throws {
        #expect(try task(#"{"positivePrompt":"a","taskUUID":"\#(uuid.uppercased())"}"#).taskUUID == uuid)
        let e = try #require(taskError(params(["taskUUID": "3f1c2a9e-7b4d-3c1e-9a2b-5d6e7f8a9b0c"])))
        #expect(e.code == .invalidUUID)
    }
}

@Suite("Size and format types")
struct SizeTypesTests {
    @Test(
        arguments: [
            ("16:9", 16, 9), ("1:1", 1, 1), ("100:1", 100, 1), ("21:9", 21, 9),
        ] as [(String, Int, Int)])
    func aspectRatioParses(text: String, w: Int, h: Int) throws {
        let r = try #require(AspectRatio(text))
        #expect(r.width == w && r.height == h)
        #expect(r.description == text)
    }

    @Test(arguments: ["16x9", "16:", ":9", "0:1", "1:0", "-1:1", "+16:9", "16:+9", " 16:9", "16:9 ", "1:101", "1.5:1", "1:1:1", ""])
    func aspectRatioRefuses(text: String) {
        #expect(AspectRatio(text) == nil)
    }

    @Test func aspectRatiosAreKeptAsWrittenButOrderedByValue() throws {
        let a = try #require(AspectRatio("32:18"))
        let b = try #require(AspectRatio("16:9"))
        #expect(a != b)
        #expect(a.value == b.value)
        #expect(try #require(AspectRatio("9:16")) < b)
    }

    @Test func pixelSizes() throws {
        #expect(PixelSize("1024x768") == PixelSize(width: 1024, height: 768))
        #expect(PixelSize("1024X768") == PixelSize(width: 1024, height: 768))
        for bad in ["1024", "1024x", "x768", "1024xx768", "1024x768x2", "0x768", "-1x768", "+1024x768", "1024 x 768", "axb", ""] {
            #expect(PixelSize(bad) == nil, "\(bad)")
        }
        #expect(PixelSize(width: 1000, height: 500).megapixels == 0.5)
        #expect(PixelSize(width: 3, height: 2).description == "3x2")
        #expect(PixelSize(width: 2, height: 9) < PixelSize(width: 3, height: 1))
    }

    @Test func tiersAndFormats() {
        #expect(ResolutionTier(parsing: "1k") == .r1K)
        #expect(ResolutionTier(parsing: "0.5K") == .r512)
        #expect(ResolutionTier(parsing: "512") == .r512)
        #expect(ResolutionTier(parsing: "8K") == nil)
        #expect(ResolutionTier.r512 < .r1K && .r1K < .r2K && .r2K < .r4K)
        #expect(ResolutionTier.nearest(width: 1024, height: 1024) == .r1K)
        #expect(ResolutionTier.nearest(width: 1376, height: 768) == .r1K)
        #expect(ResolutionTier.nearest(width: 2752, height: 1536) == .r2K)
        #expect(ResolutionTier.nearest(width: 512, height: 512) == .r512)
        #expect(ResolutionTier.nearest(width: 5504, height: 3072) == .r4K)
        #expect(OutputFormat(parsing: "jpeg") == .jpg)
        #expect(OutputFormat(parsing: "Webp") == .webp)
        #expect(OutputFormat(parsing: "gif") == nil)
        #expect(OutputFormat(mimeType: "IMAGE/JPEG") == .jpg)
        #expect(OutputFormat(mimeType: "image/gif") == nil)
        #expect(OutputFormat.allCases.map(\.mimeType) == ["image/png", "image/jpeg", "image/webp"])
        #expect(OutputFormat.allCases.map(\.fileExtension) == ["png", "jpg", "webp"])
    }
}
