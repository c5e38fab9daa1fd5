import AtelierImaging
import CAtelierZlib
import Foundation

/// One parsed PNG chunk.
struct PNGChunk {
    var type: String
    var data: [UInt8]
    var storedCRC: UInt32
    var computedCRC: UInt32
}

enum TestSupport {
    /// Splits a PNG file into chunks after checking the signature; nil if the structure is broken.
    static func chunks(ofPNG bytes: [UInt8]) -> [PNGChunk]? {
        guard bytes.count >= 8, Array(bytes[0..<8]) == PNGEncoder.signature else { return nil }
        var chunks: [PNGChunk] = []
        var offset = 8
        while offset < bytes.count {
            guard offset + 12 <= bytes.count else { return nil }
            let length = Int(bigEndian32(bytes, offset))
            guard offset + 12 + length <= bytes.count else { return nil }
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let data = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            let stored = bigEndian32(bytes, offset + 8 + length)
            let computed = crc(Array(bytes[(offset + 4)..<(offset + 8 + length)]))
            chunks.append(PNGChunk(type: type, data: data, storedCRC: stored, computedCRC: computed))
            offset += 12 + length
        }
        return chunks
    }

    static func bigEndian32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    static func bigEndian16(_ bytes: [UInt8], _ offset: Int) -> Int {
        Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
    }

    /// zlib's CRC-32, independent of the encoder's own call path.
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    /// Inflates a zlib stream whose decompressed size is known.
    static func inflate(_ compressed: [UInt8], expectedSize: Int) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: expectedSize)
        var outLength = uLongf(expectedSize)
        let status = output.withUnsafeMutableBufferPointer { out in
            compressed.withUnsafeBufferPointer { input in
                uncompress(out.baseAddress, &outLength, input.baseAddress, uLong(input.count))
            }
        }
        guard status == Z_OK, Int(outLength) == expectedSize else { return nil }
        return output
    }

    /// Reverses PNG filtering, returning the raw scanlines (without filter bytes).
    static func unfilter(_ filtered: [UInt8], rowBytes: Int, rows: Int, bytesPerPixel bpp: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: rowBytes * rows)
        for row in 0..<rows {
            let inStart = row * (rowBytes + 1)
            let type = filtered[inStart]
            for i in 0..<rowBytes {
                let x = filtered[inStart + 1 + i]
                let a = i >= bpp ? Int(out[row * rowBytes + i - bpp]) : 0
                let b = row > 0 ? Int(out[(row - 1) * rowBytes + i]) : 0
                let c = (row > 0 && i >= bpp) ? Int(out[(row - 1) * rowBytes + i - bpp]) : 0
                let predictor: Int
                switch type {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
                default: return nil
                }
                out[row * rowBytes + i] = x &+ UInt8(truncatingIfNeeded: predictor)
            }
        }
        return out
    }

    /// Decodes a PNG produced by ``PNGEncoder`` back to raw pixel bytes (8-bit RGB or RGBA only).
    static func decodePNG(_ bytes: [UInt8]) -> (width: Int, height: Int, channels: Int, pixels: [UInt8])? {
        guard let chunks = chunks(ofPNG: bytes), let header = chunks.first, header.type == "IHDR",
            header.data.count == 13
        else { return nil }
        let width = Int(bigEndian32(header.data, 0))
        let height = Int(bigEndian32(header.data, 4))
        guard header.data[8] == 8, header.data[9] == 2 || header.data[9] == 6 else { return nil }
        let channels = header.data[9] == 6 ? 4 : 3
        let idat = chunks.filter { $0.type == "IDAT" }.flatMap(\.data)
        let rowBytes = width * channels
        guard let filtered = inflate(idat, expectedSize: (rowBytes + 1) * height),
            let pixels = unfilter(filtered, rowBytes: rowBytes, rows: height, bytesPerPixel: channels)
        else { return nil }
        return (width, height, channels, pixels)
    }

    /// Decodes a JPEG with libjpeg-turbo (``ImageDecoder``) as (width, height, RGB bytes); anything but a JPEG throws.
    static func decodeJPEG(_ bytes: [UInt8]) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        let decoded = try ImageDecoder.decode(bytes)
        guard decoded.format == .jpeg, decoded.channels == 3 else { throw ImageDecodingError.unrecognizedFormat }
        return (decoded.width, decoded.height, decoded.pixels)
    }

    /// A deterministic pseudo-random test image with smooth areas and noise.
    static func sampleImage(width: Int, height: Int, seed: UInt64 = 1) -> RGBImage {
        var rng = Xoshiro256StarStar(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                let noise = Int(rng.next() & 15)
                pixels[i] = UInt8((x * 255 / max(width - 1, 1) + noise) & 0xFF)
                pixels[i + 1] = UInt8((y * 255 / max(height - 1, 1)) & 0xFF)
                pixels[i + 2] = UInt8(((x + y) * 4 + noise) & 0xFF)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)!
    }

    /// Peak signal-to-noise ratio between two equally sized byte buffers, in dB.
    static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        precondition(a.count == b.count)
        var sum = 0.0
        for i in 0..<a.count {
            let d = Double(Int(a[i]) - Int(b[i]))
            sum += d * d
        }
        let mse = sum / Double(a.count)
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    /// Number of pixels whose channels differ by more than `threshold` somewhere.
    static func differingPixels(_ a: RGBImage, _ b: RGBImage, threshold: Int = 8) -> Int {
        precondition(a.pixels.count == b.pixels.count)
        var count = 0
        var i = 0
        while i < a.pixels.count {
            if abs(Int(a.pixels[i]) - Int(b.pixels[i])) > threshold
                || abs(Int(a.pixels[i + 1]) - Int(b.pixels[i + 1])) > threshold
                || abs(Int(a.pixels[i + 2]) - Int(b.pixels[i + 2])) > threshold
            {
                count += 1
            }
            i += 3
        }
        return count
    }
}
