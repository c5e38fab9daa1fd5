/// Encodes RGB images as baseline JPEG/JFIF files.
///
/// Baseline sequential DCT (SOF0), integer colour conversion and integer "islow" DCT,
/// the standard Annex K quantisation tables scaled by the IJG quality formula, and
/// the standard Annex K Huffman tables. Output is deterministic: identical input and
/// options give byte-identical files on every machine.
public enum JPEGEncoder {
    /// Largest width or height a baseline JPEG can describe.
    public static let maxDimension = 65535

    /// Encodes `image` as a JFIF baseline JPEG.
    ///
    /// - Parameters:
    ///   - image: The pixels to encode.
    ///   - quality: IJG-style quality, clamped to 1...100 (≈ 75–92 is typical for photos).
    ///   - subsampling: Chroma subsampling; ``JPEGChromaSubsampling/yuv420`` by default.
    /// - Throws: ``ImageEncodingError/invalidDimensions(width:height:)`` when a side exceeds
    ///   ``maxDimension``.
    /// - Returns: The complete JPEG file, from SOI to EOI.
    public static func encode(
        _ image: RGBImage, quality: Int = 90, subsampling: JPEGChromaSubsampling = .yuv420
    ) throws(ImageEncodingError) -> [UInt8] {
        guard image.width <= maxDimension, image.height <= maxDimension else {
            throw .invalidDimensions(width: image.width, height: image.height)
        }
        let lumaTable = JPEGTables.scaledQuantization(JPEGTables.luminanceQuantization, quality: quality)
        let chromaTable = JPEGTables.scaledQuantization(JPEGTables.chrominanceQuantization, quality: quality)

        var out: [UInt8] = []
        out.reserveCapacity(image.width * image.height / 2 + 1024)
        out += [0xFF, 0xD8]  // SOI
        // APP0 / JFIF 1.01, no units, 1:1 aspect, no thumbnail.
        out += [0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]
        // DQT: two 8-bit tables, written in zig-zag order.
        out += [0xFF, 0xDB]
        out.appendBigEndian(UInt16(2 + 2 * 65))
        for (id, table) in [lumaTable, chromaTable].enumerated() {
            out.append(UInt8(id))
            for k in 0..<64 { out.append(UInt8(table[JPEGTables.zigzag[k]])) }
        }
        // SOF0: 8-bit precision, three components.
        let lumaSampling: UInt8 = subsampling == .yuv420 ? 0x22 : 0x11
        out += [0xFF, 0xC0]
        out.appendBigEndian(UInt16(8 + 3 * 3))
        out.append(8)
        out.appendBigEndian(UInt16(image.height))
        out.appendBigEndian(UInt16(image.width))
        out.append(3)
        out += [1, lumaSampling, 0, 2, 0x11, 1, 3, 0x11, 1]
        // DHT: the four standard tables.
        let huffman: [(UInt8, JPEGHuffmanTable)] = [
            (0x00, .dcLuminance), (0x10, .acLuminance), (0x01, .dcChrominance), (0x11, .acChrominance),
        ]
        for (classAndID, table) in huffman {
            out += [0xFF, 0xC4]
            out.appendBigEndian(UInt16(2 + 1 + 16 + table.values.count))
            out.append(classAndID)
            out += table.bits
            out += table.values
        }
        // SOS: all three components, full spectral range.
        out += [0xFF, 0xDA]
        out.appendBigEndian(UInt16(6 + 2 * 3))
        out += [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]

        out += encodeScan(image, lumaTable: lumaTable, chromaTable: chromaTable, subsampling: subsampling)
        out += [0xFF, 0xD9]  // EOI
        return out
    }

    // MARK: - Scan

    /// Colour-converts, transforms, quantises and entropy-codes the image.
    private static func encodeScan(
        _ image: RGBImage, lumaTable: [Int], chromaTable: [Int], subsampling: JPEGChromaSubsampling
    ) -> [UInt8] {
        let mcuSize = subsampling == .yuv420 ? 16 : 8
        let paddedWidth = (image.width + mcuSize - 1) / mcuSize * mcuSize
        let paddedHeight = (image.height + mcuSize - 1) / mcuSize * mcuSize
        let planes = colorConvert(image, paddedWidth: paddedWidth, paddedHeight: paddedHeight)
        let chromaWidth: Int
        let cb: [UInt8]
        let cr: [UInt8]
        if subsampling == .yuv420 {
            chromaWidth = paddedWidth / 2
            cb = downsample(planes.cb, width: paddedWidth, height: paddedHeight)
            cr = downsample(planes.cr, width: paddedWidth, height: paddedHeight)
        } else {
            chromaWidth = paddedWidth
            cb = planes.cb
            cr = planes.cr
        }

        // Reciprocal-free quantiser: divisor = 8 × q because the DCT output is scaled by 8.
        let lumaDivisors = lumaTable.map { Int32($0 * 8) }
        let chromaDivisors = chromaTable.map { Int32($0 * 8) }

        var writer = JPEGBitWriter(capacity: paddedWidth * paddedHeight / 4 + 1024)
        let block = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
        let scratch = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
        defer {
            block.deallocate()
            scratch.deallocate()
        }
        var state = BlockCoder(scratch: scratch)

        planes.y.withUnsafeBufferPointer { yPlane in
            cb.withUnsafeBufferPointer { cbPlane in
                cr.withUnsafeBufferPointer { crPlane in
                    for mcuY in stride(from: 0, to: paddedHeight, by: mcuSize) {
                        for mcuX in stride(from: 0, to: paddedWidth, by: mcuSize) {
                            if mcuSize == 16 {
                                for quadrant in 0..<4 {
                                    let dx = (quadrant & 1) * 8
                                    let dy = (quadrant >> 1) * 8
                                    load(block, from: yPlane, width: paddedWidth, x: mcuX + dx, y: mcuY + dy)
                                    state.code(block, divisors: lumaDivisors, component: 0, writer: &writer)
                                }
                                load(block, from: cbPlane, width: chromaWidth, x: mcuX / 2, y: mcuY / 2)
                                state.code(block, divisors: chromaDivisors, component: 1, writer: &writer)
                                load(block, from: crPlane, width: chromaWidth, x: mcuX / 2, y: mcuY / 2)
                                state.code(block, divisors: chromaDivisors, component: 2, writer: &writer)
                            } else {
                                load(block, from: yPlane, width: paddedWidth, x: mcuX, y: mcuY)
                                state.code(block, divisors: lumaDivisors, component: 0, writer: &writer)
                                load(block, from: cbPlane, width: chromaWidth, x: mcuX, y: mcuY)
                                state.code(block, divisors: chromaDivisors, component: 1, writer: &writer)
                                load(block, from: crPlane, width: chromaWidth, x: mcuX, y: mcuY)
                                state.code(block, divisors: chromaDivisors, component: 2, writer: &writer)
                            }
                        }
                    }
                }
            }
        }
        writer.flush()
        return writer.bytes
    }

    /// Loads an 8×8 block at (`x`, `y`) of `plane`, level-shifted to -128...127.
    @inline(__always)
    private static func load(_ block: UnsafeMutablePointer<Int32>, from plane: UnsafeBufferPointer<UInt8>, width: Int, x: Int, y: Int) {
        let base = plane.baseAddress!
        for row in 0..<8 {
            let src = base + (y + row) * width + x
            let dst = block + row * 8
            for column in 0..<8 { dst[column] = Int32(src[column]) - 128 }
        }
    }

    /// JFIF RGB → YCbCr (BT.601 full range) in 16-bit fixed point, with edge replication
    /// into the padding so partial MCUs do not bleed black into the picture.
    private static func colorConvert(
        _ image: RGBImage, paddedWidth: Int, paddedHeight: Int
    ) -> (y: [UInt8], cb: [UInt8], cr: [UInt8]) {
        let count = paddedWidth * paddedHeight
        var yPlane = [UInt8](repeating: 0, count: count)
        var cbPlane = [UInt8](repeating: 0, count: count)
        var crPlane = [UInt8](repeating: 0, count: count)
        let w = image.width
        let h = image.height
        image.pixels.withUnsafeBufferPointer { rgb in
            yPlane.withUnsafeMutableBufferPointer { yp in
                cbPlane.withUnsafeMutableBufferPointer { cbp in
                    crPlane.withUnsafeMutableBufferPointer { crp in
                        for py in 0..<paddedHeight {
                            let sy = min(py, h - 1)
                            let rowBase = sy * w * 3
                            let outRow = py * paddedWidth
                            for px in 0..<paddedWidth {
                                let i = rowBase + min(px, w - 1) * 3
                                let r = Int32(rgb[i]), g = Int32(rgb[i + 1]), b = Int32(rgb[i + 2])
                                let yv = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
                                let cbv = (-11059 * r - 21709 * g + 32768 * b + (128 << 16) + 32767) >> 16
                                let crv = (32768 * r - 27439 * g - 5329 * b + (128 << 16) + 32767) >> 16
                                yp[outRow + px] = UInt8(min(max(yv, 0), 255))
                                cbp[outRow + px] = UInt8(min(max(cbv, 0), 255))
                                crp[outRow + px] = UInt8(min(max(crv, 0), 255))
                            }
                        }
                    }
                }
            }
        }
        return (yPlane, cbPlane, crPlane)
    }

    /// 2×2 box-filter downsampling (even dimensions), with alternating rounding bias like libjpeg.
    private static func downsample(_ plane: [UInt8], width: Int, height: Int) -> [UInt8] {
        let outWidth = width / 2
        let outHeight = height / 2
        var out = [UInt8](repeating: 0, count: outWidth * outHeight)
        plane.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outHeight {
                    let r0 = 2 * y * width
                    let r1 = r0 + width
                    for x in 0..<outWidth {
                        let bias = 1 + (x & 1)
                        let sum = Int(src[r0 + 2 * x]) + Int(src[r0 + 2 * x + 1]) + Int(src[r1 + 2 * x]) + Int(src[r1 + 2 * x + 1])
                        dst[y * outWidth + x] = UInt8((sum + bias) >> 2)
                    }
                }
            }
        }
        return out
    }
}

/// Per-scan entropy-coding state: DC predictors for the three components.
private struct BlockCoder {
    var predictors: (Int32, Int32, Int32) = (0, 0, 0)
    /// 64 coefficients in zig-zag order, reused for every block.
    let scratch: UnsafeMutablePointer<Int32>

    /// DCTs, quantises and Huffman-codes one block of `component` (0 = Y, 1 = Cb, 2 = Cr).
    mutating func code(
        _ block: UnsafeMutablePointer<Int32>, divisors: [Int32], component: Int, writer: inout JPEGBitWriter
    ) {
        JPEGForwardDCT.transform(block)
        let zz = scratch
        JPEGTables.zigzag.withUnsafeBufferPointer { order in
            divisors.withUnsafeBufferPointer { q in
                for k in 0..<64 {
                    let natural = order[k]
                    zz[k] = Self.quantize(block[natural], q[natural])
                }
            }
        }
        let dcTable: JPEGHuffmanTable = component == 0 ? .dcLuminance : .dcChrominance
        let acTable: JPEGHuffmanTable = component == 0 ? .acLuminance : .acChrominance

        let dc = zz[0]
        let previous: Int32
        switch component {
        case 0:
            previous = predictors.0
            predictors.0 = dc
        case 1:
            previous = predictors.1
            predictors.1 = dc
        default:
            previous = predictors.2
            predictors.2 = dc
        }
        let diff = dc - previous
        let dcSize = Self.bitLength(diff)
        writer.write(UInt32(dcTable.codes[dcSize]), length: Int(dcTable.lengths[dcSize]))
        writer.write(Self.magnitudeBits(diff, dcSize), length: dcSize)

        var run = 0
        for k in 1..<64 {
            let value = zz[k]
            if value == 0 {
                run += 1
                continue
            }
            while run > 15 {
                writer.write(UInt32(acTable.codes[0xF0]), length: Int(acTable.lengths[0xF0]))
                run -= 16
            }
            let size = Self.bitLength(value)
            let symbol = (run << 4) | size
            writer.write(UInt32(acTable.codes[symbol]), length: Int(acTable.lengths[symbol]))
            writer.write(Self.magnitudeBits(value, size), length: size)
            run = 0
        }
        if run > 0 {
            writer.write(UInt32(acTable.codes[0x00]), length: Int(acTable.lengths[0x00]))
        }
    }

    /// Rounds `value / divisor` to nearest, symmetric around zero (as libjpeg does).
    @inline(__always)
    static func quantize(_ value: Int32, _ divisor: Int32) -> Int32 {
        if value < 0 {
            return -((-value + (divisor >> 1)) / divisor)
        }
        return (value + (divisor >> 1)) / divisor
    }

    /// Number of bits needed for |value| (the JPEG "size category").
    @inline(__always)
    static func bitLength(_ value: Int32) -> Int {
        let magnitude = UInt32(value.magnitude)
        return magnitude == 0 ? 0 : 32 - magnitude.leadingZeroBitCount
    }

    /// The extra bits after a Huffman code: the value itself, or value − 1 for negatives (one's complement).
    @inline(__always)
    static func magnitudeBits(_ value: Int32, _ size: Int) -> UInt32 {
        guard size > 0 else { return 0 }
        let bits = value < 0 ? value - 1 : value
        return UInt32(bitPattern: bits) & ((1 << UInt32(size)) - 1)
    }
}
