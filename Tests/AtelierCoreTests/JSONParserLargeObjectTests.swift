import Testing

@testable import AtelierCore

/// Large objects: duplicate names are found with a set once an object grows, with the same errors, offsets and
/// member order as the scan used for small objects.
@Suite struct JSONParserLargeObjectTests {
    /// `{"k0":0,"k1":1,…}` with `count` members, plus `tail` before the closing brace.
    private func object(_ count: Int, tail: String = "") -> String {
        var s = "{"
        for i in 0..<count {
            if i > 0 { s += "," }
            s += "\"k\(i)\":\(i)"
        }
        return s + tail + "}"
    }

    private func parseError(_ text: String) -> JSONParseError? {
        do throws(JSONParseError) {
            _ = try JSONParser.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func hundredThousandMembersKeepTheirOrder() throws {
        let v = try JSONParser.parse(object(100_000))
        guard case .object(let o) = v else {
            Issue.record("not an object: \(v.typeName)")
            return
        }
        #expect(o.count == 100_000)
        #expect(o.members.first?.key == "k0")
        #expect(o.members[50_000].key == "k50000")
        #expect(o.members[50_000].value == .int(50_000))
        #expect(o.members.last?.key == "k99999")
    }

    /// Every position of a duplicate around the switch from scan to set is found, at the same offset the scan
    /// reports: just after the duplicate's value.
    @Test(arguments: [1, 2, 15, 16, 17, 40, 1000])
    func duplicatesFoundOnBothSidesOfTheThreshold(count: Int) {
        for dupOf in Set([0, count / 2, count - 1]) {
            let tail = ",\"k\(dupOf)\":7"
            let text = object(count, tail: tail)
            let e = parseError(text)
            #expect(e?.reason == "duplicate member 'k\(dupOf)'", "count \(count), duplicate of k\(dupOf)")
            // The offset is that of the closing brace: just after the duplicate's value.
            #expect(e?.offset == text.utf8.count - 1, "count \(count), duplicate of k\(dupOf)")
        }
    }

    /// A duplicate inside a nested large object is reported for that object, not confused with the outer names.
    @Test func nestedLargeObjectsHaveTheirOwnNames() throws {
        let inner = object(30)
        let v = try JSONParser.parse("{\"k0\":\(inner),\"k1\":\(inner)}")
        #expect(v["k1"]?["k29"] == .int(29))
        let bad = "{\"a\":\(object(30, tail: ",\"k3\":1")),\"b\":2}"
        let e = parseError(bad)
        #expect(e?.reason == "duplicate member 'k3'")
    }

    /// Names that differ only past an escape are distinct; the same name written with and without escapes is a
    /// duplicate.
    @Test func escapedNamesAreComparedDecoded() {
        let text = object(20, tail: #","k\u0031":1"#)  // "k\u0031" is "k1"
        #expect(parseError(text)?.reason == "duplicate member 'k1'")
        #expect(parseError(object(20, tail: #","k\u0031x":1"#)) == nil)
    }
}
