import AtelierImaging
import Foundation
import Testing

@Suite("Base64TolerantDecoder")
struct Base64TolerantDecoderTests {
    /// Decodes `chunks` joined, in place, and checks that the stretches handed to `decodedBlock` add up to the result.
    static func decodeAll(_ chunks: [[UInt8]], blockCharacters: Int = 256 * 1024) throws -> [UInt8] {
        var buffer = chunks.flatMap { $0 }
        var blocks: [UInt8] = []
        let n = try buffer.withUnsafeMutableBufferPointer { b in
            try Base64TolerantDecoder.decodeInPlace(b, blockCharacters: blockCharacters) { blocks += $0 }
        }
        let out = Array(buffer[..<n])
        #expect(blocks == out, "the decoded stretches are the result, in order")
        return out
    }

    @Test("every length and block size equals Foundation's decoding", arguments: [0, 1, 2, 3, 4, 5, 31, 100, 1000])
    func everyBlockSize(length: Int) throws {
        var rng = Xoshiro256StarStar(seed: UInt64(length))
        let original = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let encoded = Array(Data(original).base64EncodedString().utf8)
        let foundation = try #require(Data(base64Encoded: Data(encoded)))
        #expect(Array(foundation) == original)
        for block in [64, 65, 66, 67, 96, 127, 1 << 20] {
            #expect(try Self.decodeAll([encoded], blockCharacters: block) == original, "block \(block)")
        }
    }

    @Test("line breaks every 76 characters, across block boundaries")
    func lineBreaks() throws {
        let original = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let encoded = Array(
            Data(original).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]).utf8)
        #expect(encoded.contains(0x0A))
        for block in [64, 77, 78, 1 << 20] {
            #expect(try Self.decodeAll([encoded], blockCharacters: block) == original, "block \(block)")
        }
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
        #expect(throws: Base64DecodingError.invalidCharacter(byte: UInt8(ascii: "*"), offset: 6)) {
            try Self.decodeAll([Array("QUJD".utf8), Array("QU*D".utf8)])
        }
        // Inside a run the vector loop would take: it refuses the block and the table finds the byte.
        var long = Array(String(repeating: "QUJD", count: 40).utf8)
        long[100] = UInt8(ascii: "!")
        #expect(throws: Base64DecodingError.invalidCharacter(byte: UInt8(ascii: "!"), offset: 100)) { try Self.decodeAll([long]) }
    }

    @Test("misplaced or excess padding throws")
    func badPadding() {
        #expect(throws: Base64DecodingError.invalidPadding(offset: 0)) { try Self.decodeAll([Array("=QUJD".utf8)]) }
        #expect(throws: Base64DecodingError.invalidPadding(offset: 1)) { try Self.decodeAll([Array("Q===".utf8)]) }
        #expect(throws: Base64DecodingError.invalidPadding(offset: 4)) { try Self.decodeAll([Array("QUI=Q".utf8)]) }
        #expect(throws: Base64DecodingError.invalidPadding(offset: 4)) { try Self.decodeAll([Array("QUI==".utf8)]) }
        #expect(throws: Base64DecodingError.invalidPadding(offset: 4)) { try Self.decodeAll([Array("QQ==QQ==".utf8)]) }
    }

    @Test("truncated input throws")
    func truncated() {
        #expect(throws: Base64DecodingError.truncatedInput) { try Self.decodeAll([Array("QUJDR".utf8)]) }
        #expect(throws: Base64DecodingError.truncatedInput) { try Self.decodeAll([Array("QQ=".utf8)]) }
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
