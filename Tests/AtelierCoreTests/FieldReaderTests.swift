import Testing

@testable import AtelierCore

/// Runs `body` and returns the `AtelierError` it throws, or nil.
func atelierError(_ body: () throws(AtelierError) -> Void) -> AtelierError? {
    do throws(AtelierError) {
        try body()
        return nil
    } catch {
        return error
    }
}

@Suite("FieldReader")
struct FieldReaderTests {
    /// Each typed accessor, with a value of the wrong type for it.
    enum Accessor: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case string, requiredString, bool, int, intInRange, double, stringArray, stringMap, nested

        var testDescription: String { rawValue }

        var wrongValue: JSONValue {
            switch self {
            case .string, .requiredString: return 12
            case .bool: return "yes"
            case .int, .intInRange: return "3"
            case .double: return true
            case .stringArray: return "a"
            case .stringMap: return ["a", "b"]
            case .nested: return "x"
            }
        }

        var rightValue: JSONValue {
            switch self {
            case .string, .requiredString: return "v"
            case .bool: return false
            case .int, .intInRange: return 3
            case .double: return 2.5
            case .stringArray: return ["a", "b"]
            case .stringMap: return ["a": "1"]
            case .nested: return ["k": 1]
            }
        }

        func read(_ r: inout FieldReader, _ key: String) throws(AtelierError) -> Bool {
            switch self {
            case .string: return try r.string(key) != nil
            case .requiredString: return !(try r.requiredString(key)).isEmpty
            case .bool: return try r.bool(key) != nil
            case .int: return try r.int(key) != nil
            case .intInRange: return try r.int(key, in: 0...10) != nil
            case .double: return try r.double(key) != nil
            case .stringArray: return try r.stringArray(key) != nil
            case .stringMap: return try r.stringMap(key) != nil
            case .nested: return try r.nested(key) != nil
            }
        }
    }

    @Test(arguments: Accessor.allCases, ["", "/params/0"])
    func accessorRefusesTheWrongTypeWithThePointer(accessor: Accessor, path: String) throws {
        var r = try FieldReader(["k": accessor.wrongValue], path: path)
        let e = try #require(atelierError { () throws(AtelierError) in _ = try accessor.read(&r, "k") })
        #expect(e.code == .invalidType)
        #expect(e.field == path + "/k")
        #expect(e.message.contains("k must be"))
    }

    @Test(arguments: Accessor.allCases)
    func accessorReadsTheRightTypeAndMarksItRead(accessor: Accessor) throws {
        var r = try FieldReader(["k": accessor.rightValue])
        #expect(try accessor.read(&r, "k"))
        try r.finish()
    }

    @Test(arguments: Accessor.allCases)
    func absentAndNullAreTheSame(accessor: Accessor) throws {
        var r = try FieldReader(["k": nil])
        if accessor == .requiredString {
            let e = try #require(atelierError { () throws(AtelierError) in _ = try accessor.read(&r, "k") })
            #expect(e.code == .missingField)
            #expect(e.field == "/k")
        } else {
            #expect(try accessor.read(&r, "k") == false)
            #expect(try accessor.read(&r, "absent") == false)
        }
        // null members that were asked for are not unknown.
        try r.finish()
    }

    @Test func requiredStringMissing() throws {
        var r = try FieldReader([:], path: "/a")
        let e = try #require(atelierError { () throws(AtelierError) in _ = try r.requiredString("name") })
        #expect(e.code == .missingField)
        #expect(e.field == "/a/name")
        #expect(e.message == "name is required")
    }

    @Test func integersMustBeIntegral() throws {
        var r = try FieldReader(["f": 1.5, "g": 3.0, "h": 1e19])
        let e = try #require(atelierError { () throws(AtelierError) in _ = try r.int("f") })
        #expect(e.code == .invalidType)
        #expect(e.field == "/f")
        #expect(e.message.contains("integer"))
        #expect(try r.int("g") == 3)  // an integral double is an integer
        #expect(atelierError { () throws(AtelierError) in _ = try r.int("h") }?.code == .invalidType)
    }

    @Test func rangedIntegersUseTheGivenCodeAndReportBounds() throws {
        var r = try FieldReader(["n": 11, "m": -1, "ok": 10], path: "/x")
        let e = try #require(atelierError { () throws(AtelierError) in _ = try r.int("n", in: 0...10, code: .invalidNumberResults) })
        #expect(e.code == .invalidNumberResults)
        #expect(e.field == "/x/n")
        #expect(e.details == ["min": 0, "max": 10])
        #expect(e.message == "n must be between 0 and 10, not 11")
        #expect(atelierError { () throws(AtelierError) in _ = try r.int("m", in: 0...10) }?.code == .invalidValue)
        #expect(try r.int("ok", in: 0...10) == 10)
    }

    @Test func doublesAcceptIntegers() throws {
        var r = try FieldReader(["i": 2, "d": 0.25])
        #expect(try r.double("i") == 2)
        #expect(try r.double("d") == 0.25)
    }

    @Test func arrayAndMapElementsArePointedAt() throws {
        var r = try FieldReader(["list": ["a", 2, "c"], "map": ["ok": "1", "a/b~c": 2]], path: "/p")
        let e1 = try #require(atelierError { () throws(AtelierError) in _ = try r.stringArray("list") })
        #expect(e1.code == .invalidType)
        #expect(e1.field == "/p/list/1")
        #expect(e1.message.contains("list[1]"))
        let e2 = try #require(atelierError { () throws(AtelierError) in _ = try r.stringMap("map") })
        #expect(e2.code == .invalidType)
        #expect(e2.field == "/p/map/a~1b~0c")
    }

    @Test func nestedReadersReportTheirOwnPointer() throws {
        var r = try FieldReader(["outer": ["inner": ["x": 1, "typo": 2]]])
        var outer = try #require(try r.nested("outer"))
        #expect(outer.path == "/outer")
        var inner = try #require(try outer.nested("inner"))
        #expect(inner.path == "/outer/inner")
        #expect(try inner.int("x") == 1)
        let e = try #require(atelierError { () throws(AtelierError) in try inner.finish() })
        #expect(e.code == .unknownField)
        #expect(e.field == "/outer/inner/typo")
        try outer.finish()
        try r.finish()
    }

    @Test func rootMustBeAnObject() {
        let e = atelierError { () throws(AtelierError) in _ = try FieldReader([1, 2]) }
        #expect(e?.code == .invalidType)
        #expect(e?.field == "")
        #expect(e?.message == "params must be an object, not array")
        let e2 = atelierError { () throws(AtelierError) in _ = try FieldReader("s", path: "/tasks/2") }
        #expect(e2?.field == "/tasks/2")
        #expect(e2?.message == "/tasks/2 must be an object, not string")
    }

    @Test func finishReportsTheFirstUnreadMemberInDocumentOrder() throws {
        var r = try FieldReader(["known": 1, "positive_prompt": "x", "later": nil])
        _ = try r.int("known")
        let e = try #require(atelierError { () throws(AtelierError) in try r.finish() })
        #expect(e.code == .unknownField)
        #expect(e.field == "/positive_prompt")
        #expect(e.message == "unknown field 'positive_prompt'")
        _ = r.raw("positive_prompt")
        // A null member nobody asked for is still unknown.
        #expect(atelierError { () throws(AtelierError) in try r.finish() }?.field == "/later")
        _ = r.raw("later")
        try r.finish()
    }

    @Test func unknownFieldPointersAreEscaped() throws {
        let r = try FieldReader(["a/b": 1], path: "/x~y")
        #expect(atelierError { () throws(AtelierError) in try r.finish() }?.field == "/x~y/a~1b")
        let r2 = try FieldReader(["~1": 1])
        #expect(atelierError { () throws(AtelierError) in try r2.finish() }?.field == "/~01")
    }

    @Test func hasTreatsNullAsAbsentAndDoesNotMarkRead() throws {
        let r = try FieldReader(["a": 1, "n": nil])
        #expect(r.has("a"))
        #expect(!r.has("n"))
        #expect(!r.has("zz"))
        #expect(atelierError { () throws(AtelierError) in try r.finish() }?.field == "/a")
    }

    @Test(
        arguments: [
            ("a", "", "/a"),
            ("a/b", "", "/a~1b"),
            ("m~n", "/x", "/x/m~0n"),
            ("~/", "", "/~0~1"),
            ("~1", "", "/~01"),  // '~' first, so the result decodes back to "~1"
            ("", "/x", "/x/"),
        ] as [(String, String, String)])
    func pointerEscaping(token: String, base: String, expected: String) {
        #expect(JSONPointer.appending(token, to: base) == expected)
    }

    @Test func pointerIndex() {
        #expect(JSONPointer.appending(3, to: "/a") == "/a/3")
    }
}

@Suite("AtelierError")
struct AtelierErrorTests {
    @Test func jsonRoundTripKeepsCodeFieldAndDetails() throws {
        let e = AtelierError(.invalidDimensions, "nope", field: "/width", retryable: false, details: ["nearest": ["1024x1024"]])
        let json = e.json
        #expect(
            JSONWriter.string(json) == #"{"code":"invalid_dimensions","message":"nope","retryable":false,"field":"/width","nearest":["1024x1024"]}"#)
        #expect(AtelierError(json: json) == e)
        let bare = AtelierError(.rateLimited, "slow down", retryable: true)
        #expect(bare.json["field"] == nil)
        #expect(AtelierError(json: bare.json) == bare)
        #expect(bare.description == "rate_limited: slow down")
        #expect(e.description == "invalid_dimensions: nope (at /width)")
        #expect(AtelierError(json: "junk").code == .internalError)
    }
}
