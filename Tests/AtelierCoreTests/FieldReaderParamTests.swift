import AtelierCore
import Testing

/// The shared parameter readers: enum values, UUIDs, bounded numbers, timeouts and paging.
@Suite struct FieldReaderParamTests {
    enum Colour: String, CaseIterable { case red, green }

    func reader(_ json: String) throws -> FieldReader { try FieldReader(try JSONParser.parse(json)) }

    func error(_ body: () throws(AtelierError) -> Void) -> AtelierError? {
        do throws(AtelierError) {
            try body()
            return nil
        } catch { return error }
    }

    @Test func enumValueNamesTheAllowedValues() throws {
        var r = try reader(#"{"c":"green","d":"blue"}"#)
        let green: Colour? = try r.enumValue("c")
        #expect(green == .green)
        let absent: Colour? = try r.enumValue("missing")
        #expect(absent == nil)
        let e = try #require(error { () throws(AtelierError) in let _: Colour? = try r.enumValue("d") })
        #expect(e.code == .invalidValue)
        #expect(e.field == "/d")
        #expect(e.message == "d must be one of red, green, not 'blue'")
        #expect(e.details["allowed"] == ["red", "green"])
        let named = try #require(
            error { () throws(AtelierError) in _ = try r.enumValue("d", allowed: [Colour.red], what: "colour", code: .unsupportedOutputFormat) })
        #expect(named.code == .unsupportedOutputFormat)
        #expect(named.message == "unknown colour 'blue'")
        #expect(named.details["allowed"] == ["red"])
    }

    @Test func uuidIsCanonicalOrRefused() throws {
        var r = try reader(#"{"a":"0B5F2C3E-1D2A-4F6B-8C9D-0E1F2A3B4C5D","b":"nope"}"#)
        #expect(try r.uuid("a") == "0b5f2c3e-1d2a-4f6b-8c9d-0e1f2a3b4c5d")
        #expect(try r.uuid("absent") == nil)
        let bad = try #require(error { () throws(AtelierError) in _ = try r.requiredUUID("b") })
        #expect(bad.code == .invalidUUID)
        #expect(bad.field == "/b")
        let missing = try #require(error { () throws(AtelierError) in _ = try r.requiredUUID("c") })
        #expect(missing.code == .missingField)
        #expect(missing.field == "/c")
    }

    @Test func timeoutAndBoundedNumbers() throws {
        var r = try reader(#"{"timeoutSeconds":12.5}"#)
        #expect(try r.timeoutSeconds(default: 30) == 12.5)
        var d = try reader("{}")
        #expect(try d.timeoutSeconds(default: 30) == 30)
        var over = try reader(#"{"timeoutSeconds":3601}"#)
        let e = try #require(error { () throws(AtelierError) in _ = try over.timeoutSeconds(default: 30) })
        #expect(e.code == .invalidValue)
        #expect(e.message == "timeoutSeconds must be between 0 and 3600")
        #expect(e.field == "/timeoutSeconds")
        var negative = try reader(#"{"timeoutSeconds":-1}"#)
        #expect(error { () throws(AtelierError) in _ = try negative.timeoutSeconds(default: 30) }?.code == .invalidValue)
    }

    @Test func pageReadsLimitAndCursor() throws {
        var r = try reader(#"{"limit":5,"cursor":"42"}"#)
        let page = try r.page()
        #expect(page.limit == 5)
        #expect(page.cursor == 42)
        var d = try reader("{}")
        let defaults = try d.page()
        #expect(defaults.limit == 50)
        #expect(defaults.cursor == nil)
        var bad = try reader(#"{"cursor":"-3"}"#)
        let e = try #require(error { () throws(AtelierError) in _ = try bad.page() })
        #expect(e.field == "/cursor")
        var big = try reader(#"{"limit":1001}"#)
        #expect(error { () throws(AtelierError) in _ = try big.page() }?.field == "/limit")
    }
}
