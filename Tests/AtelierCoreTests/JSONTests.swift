import Foundation
import Testing

@testable import AtelierCore

// MARK: - Helpers

/// The error `JSONParser` throws for `text`, or nil when it parses.
private func parseError(_ text: String) -> JSONParseError? {
    do throws(JSONParseError) {
        _ = try JSONParser.parse(text)
        return nil
    } catch {
        return error
    }
}

private func parseError(bytes: [UInt8]) -> JSONParseError? {
    do throws(JSONParseError) {
        _ = try JSONParser.parse(bytes)
        return nil
    } catch {
        return error
    }
}

private func parseResult(_ bytes: [UInt8]) -> Result<JSONValue, JSONParseError> {
    do throws(JSONParseError) {
        return .success(try JSONParser.parse(bytes))
    } catch {
        return .failure(error)
    }
}

/// A small, seeded, deterministic generator (SplitMix64) so random tests are reproducible.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds random JSON values covering every kind, awkward strings and extreme numbers.
private struct JSONGenerator {
    var rng: SeededRandom

    mutating func scalar() -> Unicode.Scalar {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return Unicode.Scalar(UInt8.random(in: 0..<0x20, using: &rng))  // control characters
        case 1: return ["\"", "\\", "/", "\u{7F}", "\u{2028}", "\u{2029}"].randomElement(using: &rng)!
        case 2: return Unicode.Scalar(UInt32.random(in: 0x80...0x7FF, using: &rng))!  // 2-byte UTF-8
        case 3:  // 3-byte UTF-8, skipping surrogates
            let v = UInt32.random(in: 0x800...0xFFFD, using: &rng)
            return Unicode.Scalar((0xD800..<0xE000).contains(v) ? 0x65E5 : v)!
        case 4: return Unicode.Scalar(UInt32.random(in: 0x10000...0x10FFFF, using: &rng))!  // 4-byte UTF-8
        default: return Unicode.Scalar(UInt8.random(in: 0x20..<0x7F, using: &rng))
        }
    }

    mutating func string(maxLength: Int = 12) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...maxLength, using: &rng) { s.append(scalar()) }
        return String(s)
    }

    mutating func double() -> Double {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return Double.random(in: -1...1, using: &rng)
        case 1: return Double.random(in: -1e6...1e6, using: &rng)
        case 2:
            return [
                Double.leastNonzeroMagnitude, -Double.leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0.1, 1e-7, 2.5e15,
                1e300, 0.5,
            ]
            .randomElement(using: &rng)!
        default:
            // Any finite bit pattern.
            while true {
                let d = Double(bitPattern: rng.next())
                if d.isFinite { return d }
            }
        }
    }

    mutating func value(depth: Int = 0) -> JSONValue {
        let kinds = depth >= 4 ? 5 : 7
        switch Int.random(in: 0..<kinds, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2:
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: return .int([Int64.min, Int64.max, 0, -1, 9_007_199_254_740_993].randomElement(using: &rng)!)
            case 1: return .int(Int64.random(in: -1000...1000, using: &rng))
            default: return .int(Int64(bitPattern: rng.next()))
            }
        case 3: return .double(double())
        case 4: return .string(string())
        case 5: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in value(depth: depth + 1) })
        default:
            var o = JSONObject()
            for _ in 0..<Int.random(in: 0...4, using: &rng) { o[string(maxLength: 6)] = value(depth: depth + 1) }
            return .object(o)
        }
    }
}

/// What a value reads back as after writing: the writer prints integral doubles below 1e15 as integers (so a
/// number has one spelling), which the parser then reads as `.int`.
private func normalizedForRoundTrip(_ v: JSONValue) -> JSONValue {
    switch v {
    case .double(let d) where d.rounded() == d && abs(d) < 1e15: return .int(Int64(d))
    case .array(let a): return .array(a.map(normalizedForRoundTrip))
    case .object(let o): return .object(JSONObject(o.members.map { ($0.key, normalizedForRoundTrip($0.value)) }))
    default: return v
    }
}

// MARK: - Parser

@Suite("JSONParser")
struct JSONParserTests {
    @Test(
        "parses valid documents of every kind",
        arguments: [
            ("null", JSONValue.null),
            ("true", .bool(true)),
            ("false", .bool(false)),
            ("0", .int(0)),
            ("-0", .int(0)),
            ("42", .int(42)),
            ("-17", .int(-17)),
            ("9223372036854775807", .int(Int64.max)),
            ("-9223372036854775808", .int(Int64.min)),
            ("9223372036854775808", .double(9_223_372_036_854_775_808.0)),
            ("1.5", .double(1.5)),
            ("1.0", .double(1.0)),
            ("-0.0", .double(-0.0)),
            ("1e3", .double(1000)),
            ("1E+3", .double(1000)),
            ("-2.5E-3", .double(-0.0025)),
            ("1e-400", .double(0)),
            ("\"\"", .string("")),
            ("\"abc\"", .string("abc")),
            ("[]", .array([])),
            ("{}", .object([:])),
            (" \t\r\n[1, \"a\", null, true, {\"k\": [] }] \n", .array([1, "a", nil, true, ["k": []]])),
            ("{\"a\":{\"b\":[false,{\"c\":-1.25}]}}", ["a": ["b": [false, ["c": -1.25]]]]),
        ] as [(String, JSONValue)])
    func validDocuments(text: String, expected: JSONValue) throws {
        #expect(try JSONParser.parse(text) == expected)
        // The byte-based entry points agree with the string one.
        #expect(try JSONParser.parse(Array(text.utf8)) == expected)
        #expect(try JSONParser.parse(Data(text.utf8)) == expected)
    }

    @Test func integersStayExactAndFractionsBecomeDoubles() throws {
        // 2^53 + 1 cannot be represented by a Double; it must survive exactly.
        #expect(try JSONParser.parse("9007199254740993") == .int(9_007_199_254_740_993))
        #expect(try JSONParser.parse("12345678901234567") == .int(12_345_678_901_234_567))
        #expect(try JSONParser.parse("-9007199254740993") == .int(-9_007_199_254_740_993))
        // Kinds are kept apart: 1 is an int, 1.0 and 1e0 are doubles.
        #expect(try JSONParser.parse("1") == .int(1))
        #expect(try JSONParser.parse("1.0") != .int(1))
        #expect(try JSONParser.parse("1e0") == .double(1))
        // Beyond 64 bits: a double.
        guard case .double(let d) = try JSONParser.parse("123456789012345678901234567890") else {
            Issue.record("expected a double")
            return
        }
        #expect(d == 1.2345678901234568e29)
    }

    @Test func objectMemberOrderIsKept() throws {
        let v = try JSONParser.parse(#"{"b":1,"a":2,"c":{"z":0,"y":1}}"#)
        let o = try #require(v.objectValue)
        #expect(o.keys == ["b", "a", "c"])
        #expect(o["c"]?.objectValue?.keys == ["z", "y"])
    }

    @Test(
        "refuses malformed documents at a sensible offset",
        arguments: [
            ("[1,2,]", 5, "unexpected character"),  // trailing comma in an array
            (#"{"a":1,}"#, 7, "member name"),  // trailing comma in an object
            ("01", 1, "leading zero"),
            ("-01", 2, "leading zero"),
            ("[00]", 2, "leading zero"),
            ("'a'", 0, "unexpected character"),  // single quotes
            ("{'a':1}", 1, "member name"),
            ("// comment\n1", 0, "unexpected character"),
            ("/* c */ 1", 0, "unexpected character"),
            ("[1 /* c */]", 3, "expected ','"),
            ("1 // c", 2, "after the document"),
            ("\"abc", 4, "unterminated"),
            ("\"ab\\n", 5, "unterminated"),
            ("\"ab\\", 4, "unterminated"),
            ("\"a\nb\"", 2, "control character"),
            ("\"a\u{1}b\"", 2, "control character"),
            ("\"\\n\u{0}\"", 3, "control character"),  // control character after an escape (slow path)
            ("\"a\tb\"", 2, "control character"),
            ("\"\\uD800\"", 7, "surrogate"),  // lone high surrogate at the end
            ("\"\\uD800x\"", 7, "surrogate"),
            ("\"\\uDC00\"", 7, "surrogate"),  // lone low surrogate
            ("\"\\uD800\\u0041\"", 13, "surrogate"),  // high surrogate followed by a non-low escape
            ("\"\\uD800\\uD800\"", 13, "surrogate"),
            ("\"\\x\"", 2, "invalid escape"),
            ("\"\\'\"", 2, "invalid escape"),
            ("\"\\u12G4\"", 5, "\\u escape"),
            ("\"\\u12\"", 3, "\\u escape"),
            (#"{"a":1,"a":2}"#, 12, "duplicate member 'a'"),
            (#"{"a":{"x":1,"y":2,"x":3}}"#, 23, "duplicate member 'x'"),
            ("1 2", 2, "after the document"),
            ("{} x", 3, "after the document"),
            ("[1]]", 3, "after the document"),
            ("", 0, "end of input"),
            ("   ", 3, "end of input"),
            ("[1", 2, "end of input"),
            (#"{"a":1"#, 6, "end of input"),
            (#"{"a""#, 4, "expected ':'"),
            (#"{"a" 1}"#, 5, "expected ':'"),
            ("[1;2]", 2, "expected ','"),
            (#"{"a":1;"b":2}"#, 6, "expected ','"),
            ("{1:2}", 1, "member name"),
            ("nul", 0, "end of input"),
            ("nulx", 0, "invalid literal"),
            ("True", 0, "unexpected character"),
            ("-", 1, "invalid number"),
            ("-a", 1, "invalid number"),
            ("1.", 2, "invalid number"),
            ("1.e3", 2, "invalid number"),
            ("1e", 2, "invalid number"),
            ("1e+", 3, "invalid number"),
            (".5", 0, "unexpected character"),
            ("+1", 0, "unexpected character"),
            ("1e400", 0, "out of range"),
            ("-1e400", 0, "out of range"),
            ("NaN", 0, "unexpected character"),
            ("Infinity", 0, "unexpected character"),
        ] as [(String, Int, String)])
    func strictness(text: String, offset: Int, reason: String) {
        guard let e = parseError(text) else {
            Issue.record("\(text.debugDescription) parsed but should not")
            return
        }
        #expect(e.offset == offset, "\(text.debugDescription): \(e)")
        #expect(e.reason.contains(reason), "\(text.debugDescription): \(e)")
        #expect(e.description.hasPrefix("invalid JSON at byte \(offset): "))
    }

    @Test func nestingIsBoundedByMaximumDepth() throws {
        let n = JSONParser.maximumDepth
        let deepest = String(repeating: "[", count: n) + String(repeating: "]", count: n)
        var v = try JSONParser.parse(deepest)
        var depth = 0
        while case .array(let a) = v, let first = a.first {
            v = first
            depth += 1
        }
        #expect(depth == n - 1)  // n arrays, the innermost empty

        let tooDeep = String(repeating: "[", count: n + 1) + String(repeating: "]", count: n + 1)
        let e = try #require(parseError(tooDeep))
        #expect(e.offset == n)
        #expect(e.reason.contains("nesting"))

        // Objects count too, and mixed nesting is counted level by level.
        let objects = String(repeating: #"{"a":"#, count: n) + "1" + String(repeating: "}", count: n)
        _ = try JSONParser.parse(objects)
        let objectsTooDeep = String(repeating: #"{"a":"#, count: n + 1) + "1" + String(repeating: "}", count: n + 1)
        #expect(parseError(objectsTooDeep)?.offset == 5 * n)
        let mixed = String(repeating: #"[{"a":"#, count: n / 2 + 1) + "1" + String(repeating: "}]", count: n / 2 + 1)
        #expect(parseError(mixed)?.reason.contains("nesting") == true)

        // A very deep document is refused rather than crashing.
        #expect(parseError(String(repeating: "[", count: 100_000)) != nil)
    }

    @Test(
        "refuses invalid UTF-8 in strings",
        arguments: [
            [0x22, 0xC3, 0x28, 0x22],  // lead byte followed by ASCII
            [0x22, 0xFF, 0x22],  // never valid
            [0x22, 0x80, 0x22],  // lone continuation byte
            [0x22, 0xC0, 0xAF, 0x22],  // overlong '/'
            [0x22, 0xE0, 0x80, 0xAF, 0x22],  // overlong 3-byte
            [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8-encoded surrogate
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
            [0x22, 0xE2, 0x82, 0x22],  // truncated 3-byte sequence
            [0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22],  // after an escape (slow path)
            [0x22, 0xC3, 0x5C, 0x75, 0x30, 0x30, 0x41, 0x39, 0x22],  // an escape cannot complete a raw lead byte
        ] as [[UInt8]])
    func invalidUTF8InStrings(bytes: [UInt8]) throws {
        let e = try #require(parseError(bytes: bytes))
        #expect(e.offset == 1)
        #expect(e.reason.contains("UTF-8"))
        // Also inside containers, where the offset points at the string's content.
        let inArray = [UInt8(ascii: "[")] + bytes + [UInt8(ascii: "]")]
        #expect(parseError(bytes: inArray)?.offset == 2)
        let asKey = Array(#"{"#.utf8) + bytes + Array(#":1}"#.utf8)
        #expect(parseError(bytes: asKey)?.offset == 2)
    }

    @Test func invalidUTF8OutsideStringsIsRefused() {
        #expect(parseError(bytes: [0xC3, 0xA9])?.offset == 0)
        #expect(parseError(bytes: [0x31, 0xFF])?.offset == 1)
    }

    @Test func decodesMultiByteTextAndEscapes() throws {
        #expect(try JSONParser.parse("\"héllo 日本 🎨\"") == .string("héllo 日本 🎨"))
        #expect(try JSONParser.parse(#""\u00e9\u65E5\uD83C\uDFA8""#) == .string("é日🎨"))
        #expect(try JSONParser.parse(#""a\ud83d\ude00b""#) == .string("a😀b"))  // lowercase hex surrogate pair
        #expect(try JSONParser.parse(#""\uDBFF\uDFFF""#) == .string("\u{10FFFF}"))
        #expect(try JSONParser.parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try JSONParser.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        // Raw multi-byte text mixed with escapes.
        #expect(try JSONParser.parse("\"日\\n本\\u0041🎨\"") == .string("日\n本A🎨"))
        // Keys get the same treatment.
        let o = try #require(try JSONParser.parse(#"{"\u00e9t\u00e9":1,"日本":2}"#).objectValue)
        #expect(o.keys == ["été", "日本"])
        // The exact bytes come out, not a normalized form.
        let decomposed = try JSONParser.parse(#""e\u0301""#)
        #expect(Array((decomposed.stringValue ?? "").utf8) == [0x65, 0xCC, 0x81])
    }

    @Test func acceptsEveryByteSourceIncludingNonContiguousCollections() throws {
        let bytes = Array(#"{"a":[1,2.5,"x"]}"#.utf8)
        let expected: JSONValue = ["a": [1, 2.5, "x"]]
        #expect(try JSONParser.parse(bytes) == expected)
        #expect(try JSONParser.parse(bytes[...]) == expected)
        #expect(try JSONParser.parse((Array("xx".utf8) + bytes)[2...]) == expected)  // slice not starting at 0
        #expect(try JSONParser.parse(bytes.lazy.map { $0 }) == expected)  // no contiguous storage
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array("[1,]".utf8).lazy.map { $0 }) }
        let viaRaw = try bytes.withUnsafeBytes { raw in try JSONParser.parse(raw) }
        #expect(viaRaw == expected)
    }

    @Test func randomValuesRoundTripThroughWriterAndParser() throws {
        var gen = JSONGenerator(rng: SeededRandom(seed: 0xA7E1_1E12))
        for n in 0..<3000 {
            let v = gen.value()
            let expected = normalizedForRoundTrip(v)
            let bytes = JSONWriter.bytes(v)
            // One NDJSON line: no raw control characters at all.
            #expect(!bytes.contains { $0 < 0x20 }, "case \(n)")
            let back = try JSONParser.parse(bytes)
            #expect(back == expected, "case \(n): \(JSONWriter.string(v))")
            // Writing is deterministic, and reading what was written gives the same bytes again.
            #expect(JSONWriter.bytes(back) == bytes, "case \(n)")
            // Sorted output parses to the same value (objects compare regardless of order).
            #expect(try JSONParser.parse(JSONWriter.bytes(v, sortedKeys: true)) == expected, "case \(n)")
        }
    }

    @Test func randomBytesNeverCrashTheParser() throws {
        var rng = SeededRandom(seed: 42)
        let alphabet = Array(#"{}[]":,.-+eE0123456789 \truefalsn\u"#.utf8) + [0x0A, 0x00, 0x80, 0xC3, 0xA9, 0xED, 0xF0, 0xFF]
        var parsed = 0
        for _ in 0..<5000 {
            let count = Int.random(in: 0...40, using: &rng)
            let bytes: [UInt8] = (0..<count).map { _ in
                Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            switch parseResult(bytes) {
            case .success(let v):
                parsed += 1
                #expect(try JSONParser.parse(JSONWriter.bytes(v)) == normalizedForRoundTrip(v))
            case .failure(let error):
                #expect((0...count).contains(error.offset), "offset \(error.offset) outside 0...\(count)")
            }
        }
        #expect(parsed > 0)  // the alphabet bias does produce some valid documents
    }

    @Test func mutatedValidDocumentsNeverCrashTheParser() {
        var gen = JSONGenerator(rng: SeededRandom(seed: 7))
        var rng = SeededRandom(seed: 8)
        for _ in 0..<2000 {
            var bytes = JSONWriter.bytes(gen.value())
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<max(bytes.count, 1), using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0 where !bytes.isEmpty: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1 where !bytes.isEmpty: bytes.remove(at: i)
                default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: min(i, bytes.count))
                }
            }
            if case .failure(let error) = parseResult(bytes) {
                #expect((0...bytes.count).contains(error.offset))
            }
        }
    }
}

// MARK: - Writer

@Suite("JSONWriter")
struct JSONWriterTests {
    @Test func keepsMemberOrder() {
        var o = JSONObject()
        o.append("z", 1)
        o.append("a", ["y": 2, "b": 3])
        o.append("m", [3, 2, 1])
        #expect(JSONWriter.string(.object(o)) == #"{"z":1,"a":{"y":2,"b":3},"m":[3,2,1]}"#)
    }

    @Test func sortsKeysOnRequestAtEveryLevelButNeverArrays() {
        let v: JSONValue = ["z": 1, "a": ["y": 2, "b": [["d": 0, "c": 1]]], "m": [3, 2, 1], "B": true, "é": nil]
        #expect(JSONWriter.string(v, sortedKeys: true) == #"{"B":true,"a":{"b":[{"c":1,"d":0}],"y":2},"m":[3,2,1],"z":1,"é":null}"#)
        #expect(JSONWriter.string(v) == #"{"z":1,"a":{"y":2,"b":[{"d":0,"c":1}]},"m":[3,2,1],"B":true,"é":null}"#)
    }

    @Test func writesScalars() {
        #expect(JSONWriter.string(nil) == "null")
        #expect(JSONWriter.string(true) == "true")
        #expect(JSONWriter.string(false) == "false")
        #expect(JSONWriter.string(.int(Int64.min)) == "-9223372036854775808")
        #expect(JSONWriter.string(.int(Int64.max)) == "9223372036854775807")
        #expect(JSONWriter.string([]) == "[]")
        #expect(JSONWriter.string([:]) == "{}")
        #expect(JSONWriter.string("") == #""""#)
    }

    @Test func escapesQuotesBackslashesAndControlCharacters() {
        let s = "a\"b\\c\n\r\t\u{0}\u{8}\u{C}\u{1F}\u{7F}é/日🎨"
        #expect(JSONWriter.string(.string(s)) == #""a\"b\\c\n\r\t\u0000\u0008\u000c\u001f\u007fé/日🎨""#)
        // Keys are escaped the same way.
        #expect(JSONWriter.string(["a\nb\"": 1]) == #"{"a\nb\"":1}"#)
    }

    @Test func neverWritesARawNewlineOrControlCharacter() throws {
        var all = String.UnicodeScalarView()
        for v in 0..<0x80 { all.append(Unicode.Scalar(UInt8(v))) }
        let s = String(all)
        let value: JSONValue = [s: [.string(s), ["k": .string(s)]]]
        let bytes = JSONWriter.bytes(value)
        #expect(!bytes.contains { $0 < 0x20 || $0 == 0x7F })
        #expect(try JSONParser.parse(bytes) == value)
        #expect(!JSONWriter.string(value, sortedKeys: true).contains("\n"))
    }

    @Test(
        "doubles round-trip exactly",
        arguments: [
            0.1, -2.5, 1.0 / 3.0, Double.leastNonzeroMagnitude, -Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude,
            -Double.greatestFiniteMagnitude, 1e300, 1e-7, 1e15,
            1e16, 123_456_789.123_456_78, 0.000_001_234, 2.5e15 + 0.5, Double.pi,
        ])
    func doublesRoundTrip(d: Double) throws {
        let text = JSONWriter.string(.double(d))
        let back = try JSONParser.parse(text)
        #expect(back.doubleValue == d, "\(d) was written as \(text)")
        #expect(back == .double(d), "\(d) was written as \(text)")
    }

    @Test func integralDoublesAreWrittenAsIntegersAndNonFiniteAsNull() throws {
        #expect(JSONWriter.string(.double(3)) == "3")
        #expect(JSONWriter.string(.double(-42)) == "-42")
        #expect(JSONWriter.string(.double(-0.0)) == "0")
        #expect(JSONWriter.string(.double(999_999_999_999_999)) == "999999999999999")
        #expect(try JSONParser.parse(JSONWriter.string(.double(3))) == .int(3))
        #expect(JSONWriter.string(.double(.nan)) == "null")
        #expect(JSONWriter.string(.double(.infinity)) == "null")
        #expect(JSONWriter.string(.double(-.infinity)) == "null")
    }

    @Test func prettyIsIndentedAndParsesBack() throws {
        let v: JSONValue = ["a": [1, 2], "b": [:], "c": [], "d": ["e": "x\ny"]]
        let pretty = JSONWriter.pretty(v)
        #expect(
            pretty == """
                {
                  "a": [
                    1,
                    2
                  ],
                  "b": {},
                  "c": [],
                  "d": {
                    "e": "x\\ny"
                  }
                }
                """)
        #expect(try JSONParser.parse(pretty) == v)
        #expect(JSONWriter.pretty(7) == "7")
    }

    @Test func descriptionIsTheCompactText() {
        let v: JSONValue = ["a": [true, nil, 1.5]]
        #expect(v.description == #"{"a":[true,null,1.5]}"#)
        var out: [UInt8] = Array("x".utf8)
        JSONWriter.write(v, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"x{"a":[true,null,1.5]}"#)
    }
}

// MARK: - Value

@Suite("JSONValue and JSONObject")
struct JSONValueTests {
    @Test func accessors() {
        let v: JSONValue = ["s": "x", "i": 3, "d": 2.5, "di": 4.0, "b": true, "n": nil, "a": [1], "o": ["k": 1]]
        #expect(v["s"]?.stringValue == "x")
        #expect(v["i"]?.intValue == 3)
        #expect(v["i"]?.doubleValue == 3)
        #expect(v["d"]?.intValue == nil)
        #expect(v["d"]?.doubleValue == 2.5)
        #expect(v["di"]?.intValue == 4)
        #expect(v["b"]?.boolValue == true)
        #expect(v["n"]?.isNull == true)
        #expect(v["a"]?.arrayValue == [1])
        #expect(v["o"]?.objectValue == ["k": 1])
        #expect(v["missing"] == nil)
        #expect(JSONValue.string("x")["k"] == nil)
        #expect(JSONValue.double(1e19).intValue == nil)
        #expect(JSONValue.string("1").intValue == nil)
        #expect(JSONValue.string("1").doubleValue == nil)
        #expect(
            [JSONValue.null, true, 1, 1.5, "s", [], [:]].map(\.typeName) == ["null", "boolean", "number", "number", "string", "array", "object"])
    }

    @Test func numberKeepsIntegralValuesAsInts() {
        #expect(JSONValue.number(2) == .int(2))
        #expect(JSONValue.number(-2) == .int(-2))
        #expect(JSONValue.number(2.5) == .double(2.5))
        #expect(JSONValue.number(1e16) == .double(1e16))
    }

    @Test func objectsCompareAndHashRegardlessOfOrder() {
        let a: JSONObject = ["x": 1, "y": [2]]
        let b: JSONObject = ["y": [2], "x": 1]
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Set([JSONValue.object(a), .object(b)]).count == 1)
        #expect(a != ["x": 1])
        #expect(a != ["x": 1, "y": [3]])
        #expect(a != ["x": 1, "z": [2]])
    }

    @Test func subscriptReplacesInPlaceAndNilRemoves() {
        var o: JSONObject = ["a": 1, "b": 2, "c": 3]
        o["b"] = 20
        #expect(o.keys == ["a", "b", "c"])
        #expect(o["b"] == 20)
        o["a"] = nil
        #expect(o.keys == ["b", "c"])
        o["d"] = 4
        #expect(o.keys == ["b", "c", "d"])
        o["zz"] = nil
        #expect(o.count == 3)
        o.append("e", ifPresent: nil)
        o.append("f", ifPresent: 6)
        #expect(o.keys == ["b", "c", "d", "f"])
        #expect(!o.isEmpty)
        #expect(JSONObject().isEmpty)
        // Later duplicates replace earlier ones, keeping the first position.
        let dup = JSONObject([("k", 1), ("j", 2), ("k", 3)])
        #expect(dup.keys == ["k", "j"])
        #expect(dup["k"] == 3)
    }
}
