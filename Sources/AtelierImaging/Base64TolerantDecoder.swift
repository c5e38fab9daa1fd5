import CAtelierBase64

/// A tolerant base64 decoder for whole buffers, decoding in place: the text a provider sent, as received, read
/// with the rules of RFC 4648 loosened the way providers need — whitespace (space, tab, CR, LF, form feed, vertical
/// tab) is ignored, the standard (`+/`) and URL-safe (`-_`) alphabets are both accepted, `=` padding is optional but
/// must be complete when present, and nothing but whitespace may follow it.
///
/// Its strict twin, ``Base64SpanDecoder``, takes text piece by piece as it arrives (Gemini's streamed answers) and
/// refuses anything but the standard alphabet, handing such text back to this one.
public enum Base64TolerantDecoder {
    private static let whitespace: UInt8 = 0xFE
    private static let padding: UInt8 = 0xFD
    private static let invalid: UInt8 = 0xFF

    /// Maps each input byte to its sextet (0...63) or one of the markers above.
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: invalid, count: 256)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        t[Int(UInt8(ascii: "+"))] = 62
        t[Int(UInt8(ascii: "-"))] = 62
        t[Int(UInt8(ascii: "/"))] = 63
        t[Int(UInt8(ascii: "_"))] = 63
        t[Int(UInt8(ascii: "="))] = padding
        for c: UInt8 in [0x20, 0x09, 0x0A, 0x0D, 0x0C, 0x0B] { t[Int(c)] = whitespace }
        return t
    }()

    /// Decodes the base64 text in `buffer` into the same memory, from its start, and returns the number of bytes
    /// decoded (they occupy `buffer[0..<n]`; the rest of the buffer is left in an unspecified state).
    ///
    /// The input rules are the type's. Whole 32-character runs of the standard alphabet are decoded with AVX2 where the
    /// CPU has it (about ten times the speed of a table-driven loop); everything else goes through the table.
    ///
    /// - Parameters:
    ///   - blockCharacters: how much input is decoded between two calls of `decodedBlock`.
    ///   - decodedBlock: called with each stretch of newly decoded bytes, in order, while they are still in the
    ///     cache (to hash them in the same pass). The memory it sees is not written again.
    /// - Throws: ``Base64DecodingError`` with offsets counted from the start of `buffer`.
    public static func decodeInPlace(
        _ buffer: UnsafeMutableBufferPointer<UInt8>, blockCharacters: Int = 256 * 1024,
        decodedBlock: (UnsafeBufferPointer<UInt8>) -> Void = { _ in }
    ) throws(Base64DecodingError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let n = buffer.count
        let step = max(blockCharacters, 64)
        return try table.withUnsafeBufferPointer { (table) throws(Base64DecodingError) -> Int in
            var i = 0
            var o = 0
            var emitted = 0
            var acc: UInt32 = 0
            var count = 0
            var paddingSeen = 0
            var paddingNeeded = 0
            while i < n {
                let blockEnd = min(n, i + step)
                while i < blockEnd {
                    if count == 0 && paddingSeen == 0 && blockEnd - i >= 32 {
                        let k = catelier_base64_decode_blocks(base + i, blockEnd - i, base + o)
                        i += k
                        o += k / 4 * 3
                        if i == blockEnd { break }
                    }
                    // The table: at least 64 characters (so that a block the vector loop refused is not retried at
                    // every byte), then on to the next quantum boundary.
                    let stop = min(blockEnd, i + 64)
                    while i < blockEnd && (i < stop || count != 0) {
                        let byte = base[i]
                        let value = table[Int(byte)]
                        if value < 64 {
                            if paddingSeen > 0 { throw .invalidPadding(offset: i) }
                            acc = acc << 6 | UInt32(value)
                            count += 1
                            if count == 4 {
                                base[o] = UInt8(truncatingIfNeeded: acc >> 16)
                                base[o + 1] = UInt8(truncatingIfNeeded: acc >> 8)
                                base[o + 2] = UInt8(truncatingIfNeeded: acc)
                                o += 3
                                acc = 0
                                count = 0
                            }
                        } else if value == whitespace {
                            // skipped
                        } else if value == padding {
                            if paddingSeen == 0 {
                                guard count >= 2 else { throw .invalidPadding(offset: i) }
                                paddingNeeded = 4 - count
                                if count == 2 {
                                    base[o] = UInt8(truncatingIfNeeded: acc >> 4)
                                    o += 1
                                } else {
                                    base[o] = UInt8(truncatingIfNeeded: acc >> 10)
                                    base[o + 1] = UInt8(truncatingIfNeeded: acc >> 2)
                                    o += 2
                                }
                                acc = 0
                                count = 0
                            } else if paddingSeen >= paddingNeeded {
                                throw .invalidPadding(offset: i)
                            }
                            paddingSeen += 1
                        } else {
                            throw .invalidCharacter(byte: byte, offset: i)
                        }
                        i += 1
                    }
                }
                if o > emitted {
                    decodedBlock(UnsafeBufferPointer(start: base + emitted, count: o - emitted))
                    emitted = o
                }
            }
            if paddingSeen > 0 {
                guard paddingSeen == paddingNeeded else { throw .truncatedInput }
            } else {
                switch count {
                case 0: break
                case 2:
                    base[o] = UInt8(truncatingIfNeeded: acc >> 4)
                    o += 1
                case 3:
                    base[o] = UInt8(truncatingIfNeeded: acc >> 10)
                    base[o + 1] = UInt8(truncatingIfNeeded: acc >> 2)
                    o += 2
                default: throw .truncatedInput
                }
            }
            if o > emitted { decodedBlock(UnsafeBufferPointer(start: base + emitted, count: o - emitted)) }
            return o
        }
    }
}
