import AtelierImaging
import Testing

@Suite("JPEGEncoder")
struct JPEGEncoderTests {
    /// Marker segments up to (and including) SOS, as (marker, payload).
    static func segments(_ jpeg: [UInt8]) -> [(UInt8, [UInt8])]? {
        guard jpeg.count >= 4, jpeg[0] == 0xFF, jpeg[1] == 0xD8 else { return nil }
        var result: [(UInt8, [UInt8])] = []
        var offset = 2
        while offset + 4 <= jpeg.count {
            guard jpeg[offset] == 0xFF else { return nil }
            let marker = jpeg[offset + 1]
            let length = TestSupport.bigEndian16(jpeg, offset + 2)
            guard length >= 2, offset + 2 + length <= jpeg.count else { return nil }
            result.append((marker, Array(jpeg[(offset + 4)..<(offset + 2 + length)])))
            offset += 2 + length
            if marker == 0xDA { return result }
        }
        return nil
    }

    @Test("starts with SOI + JFIF APP0, ends with EOI, SOF0 carries the size")
    func structure() throws {
        let jpeg = try JPEGEncoder.encode(TestSupport.sampleImage(width: 70, height: 33), quality: 80)
        #expect(Array(jpeg.prefix(2)) == [0xFF, 0xD8])
        #expect(Array(jpeg.suffix(2)) == [0xFF, 0xD9])
        let segments = try #require(Self.segments(jpeg))
        #expect(segments.first?.0 == 0xE0)
        #expect(segments.first.map { Array($0.1.prefix(5)) } == Array("JFIF\0".utf8))
        let sof = try #require(segments.first { $0.0 == 0xC0 })
        #expect(sof.1[0] == 8)
        #expect(TestSupport.bigEndian16(sof.1, 1) == 33)
        #expect(TestSupport.bigEndian16(sof.1, 3) == 70)
        #expect(sof.1[5] == 3)
        #expect(segments.filter { $0.0 == 0xC4 }.count == 4)
        #expect(segments.last?.0 == 0xDA)
    }

    @Test("sampling factors follow the subsampling option")
    func subsamplingFactors() throws {
        let image = TestSupport.sampleImage(width: 20, height: 20)
        for (option, lumaFactor) in [(JPEGChromaSubsampling.yuv420, UInt8(0x22)), (.yuv444, 0x11)] {
            let segments = try #require(Self.segments(try JPEGEncoder.encode(image, subsampling: option)))
            let sof = try #require(segments.first { $0.0 == 0xC0 })
            #expect(sof.1[7] == lumaFactor)
            #expect(sof.1[10] == 0x11)
            #expect(sof.1[13] == 0x11)
        }
    }

    @Test("entropy-coded data has every 0xFF stuffed")
    func byteStuffing() throws {
        let jpeg = try JPEGEncoder.encode(TestSupport.sampleImage(width: 64, height: 64), quality: 95)
        let segments = try #require(Self.segments(jpeg))
        let headerLength = 2 + segments.reduce(0) { $0 + 4 + $1.1.count }
        let scan = Array(jpeg[headerLength..<(jpeg.count - 2)])
        var i = 0
        var ffCount = 0
        while i < scan.count {
            if scan[i] == 0xFF {
                ffCount += 1
                #expect(i + 1 < scan.count && scan[i + 1] == 0x00, "unstuffed 0xFF at \(i)")
                i += 1
            }
            i += 1
        }
        #expect(ffCount > 0, "noise at quality 95 should produce some 0xFF bytes")
        #expect(!scan.isEmpty)
    }

    @Test("decodes back close to the original", arguments: JPEGChromaSubsampling.allCases)
    func roundTrip(subsampling: JPEGChromaSubsampling) throws {
        // Smooth content with odd sizes exercises the edge padding.
        var image = RGBImage(width: 45, height: 29)
        image.fillLinearGradient(startX: 0, startY: 0, endX: 45, endY: 29, stops: [RGBColor(hex: 0x2040A0), RGBColor(hex: 0xF0C060)])
        image.fillCircle(centerX: 20, centerY: 14, radius: 9, color: RGBColor(hex: 0x30A050), softness: 200)
        let jpeg = try JPEGEncoder.encode(image, quality: 92, subsampling: subsampling)
        let decoded = try TestSupport.decodeJPEG(jpeg)
        #expect(decoded.width == 45)
        #expect(decoded.height == 29)
        let psnr = TestSupport.psnr(decoded.rgb, image.pixels)
        #expect(psnr > 32, "PSNR \(psnr) dB too low")
    }

    @Test("a flat colour survives almost exactly")
    func flatColour() throws {
        let color = RGBColor(r: 200, g: 60, b: 30)
        let jpeg = try JPEGEncoder.encode(RGBImage(width: 16, height: 16, color: color), quality: 90)
        let decoded = try TestSupport.decodeJPEG(jpeg)
        for i in stride(from: 0, to: decoded.rgb.count, by: 3) {
            #expect(abs(Int(decoded.rgb[i]) - 200) <= 3)
            #expect(abs(Int(decoded.rgb[i + 1]) - 60) <= 3)
            #expect(abs(Int(decoded.rgb[i + 2]) - 30) <= 3)
        }
    }

    @Test("lower quality gives a smaller file and lower fidelity")
    func qualityMatters() throws {
        let image = TestSupport.sampleImage(width: 64, height: 64, seed: 5)
        let low = try JPEGEncoder.encode(image, quality: 10)
        let high = try JPEGEncoder.encode(image, quality: 95)
        #expect(low.count < high.count)
        let lowPSNR = TestSupport.psnr(try TestSupport.decodeJPEG(low).rgb, image.pixels)
        let highPSNR = TestSupport.psnr(try TestSupport.decodeJPEG(high).rgb, image.pixels)
        #expect(lowPSNR < highPSNR)
    }

    @Test("quality is clamped to 1...100 and output is deterministic")
    func clampingAndDeterminism() throws {
        let image = TestSupport.sampleImage(width: 24, height: 24)
        #expect(try JPEGEncoder.encode(image, quality: -5) == JPEGEncoder.encode(image, quality: 1))
        #expect(try JPEGEncoder.encode(image, quality: 500) == JPEGEncoder.encode(image, quality: 100))
        #expect(try JPEGEncoder.encode(image, quality: 75) == JPEGEncoder.encode(image, quality: 75))
    }

    @Test("1×1 images encode and decode")
    func tiny() throws {
        let jpeg = try JPEGEncoder.encode(RGBImage(width: 1, height: 1, color: RGBColor(r: 10, g: 250, b: 120)))
        let decoded = try TestSupport.decodeJPEG(jpeg)
        #expect(decoded.rgb.count == 3)
        #expect(abs(Int(decoded.rgb[1]) - 250) <= 6)
        #expect(ImageProbe.probe(jpeg) == ImageInfo(format: .jpeg, width: 1, height: 1))
    }

    @Test("sides above 65535 are rejected")
    func tooLarge() {
        #expect(throws: ImageEncodingError.invalidDimensions(width: 65536, height: 1)) {
            try JPEGEncoder.encode(RGBImage(width: 65536, height: 1))
        }
    }
}
