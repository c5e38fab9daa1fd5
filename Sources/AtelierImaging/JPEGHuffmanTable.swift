/// An encoder-side Huffman table: the code and code length for every symbol,
/// derived from a (bits, values) specification as in ITU-T T.81 Annex C.
struct JPEGHuffmanTable: Sendable {
    /// Number of codes of each length 1...16, as written in the DHT segment.
    let bits: [UInt8]
    /// Symbols in order of increasing code length, as written in the DHT segment.
    let values: [UInt8]
    /// Code for each symbol (index = symbol value).
    let codes: [UInt16]
    /// Code length for each symbol; 0 for symbols without a code.
    let lengths: [UInt8]

    init(bits: [UInt8], values: [UInt8]) {
        precondition(bits.count == 16)
        self.bits = bits
        self.values = values
        var codes = [UInt16](repeating: 0, count: 256)
        var lengths = [UInt8](repeating: 0, count: 256)
        var code: UInt16 = 0
        var k = 0
        for length in 1...16 {
            for _ in 0..<Int(bits[length - 1]) {
                let symbol = Int(values[k])
                codes[symbol] = code
                lengths[symbol] = UInt8(length)
                code &+= 1
                k += 1
            }
            code <<= 1
        }
        self.codes = codes
        self.lengths = lengths
    }

    static let dcLuminance = JPEGHuffmanTable(bits: JPEGTables.dcLuminanceBits, values: JPEGTables.dcLuminanceValues)
    static let acLuminance = JPEGHuffmanTable(bits: JPEGTables.acLuminanceBits, values: JPEGTables.acLuminanceValues)
    static let dcChrominance = JPEGHuffmanTable(bits: JPEGTables.dcChrominanceBits, values: JPEGTables.dcChrominanceValues)
    static let acChrominance = JPEGHuffmanTable(bits: JPEGTables.acChrominanceBits, values: JPEGTables.acChrominanceValues)
}
