import Foundation

/// A small, independent baseline-JPEG decoder used only to check ``JPEGEncoder`` output:
/// Huffman (T.81 Annex F.2.2), dequantisation, a direct float IDCT, nearest chroma upsampling
/// and JFIF YCbCr → RGB. No restart intervals, no progressive mode.
struct BaselineJPEGTestDecoder {
    struct DecodeError: Error, CustomStringConvertible {
        var description: String
    }

    struct Component {
        var id: UInt8
        var h: Int
        var v: Int
        var quantTable: Int
        var dcTable = 0
        var acTable = 0
        var predictor = 0
        var plane: [Double] = []
        var planeWidth = 0
    }

    struct Huffman {
        var maxCode = [Int](repeating: -1, count: 17)
        var valPtr = [Int](repeating: 0, count: 17)
        var minCode = [Int](repeating: 0, count: 17)
        var values: [UInt8] = []

        init() {}

        init(bits: [UInt8], values: [UInt8]) {
            self.values = values
            var code = 0
            var k = 0
            for length in 1...16 {
                let n = Int(bits[length - 1])
                if n > 0 {
                    valPtr[length] = k
                    minCode[length] = code
                    code += n
                    k += n
                    maxCode[length] = code - 1
                }
                code <<= 1
            }
        }
    }

    /// Standard zig-zag order, written out literally (not shared with the encoder).
    static let zigzag: [Int] = [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
        12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
        58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
    ]

    let bytes: [UInt8]
    var position = 0
    var quantTables = [[Int]](repeating: [Int](repeating: 1, count: 64), count: 4)
    var dcTables = [Huffman](repeating: Huffman(), count: 4)
    var acTables = [Huffman](repeating: Huffman(), count: 4)
    var components: [Component] = []
    var width = 0
    var height = 0
    var bitBuffer = 0
    var bitCount = 0

    static func decode(_ bytes: [UInt8]) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        var decoder = BaselineJPEGTestDecoder(bytes: bytes)
        return try decoder.run()
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func fail(_ message: String) -> DecodeError { DecodeError(description: message) }

    private mutating func u8() throws -> Int {
        guard position < bytes.count else { throw fail("unexpected end at \(position)") }
        defer { position += 1 }
        return Int(bytes[position])
    }

    private mutating func u16() throws -> Int { try u8() << 8 | u8() }

    private mutating func run() throws -> (width: Int, height: Int, rgb: [UInt8]) {
        guard try u16() == 0xFFD8 else { throw fail("no SOI") }
        while true {
            guard try u8() == 0xFF else { throw fail("expected marker at \(position - 1)") }
            let marker = try u8()
            let length = try u16()
            let end = position + length - 2
            switch marker {
            case 0xDB:
                while position < end {
                    let pq = try u8()
                    guard pq >> 4 == 0 else { throw fail("16-bit DQT") }
                    var table = [Int](repeating: 0, count: 64)
                    for k in 0..<64 { table[k] = try u8() }
                    quantTables[pq & 15] = table
                }
            case 0xC0:
                guard try u8() == 8 else { throw fail("precision") }
                height = try u16()
                width = try u16()
                let count = try u8()
                for _ in 0..<count {
                    let id = UInt8(try u8())
                    let sampling = try u8()
                    let tq = try u8()
                    components.append(Component(id: id, h: sampling >> 4, v: sampling & 15, quantTable: tq))
                }
            case 0xC4:
                while position < end {
                    let tc = try u8()
                    var bits: [UInt8] = []
                    for _ in 0..<16 { bits.append(UInt8(try u8())) }
                    let total = bits.reduce(0) { $0 + Int($1) }
                    var values: [UInt8] = []
                    for _ in 0..<total { values.append(UInt8(try u8())) }
                    if tc >> 4 == 0 {
                        dcTables[tc & 15] = Huffman(bits: bits, values: values)
                    } else {
                        acTables[tc & 15] = Huffman(bits: bits, values: values)
                    }
                }
            case 0xDA:
                let count = try u8()
                for _ in 0..<count {
                    let id = UInt8(try u8())
                    let tables = try u8()
                    guard let index = components.firstIndex(where: { $0.id == id }) else { throw fail("unknown component") }
                    components[index].dcTable = tables >> 4
                    components[index].acTable = tables & 15
                }
                guard try u8() == 0, try u8() == 63, try u8() == 0 else { throw fail("not baseline spectral selection") }
                try decodeScan()
                return (width, height, try colorConvert())
            case 0xC1...0xCF:
                throw fail("unsupported SOF \(marker)")
            default:
                break
            }
            position = end
        }
    }

    private mutating func bit() throws -> Int {
        if bitCount == 0 {
            guard position < bytes.count else { throw fail("entropy data ran out") }
            let byte = Int(bytes[position])
            position += 1
            if byte == 0xFF {
                guard position < bytes.count, bytes[position] == 0 else { throw fail("marker inside entropy data at \(position)") }
                position += 1
            }
            bitBuffer = byte
            bitCount = 8
        }
        bitCount -= 1
        return (bitBuffer >> bitCount) & 1
    }

    private mutating func receive(_ n: Int) throws -> Int {
        var v = 0
        for _ in 0..<n { v = v << 1 | (try bit()) }
        return v
    }

    private mutating func decodeSymbol(_ table: Huffman) throws -> Int {
        var code = 0
        for length in 1...16 {
            code = code << 1 | (try bit())
            if table.maxCode[length] >= 0, code <= table.maxCode[length], code >= table.minCode[length] {
                return Int(table.values[table.valPtr[length] + code - table.minCode[length]])
            }
        }
        throw fail("bad Huffman code")
    }

    private static func extend(_ v: Int, _ size: Int) -> Int {
        size == 0 ? 0 : (v < 1 << (size - 1) ? v - (1 << size) + 1 : v)
    }

    private mutating func decodeScan() throws {
        let hMax = components.map(\.h).max()!
        let vMax = components.map(\.v).max()!
        let mcusX = (width + 8 * hMax - 1) / (8 * hMax)
        let mcusY = (height + 8 * vMax - 1) / (8 * vMax)
        for i in components.indices {
            components[i].planeWidth = mcusX * components[i].h * 8
            components[i].plane = [Double](repeating: 0, count: components[i].planeWidth * mcusY * components[i].v * 8)
        }
        var coefficients = [Int](repeating: 0, count: 64)
        for my in 0..<mcusY {
            for mx in 0..<mcusX {
                for c in components.indices {
                    for by in 0..<components[c].v {
                        for bx in 0..<components[c].h {
                            for k in 0..<64 { coefficients[k] = 0 }
                            let dcSize = try decodeSymbol(dcTables[components[c].dcTable])
                            components[c].predictor += Self.extend(try receive(dcSize), dcSize)
                            coefficients[0] = components[c].predictor
                            var k = 1
                            while k < 64 {
                                let rs = try decodeSymbol(acTables[components[c].acTable])
                                let run = rs >> 4
                                let size = rs & 15
                                if size == 0 {
                                    if run == 15 {
                                        k += 16
                                        continue
                                    }
                                    break
                                }
                                k += run
                                guard k < 64 else { throw fail("coefficient index overflow") }
                                coefficients[k] = Self.extend(try receive(size), size)
                                k += 1
                            }
                            let q = quantTables[components[c].quantTable]
                            var block = [Double](repeating: 0, count: 64)
                            for k in 0..<64 { block[Self.zigzag[k]] = Double(coefficients[k] * q[k]) }
                            let pixels = Self.inverseDCT(block)
                            let x0 = (mx * components[c].h + bx) * 8
                            let y0 = (my * components[c].v + by) * 8
                            for y in 0..<8 {
                                for x in 0..<8 {
                                    components[c].plane[(y0 + y) * components[c].planeWidth + x0 + x] = pixels[y * 8 + x] + 128
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private static let cosines: [Double] = (0..<64).map { i in
        let x = i / 8, u = i % 8
        return cos(Double(2 * x + 1) * Double(u) * Double.pi / 16)
    }

    private static func inverseDCT(_ f: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: 64)
        for y in 0..<8 {
            for x in 0..<8 {
                var sum = 0.0
                for v in 0..<8 {
                    for u in 0..<8 {
                        let cu = u == 0 ? 1 / 2.0.squareRoot() : 1
                        let cv = v == 0 ? 1 / 2.0.squareRoot() : 1
                        sum += cu * cv * f[v * 8 + u] * cosines[x * 8 + u] * cosines[y * 8 + v]
                    }
                }
                out[y * 8 + x] = sum / 4
            }
        }
        return out
    }

    private func colorConvert() throws -> [UInt8] {
        let hMax = components.map(\.h).max()!
        let vMax = components.map(\.v).max()!
        guard components.count == 3 else { throw DecodeError(description: "expected three components") }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        func sample(_ c: Component, _ x: Int, _ y: Int) -> Double {
            c.plane[(y * c.v / vMax) * c.planeWidth + x * c.h / hMax]
        }
        func clamp(_ v: Double) -> UInt8 { UInt8(min(max(v.rounded(), 0), 255)) }
        for y in 0..<height {
            for x in 0..<width {
                let yv = sample(components[0], x, y)
                let cb = sample(components[1], x, y) - 128
                let cr = sample(components[2], x, y) - 128
                let i = (y * width + x) * 3
                rgb[i] = clamp(yv + 1.402 * cr)
                rgb[i + 1] = clamp(yv - 0.344136 * cb - 0.714136 * cr)
                rgb[i + 2] = clamp(yv + 1.772 * cb)
            }
        }
        return rgb
    }
}
