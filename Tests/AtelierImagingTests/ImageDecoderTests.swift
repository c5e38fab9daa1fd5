import AtelierImaging
import Foundation
import Testing

@Suite("ImageDecoder")
struct ImageDecoderTests {
    static let image = TestSupport.sampleImage(width: 37, height: 23, seed: 3)

    /// One valid file of each decoded format, made by the project's encoders.
    static func samples() throws -> [(ImageFormat, [UInt8])] {
        [
            (.png, PNGEncoder.encode(image)),
            (.jpeg, try JPEGEncoder.encode(image, quality: 90)),
            (.webp, try WebPEncoder.encode(image)),
        ]
    }

    @Test("PNG decodes to the exact pixels, RGB without alpha")
    func png() throws {
        let decoded = try ImageDecoder.decode(PNGEncoder.encode(Self.image))
        #expect(decoded.format == .png && decoded.width == 37 && decoded.height == 23 && decoded.channels == 3)
        #expect(decoded.pixels == Self.image.pixels)
        #expect(decoded.rgbImage() == Self.image)
    }

    @Test("PNG with alpha decodes to RGBA, straight alpha kept")
    func pngAlpha() throws {
        let rgba: [UInt8] = [255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 10, 20, 30, 40]
        let decoded = try ImageDecoder.decode(try PNGEncoder.encode(rgba: rgba, width: 2, height: 2))
        #expect(decoded.channels == 4 && decoded.hasAlpha)
        #expect(decoded.pixels == rgba)
        // Composited over white: opaque red stays, transparent blue becomes white, half green is mixed.
        let flat = decoded.rgbImage(background: .white)
        #expect(flat[0, 0] == RGBColor(r: 255, g: 0, b: 0))
        #expect(flat[1, 0] == RGBColor(r: 127, g: 255, b: 127))
        #expect(flat[0, 1] == .white)
    }

    @Test("JPEG decodes close to the original")
    func jpeg() throws {
        let decoded = try ImageDecoder.decode(try JPEGEncoder.encode(Self.image, quality: 95, subsampling: .yuv444))
        #expect(decoded.format == .jpeg && decoded.width == 37 && decoded.height == 23 && decoded.channels == 3)
        let psnr = TestSupport.psnr(decoded.pixels, Self.image.pixels)
        #expect(psnr > 30, "PSNR \(psnr) dB")
    }

    @Test("a JPEG metadata warning (unknown JFIF revision) still decodes; a missing end of image does not")
    func jpegWarnings() throws {
        let jpeg = try JPEGEncoder.encode(Self.image, quality: 90)
        #expect(Array(jpeg[6..<11]) == Array("JFIF\0".utf8))
        var revised = jpeg
        revised[11] = 7  // JFIF major version 7: libjpeg warns, the pixels are untouched
        #expect(try ImageDecoder.decode(revised).pixels == ImageDecoder.decode(jpeg).pixels)
        #expect(throws: ImageDecodingError.corrupt(.jpeg, message: "Premature end of JPEG file")) {
            try ImageDecoder.decode(Array(jpeg.dropLast(2)))
        }
    }

    @Test("WebP decodes: lossless exactly, lossy closely; Data input works too")
    func webp() throws {
        let lossless = try ImageDecoder.decode(Data(try WebPEncoder.encode(Self.image, compression: .lossless(effort: 2))))
        #expect(lossless.format == .webp && lossless.width == 37 && lossless.height == 23 && lossless.channels == 3)
        #expect(lossless.pixels == Self.image.pixels)
        let lossy = try ImageDecoder.decode(try WebPEncoder.encode(Self.image, compression: .lossy(quality: 90)))
        #expect(lossy.channels == 3)
        let psnr = TestSupport.psnr(lossy.pixels, Self.image.pixels)
        #expect(psnr > 24, "PSNR \(psnr) dB")  // noisy pixels, 4:2:0 chroma
    }

    @Test("every truncation of a valid file is an error naming the format, never a crash")
    func truncated() throws {
        for (format, bytes) in try Self.samples() {
            // Cuts everywhere in the header and at a stride through the data; the last cut drops only the end marker.
            var cuts = Array(0..<min(64, bytes.count))
            cuts += Array(stride(from: 64, to: bytes.count - 1, by: 7)) + [bytes.count - 2]
            for cut in cuts {
                do {
                    let d = try ImageDecoder.decode(Array(bytes.prefix(cut)))
                    // A PNG cut inside its IEND chunk, after all pixel data, may still decode completely.
                    #expect(
                        format == .png && cut >= bytes.count - 12 && d.pixels == Self.image.pixels,
                        "\(format) cut at \(cut) of \(bytes.count) decoded")
                } catch .unrecognizedFormat {
                    #expect(cut < 12, "\(format) cut at \(cut) not recognised")
                } catch .corrupt(let f, let message) {
                    #expect(f == format && !message.isEmpty)
                } catch {
                    Issue.record("\(format) cut at \(cut): unexpected \(error)")
                }
            }
        }
    }

    @Test("garbage after a valid signature, and corrupted bytes inside valid files, never crash")
    func garbage() throws {
        var rng = Xoshiro256StarStar(seed: 77)
        let signatures: [[UInt8]] = [PNGEncoder.signature, [0xFF, 0xD8, 0xFF], Array("RIFF\u{10}\0\0\0WEBPVP8 ".utf8)]
        for signature in signatures {
            for length in [0, 1, 16, 300, 5000] {
                let bytes = signature + (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                #expect(throws: ImageDecodingError.self) { try ImageDecoder.decode(bytes) }
            }
        }
        // Random byte flips inside real files: an error, or an image of the declared size.
        for (format, original) in try Self.samples() {
            for _ in 0..<200 {
                var bytes = original
                for _ in 0..<4 {
                    let i = 16 + rng.next(below: bytes.count - 16)
                    bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                }
                do {
                    let d = try ImageDecoder.decode(bytes, maxPixels: 1 << 20)
                    #expect(d.format == format && d.pixels.count == d.width * d.height * d.channels)
                } catch {
                    #expect(!error.description.isEmpty)
                }
            }
        }
    }

    @Test("unknown bytes, GIF and oversized images are clear errors")
    func refusals() throws {
        #expect(throws: ImageDecodingError.unrecognizedFormat) { try ImageDecoder.decode([UInt8]()) }
        #expect(throws: ImageDecodingError.unrecognizedFormat) { try ImageDecoder.decode(Array("hello, world".utf8)) }
        let gif = Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0]
        #expect(throws: ImageDecodingError.unsupported(.gif, reason: "GIF decoding is not supported")) { try ImageDecoder.decode(gif) }
        for (format, bytes) in try Self.samples() {
            #expect(throws: ImageDecodingError.tooLarge(format, width: 37, height: 23, maxPixels: 100)) {
                try ImageDecoder.decode(bytes, maxPixels: 100)
            }
        }
        #expect(ImageDecodingError.tooLarge(.png, width: 9, height: 9, maxPixels: 10).description.contains("9×9"))
        #expect(ImageDecodingError.corrupt(.jpeg, message: "x").description == "corrupt or truncated JPEG image: x")
    }

    @Test("an animated WebP (VP8X with the animation flag) is unsupported, not corrupt")
    func animatedWebP() {
        // VP8X (flags 0x02: animation; canvas 64×48) and an ANIM chunk (background colour, loop count), no frames.
        let chunks: [UInt8] =
            Array("VP8X".utf8) + [10, 0, 0, 0, 0x02, 0, 0, 0, 63, 0, 0, 47, 0, 0] + Array("ANIM".utf8) + [6, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let vp8x = Array("RIFF".utf8) + [UInt8(4 + chunks.count), 0, 0, 0] + Array("WEBP".utf8) + chunks
        #expect(throws: ImageDecodingError.unsupported(.webp, reason: "animated WebP is not supported")) { try ImageDecoder.decode(vp8x) }
    }

    @Test("a PNG header declaring a huge canvas is refused before allocation")
    func hugeDeclaredSize() throws {
        var png = PNGEncoder.encode(RGBImage(width: 1, height: 1))
        // IHDR width and height (bytes 16..<24) → 60000 × 60000; fix the chunk CRC so libpng reads the header.
        let side: [UInt8] = [0, 0, 0xEA, 0x60]
        png.replaceSubrange(16..<20, with: side)
        png.replaceSubrange(20..<24, with: side)
        let crc = TestSupport.crc(Array(png[12..<29]))
        png.replaceSubrange(29..<33, with: [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)])
        #expect(throws: ImageDecodingError.tooLarge(.png, width: 60000, height: 60000, maxPixels: ImageDecoder.defaultMaxPixels)) {
            try ImageDecoder.decode(png)
        }
    }
}
