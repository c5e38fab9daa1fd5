import AtelierImaging
import Foundation
import Testing

@Suite("Base64StreamDecoder")
struct Base64StreamDecoderTests {
    static func decodeAll(_ chunks: [[UInt8]]) throws -> [UInt8] {
        var decoder = Base64StreamDecoder()
        var out: [UInt8] = []
        for chunk in chunks { out += try decoder.decode(chunk) }
        out += try decoder.finish()
        return out
    }

    @Test("split at every position equals one-shot Foundation decoding", arguments: [0, 1, 2, 3, 4, 5, 31, 100])
    func everySplit(length: Int) throws {
        var rng = Xoshiro256StarStar(seed: UInt64(length))
        let original = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let encoded = Array(Data(original).base64EncodedString().utf8)
        let foundation = try #require(Data(base64Encoded: Data(encoded)))
        #expect(Array(foundation) == original)
        for split in 0...encoded.count {
            let decoded = try Self.decodeAll([Array(encoded[..<split]), Array(encoded[split...])])
            #expect(decoded == Array(foundation), "split at \(split)")
        }
        for second in 0...encoded.count {
            for first in 0...second {
                let parts = [Array(encoded[..<first]), Array(encoded[first..<second]), Array(encoded[second...])]
                #expect(try Self.decodeAll(parts) == original)
            }
        }
    }

    @Test("one byte at a time, with line breaks every 76 characters")
    func byteByByteWithNewlines() throws {
        let original = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let encoded = Array(
            Data(original).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]).utf8)
        #expect(encoded.contains(0x0A))
        #expect(try Self.decodeAll(encoded.map { [$0] }) == original)
    }

    @Test("URL-safe alphabet and missing padding are accepted")
    func urlSafeUnpadded() throws {
        let original: [UInt8] = [0xFB, 0xFF, 0xBF, 0xFE, 0x00, 0x3E]
        let standard = Data(original).base64EncodedString()
        #expect(standard.contains("+") || standard.contains("/"))
        let urlSafe = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        #expect(try Self.decodeAll([Array(urlSafe.utf8)]) == original)
        for count in 1...5 {
            let unpadded = Data(original.prefix(count)).base64EncodedString().replacingOccurrences(of: "=", with: "")
            #expect(try Self.decodeAll([Array(unpadded.utf8)]) == Array(original.prefix(count)))
        }
    }

    @Test("spaces, tabs and newlines anywhere are ignored")
    func whitespace() throws {
        let text = " SGVs\tbG8s\r\nIHdv cmxk IQ = = \n"
        #expect(try Self.decodeAll([Array(text.utf8)]) == Array("Hello, world!".utf8))
    }

    @Test("invalid characters throw with their offset")
    func invalidCharacter() {
        var decoder = Base64StreamDecoder()
        #expect(throws: Base64DecodingError.invalidCharacter(byte: UInt8(ascii: "*"), offset: 6)) {
            _ = try decoder.decode(Array("QUJD".utf8))
            _ = try decoder.decode(Array("QU*D".utf8))
        }
    }

    @Test("misplaced or excess padding throws")
    func badPadding() {
        #expect(throws: Base64DecodingError.invalidPadding(offset: 0)) { try Self.decodeAll([Array("=QUJD".utf8)]) }
        #expect(throws: Base64DecodingError.invalidPadding(offset: 1)) { try Self.decodeAll([Array("Q===".utf8)]) }
        #expect(throws: Base64DecodingError.invalidPadding(offset: 4)) { try Self.decodeAll([Array("QUI=Q".utf8)]) }
        #expect(throws: Base64DecodingError.invalidPadding(offset: 4)) { try Self.decodeAll([Array("QUI==".utf8)]) }
        #expect(throws: Base64DecodingError.invalidPadding(offset: 4)) { try Self.decodeAll([Array("QQ==QQ==".utf8)]) }
    }

    @Test("truncated input throws at finish")
    func truncated() {
        #expect(throws: Base64DecodingError.truncatedInput) { try Self.decodeAll([Array("QUJDR".utf8)]) }
        #expect(throws: Base64DecodingError.truncatedInput) { try Self.decodeAll([Array("QQ=".utf8)]) }
    }

    @Test("finish resets the decoder for a new stream")
    func reuse() throws {
        var decoder = Base64StreamDecoder()
        #expect(try decoder.decode(Array("QUJD".utf8)) == Array("ABC".utf8))
        #expect(try decoder.finish().isEmpty)
        #expect(try decoder.decode(Array("REVG".utf8)) == Array("DEF".utf8))
    }

    @Test("decodes a PNG carried as base64 into identical bytes")
    func pngPayload() throws {
        let png = PNGEncoder.encode(TestSupport.sampleImage(width: 20, height: 10))
        let encoded = Array(Data(png).base64EncodedString().utf8)
        let chunks = stride(from: 0, to: encoded.count, by: 7).map { Array(encoded[$0..<min($0 + 7, encoded.count)]) }
        #expect(try Self.decodeAll(chunks) == png)
        #expect(ImageProbe.probe(try Self.decodeAll(chunks))?.format == .png)
    }
}
