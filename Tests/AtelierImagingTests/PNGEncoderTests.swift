import AtelierImaging
import Testing

@Suite("PNGEncoder")
struct PNGEncoderTests {
    @Test("file has signature, IHDR first, IDAT, IEND last, and every CRC is right")
    func chunkStructure() throws {
        let image = TestSupport.sampleImage(width: 37, height: 23)
        let png = PNGEncoder.encode(image)
        let chunks = try #require(TestSupport.chunks(ofPNG: png))
        #expect(chunks.first?.type == "IHDR")
        #expect(chunks.last?.type == "IEND")
        #expect(chunks.last?.data.isEmpty == true)
        #expect(chunks.contains { $0.type == "IDAT" })
        for chunk in chunks {
            #expect(chunk.storedCRC == chunk.computedCRC, "CRC mismatch in \(chunk.type)")
        }
        let header = try #require(chunks.first)
        #expect(header.data.count == 13)
        #expect(TestSupport.bigEndian32(header.data, 0) == 37)
        #expect(TestSupport.bigEndian32(header.data, 4) == 23)
        #expect(Array(header.data[8...12]) == [8, 2, 0, 0, 0])
    }

    @Test("IEND CRC matches the well-known constant")
    func iendCRC() throws {
        let png = PNGEncoder.encode(RGBImage(width: 1, height: 1))
        #expect(Array(png.suffix(12)) == [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])
    }

    @Test("inflating and unfiltering IDAT gives back the original RGB pixels", arguments: [(1, 1), (5, 3), (64, 48), (129, 7)])
    func rgbRoundTrip(size: (Int, Int)) throws {
        let image = TestSupport.sampleImage(width: size.0, height: size.1, seed: UInt64(size.0 * 1000 + size.1))
        let decoded = try #require(TestSupport.decodePNG(PNGEncoder.encode(image)))
        #expect(decoded.width == size.0)
        #expect(decoded.height == size.1)
        #expect(decoded.channels == 3)
        #expect(decoded.pixels == image.pixels)
    }

    @Test("RGBA buffers round-trip with colour type 6")
    func rgbaRoundTrip() throws {
        var rgba: [UInt8] = []
        for i in 0..<(19 * 11) {
            rgba += [UInt8(i & 0xFF), UInt8((i * 7) & 0xFF), UInt8((i * 13) & 0xFF), UInt8((i * 3) & 0xFF)]
        }
        let png = try PNGEncoder.encode(rgba: rgba, width: 19, height: 11)
        let decoded = try #require(TestSupport.decodePNG(png))
        #expect(decoded.channels == 4)
        #expect(decoded.pixels == rgba)
    }

    @Test("RGBA with a wrong buffer size or dimensions throws")
    func rgbaValidation() {
        #expect(throws: ImageEncodingError.bufferSizeMismatch(expected: 16, actual: 15)) {
            try PNGEncoder.encode(rgba: [UInt8](repeating: 0, count: 15), width: 2, height: 2)
        }
        #expect(throws: ImageEncodingError.invalidDimensions(width: 0, height: 2)) {
            try PNGEncoder.encode(rgba: [], width: 0, height: 2)
        }
    }

    @Test("large images are split over several IDAT chunks that reassemble correctly")
    func multipleIDAT() throws {
        // Noise does not compress, so the stream exceeds one 64 KiB chunk.
        var rng = Xoshiro256StarStar(seed: 99)
        let pixels = (0..<(160 * 160 * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let image = try #require(RGBImage(width: 160, height: 160, pixels: pixels))
        let png = PNGEncoder.encode(image)
        let chunks = try #require(TestSupport.chunks(ofPNG: png))
        let idats = chunks.filter { $0.type == "IDAT" }
        #expect(idats.count > 1)
        #expect(idats.dropLast().allSatisfy { $0.data.count == PNGEncoder.maxIDATChunkLength })
        #expect(try #require(TestSupport.decodePNG(png)).pixels == pixels)
    }

    @Test("identical input gives byte-identical output")
    func deterministic() {
        let image = TestSupport.sampleImage(width: 50, height: 40)
        let text = [("Software", "Atelier local renderer"), ("Prompt", "a red fox")]
        #expect(PNGEncoder.encode(image, text: text) == PNGEncoder.encode(image, text: text))
    }

    @Test("text metadata becomes tEXt (Latin-1) or iTXt (UTF-8) chunks before IDAT")
    func textChunks() throws {
        let png = PNGEncoder.encode(
            RGBImage(width: 2, height: 2),
            text: [("Software", "Atelier local renderer"), ("Prompt", "café ☕ 猫"), ("", "dropped"), ("Seed", "42")])
        let chunks = try #require(TestSupport.chunks(ofPNG: png))
        let types = chunks.map(\.type)
        #expect(types == ["IHDR", "tEXt", "iTXt", "tEXt", "IDAT", "IEND"])
        #expect(chunks[1].data == Array("Software".utf8) + [0] + Array("Atelier local renderer".utf8))
        let itxt = chunks[2].data
        #expect(Array(itxt.prefix(11)) == Array("Prompt".utf8) + [0, 0, 0, 0, 0])
        #expect(String(decoding: itxt.dropFirst(11), as: UTF8.self) == "café ☕ 猫")
        #expect(chunks[3].data == Array("Seed".utf8) + [0] + Array("42".utf8))
        for chunk in chunks { #expect(chunk.storedCRC == chunk.computedCRC) }
    }

    @Test("Latin-1 text is written as single bytes, keywords are cut to 79 bytes")
    func latin1AndLongKeyword() throws {
        let png = PNGEncoder.encode(RGBImage(width: 1, height: 1), text: [(String(repeating: "k", count: 100), "é")])
        let chunks = try #require(TestSupport.chunks(ofPNG: png))
        let text = try #require(chunks.first { $0.type == "tEXt" })
        #expect(text.data == [UInt8](repeating: UInt8(ascii: "k"), count: 79) + [0, 0xE9])
    }
}
