import AtelierImaging
import Foundation
import Testing

@Suite("ImageProbe")
struct ImageProbeTests {
    /// Minimal GIF header: signature, logical screen width/height (little endian), rest of the screen descriptor.
    static let gif: [UInt8] = Array("GIF89a".utf8) + [0x40, 0x01, 0xF0, 0x00, 0x00, 0x00, 0x00]

    static func riff(_ fourCC: String, _ payload: [UInt8]) -> [UInt8] {
        let chunkSize = UInt32(payload.count)
        let riffSize = UInt32(4 + 8 + payload.count)
        func le(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
        return Array("RIFF".utf8) + le(riffSize) + Array("WEBP".utf8) + Array(fourCC.utf8) + le(chunkSize) + payload
    }

    /// Lossy: 3-byte frame tag, start code 9D 01 2A, 14-bit width/height with 2-bit scale.
    static let webpLossy = riff("VP8 ", [0x30, 0x01, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x41, 0x00, 0x00])
    /// Lossless: signature 0x2F, then width-1 (14 bits) and height-1 (14 bits), little endian.
    static let webpLossless: [UInt8] = {
        let bits: UInt32 = (300 - 1) | ((200 - 1) << 14)
        return riff("VP8L", [0x2F, UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24), 0])
    }()
    /// Extended: flags, reserved, 24-bit canvas width-1 and height-1.
    static let webpExtended = riff("VP8X", [0x10, 0, 0, 0, 0xFF, 0x0F, 0x00, 0x37, 0x04, 0x00])

    @Test("PNG from the encoder")
    func png() {
        let png = PNGEncoder.encode(RGBImage(width: 123, height: 45))
        #expect(ImageProbe.probe(png) == ImageInfo(format: .png, width: 123, height: 45))
        #expect(ImageProbe.probe(png)?.mimeType == "image/png")
    }

    @Test("JPEG from the encoder, both subsamplings")
    func jpeg() throws {
        for subsampling in JPEGChromaSubsampling.allCases {
            let jpeg = try JPEGEncoder.encode(RGBImage(width: 77, height: 31), subsampling: subsampling)
            #expect(ImageProbe.probe(jpeg) == ImageInfo(format: .jpeg, width: 77, height: 31))
        }
    }

    @Test("JPEG with metadata segments and fill bytes before a progressive SOF2")
    func jpegWithSegments() {
        var bytes: [UInt8] = [0xFF, 0xD8]
        bytes += [0xFF, 0xE1, 0x00, 0x08] + Array("Exif\0\0".utf8)  // APP1, length 8
        bytes += [0xFF, 0xFE, 0x00, 0x05, 0x68, 0x69, 0x21]  // COM "hi!"
        bytes += [0xFF, 0xFF, 0xFF]  // fill bytes before the next marker
        bytes += [0xC2, 0x00, 0x11, 0x08, 0x02, 0x58, 0x03, 0x20, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]
        #expect(ImageProbe.probe(bytes) == ImageInfo(format: .jpeg, width: 800, height: 600))
    }

    @Test("hand-made GIF and WEBP headers")
    func handMadeHeaders() {
        #expect(ImageProbe.probe(Self.gif) == ImageInfo(format: .gif, width: 320, height: 240))
        #expect(ImageProbe.probe(Self.webpLossy) == ImageInfo(format: .webp, width: 640, height: 480))
        #expect(ImageProbe.probe(Self.webpLossless) == ImageInfo(format: .webp, width: 300, height: 200))
        #expect(ImageProbe.probe(Self.webpExtended) == ImageInfo(format: .webp, width: 4096, height: 1080))
        #expect(ImageProbe.probe(Self.webpLossless)?.mimeType == "image/webp")
    }

    @Test("works on Data, ArraySlice and non-contiguous collections")
    func collectionKinds() {
        let png = PNGEncoder.encode(RGBImage(width: 9, height: 4))
        let expected = ImageInfo(format: .png, width: 9, height: 4)
        #expect(ImageProbe.probe(Data(png)) == expected)
        #expect(ImageProbe.probe(([0, 0] + png)[2...]) == expected)
        #expect(ImageProbe.probe(png.lazy.map { $0 }) == expected)
    }

    @Test("garbage and empty input give nil")
    func garbage() {
        #expect(ImageProbe.probe([UInt8]()) == nil)
        #expect(ImageProbe.probe(Array("hello, world, this is not an image at all".utf8)) == nil)
        #expect(ImageProbe.probe([0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02]) == nil)  // SOS before SOF
        #expect(ImageProbe.probe([0xFF, 0xD8, 0x12, 0x34]) == nil)  // no marker
        #expect(ImageProbe.probe(Array("RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt ".utf8)) == nil)
        // Zero sizes are rejected.
        #expect(ImageProbe.probe(Array("GIF89a".utf8) + [0, 0, 0, 0]) == nil)
    }

    @Test("every prefix of a valid file either probes correctly or gives nil, never crashes")
    func truncatedPrefixes() throws {
        let png = PNGEncoder.encode(RGBImage(width: 12, height: 8))
        let jpeg = try JPEGEncoder.encode(RGBImage(width: 12, height: 8))
        let files: [([UInt8], ImageInfo)] = [
            (png, ImageInfo(format: .png, width: 12, height: 8)),
            (jpeg, ImageInfo(format: .jpeg, width: 12, height: 8)),
            (Self.gif, ImageInfo(format: .gif, width: 320, height: 240)),
            (Self.webpLossy, ImageInfo(format: .webp, width: 640, height: 480)),
            (Self.webpLossless, ImageInfo(format: .webp, width: 300, height: 200)),
            (Self.webpExtended, ImageInfo(format: .webp, width: 4096, height: 1080)),
        ]
        for (file, info) in files {
            var recognisedAt: Int?
            for length in 0...min(file.count, 400) {
                let result = ImageProbe.probe(Array(file.prefix(length)))
                if let result {
                    #expect(result == info)
                    if recognisedAt == nil { recognisedAt = length }
                } else {
                    #expect(recognisedAt == nil, "a longer prefix must not lose the result")
                }
            }
            #expect(recognisedAt != nil)
        }
    }

    @Test("mutated valid headers never crash the probe")
    func fuzzMutations() throws {
        let seeds: [[UInt8]] = [
            PNGEncoder.encode(RGBImage(width: 3, height: 3)),
            try JPEGEncoder.encode(RGBImage(width: 8, height: 8)),
            Self.gif, Self.webpLossy, Self.webpLossless, Self.webpExtended,
        ]
        var rng = Xoshiro256StarStar(seed: 2024)
        var recognised = 0
        for round in 0..<3000 {
            var bytes = Array(seeds[round % seeds.count].prefix(64))
            for _ in 0..<rng.next(in: 1...4) {
                bytes[rng.next(below: bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            }
            bytes = Array(bytes.prefix(rng.next(in: 0...bytes.count)))
            if let info = ImageProbe.probe(bytes) {
                recognised += 1
                #expect(info.width > 0 && info.height > 0)
            }
        }
        // Random bytes: must not crash, and must not come back with nonsense sizes.
        for _ in 0..<2000 {
            let bytes = (0..<rng.next(in: 0...48)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if let info = ImageProbe.probe(bytes) { #expect(info.width > 0 && info.height > 0) }
        }
        #expect(recognised > 0)
    }

    @Test("probe(fileAt:) reads the header from disk and handles missing files")
    func file() throws {
        let directory = FileManager.default.temporaryDirectory
        let path = directory.appendingPathComponent("atelier-probe-\(UInt64.random(in: 0...UInt64.max)).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(PNGEncoder.encode(TestSupport.sampleImage(width: 300, height: 200))).write(to: URL(fileURLWithPath: path))
        #expect(ImageProbe.probe(fileAt: path) == ImageInfo(format: .png, width: 300, height: 200))
        #expect(ImageProbe.probe(fileAt: path + ".missing") == nil)
    }

    @Test("format metadata")
    func formatMetadata() {
        #expect(ImageFormat.jpeg.mimeType == "image/jpeg")
        #expect(ImageFormat.jpeg.fileExtension == "jpg")
        #expect(ImageFormat.gif.mimeType == "image/gif")
        #expect(ImageFormat.allCases.count == 4)
    }
}
