import CAtelierBase64

/// A strict, incremental base64 decoder for one long string that arrives in pieces (a JSON string value read from
/// the network), decoding into ``AlignedBytes`` while the text is still in the cache. Whole 32-character runs go
/// through the AVX2 block decoder where the CPU has it.
///
/// Strict on purpose: only the standard alphabet (`A–Z a–z 0–9 + /`) and final `=` padding are taken. Anything else
/// — whitespace, the URL-safe alphabet, a backslash — makes ``feed(_:)`` stop and report where, so the caller can
/// hand the text to a tolerant decoder instead; because every whole quantum of such text maps to exactly one group
/// of three bytes, the text seen so far is given back exactly by ``restoredText()``.
///
/// A copy shares ``output`` with the original: keep one.
public struct Base64SpanDecoder {
    /// The decoded bytes.
    public let output: AlignedBytes
    /// Characters of the current incomplete quantum, then any `=` padding (at most 4 + 2).
    private var tail: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
    private var tailCount = 0
    /// `=` seen; after the first, only `=` may follow (up to ``paddingNeeded``).
    private var paddingSeen = 0
    private var paddingNeeded = 0
    /// Bytes of ``output`` that come from whole quanta (the rest, 1 or 2, from a padded last quantum).
    private var wholeBytes = 0
    /// Characters taken so far.
    public private(set) var characters = 0

    /// A decoder writing into new memory sized for about `expectedCharacters` of text.
    public init(expectedCharacters: Int) {
        output = AlignedBytes(capacity: expectedCharacters / 4 * 3 + 3)
    }

    /// Decodes as much of `piece` as it can. Returns nil when all of it was taken, or the offset of the first byte it
    /// refuses (a byte outside the standard alphabet, or anything after padding but more padding); the bytes before
    /// that offset were taken. After a refusal, feed nothing more.
    public mutating func feed(_ piece: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = piece.baseAddress else { return nil }
        let n = piece.count
        var i = 0
        output.reserve(n / 4 * 3 + 3)
        // Complete a quantum left over from the previous piece, byte by byte.
        while i < n && tailCount > 0 && paddingSeen == 0 {
            if !take(base[i]) { return i }
            i += 1
        }
        if paddingSeen == 0 && tailCount == 0 && n - i >= 32 {
            let k = catelier_base64_decode_blocks(base + i, n - i, output.end)
            i += k
            output.count += k / 4 * 3
            wholeBytes = output.count
            characters += k
        }
        // The rest (fewer than 32 characters, or a block holding padding or a byte this decoder refuses).
        while i < n {
            if !take(base[i]) { return i }
            i += 1
        }
        return nil
    }

    /// Takes one character; false when it is refused.
    private mutating func take(_ c: UInt8) -> Bool {
        let v = Self.table[Int(c)]
        if v < 64 {
            if paddingSeen > 0 { return false }
            setTail(tailCount, c)
            tailCount += 1
            if tailCount == 4 {
                let q =
                    UInt32(Self.table[Int(tail.0)]) << 18 | UInt32(Self.table[Int(tail.1)]) << 12 | UInt32(Self.table[Int(tail.2)]) << 6
                    | UInt32(v)
                let e = output.end
                e[0] = UInt8(truncatingIfNeeded: q >> 16)
                e[1] = UInt8(truncatingIfNeeded: q >> 8)
                e[2] = UInt8(truncatingIfNeeded: q)
                output.count += 3
                wholeBytes = output.count
                tailCount = 0
            }
            characters += 1
            return true
        }
        guard c == 0x3D else { return false }  // "="
        if paddingSeen == 0 {
            // Padding may start only after two or three characters of a quantum.
            guard tailCount == 2 || tailCount == 3 else { return false }
            paddingNeeded = 4 - tailCount
        } else if paddingSeen >= paddingNeeded {
            return false
        }
        paddingSeen += 1
        characters += 1
        return true
    }

    /// Ends the text. True when it was complete base64 (its last bytes are then in ``output``); false when it stopped
    /// after a lone character of a quantum or inside its padding (the text is then not base64 at all).
    public mutating func finish() -> Bool {
        if paddingSeen > 0 && paddingSeen != paddingNeeded { return false }
        switch tailCount {
        case 0:
            return true
        case 2, 3:
            let q =
                UInt32(Self.table[Int(tail.0)]) << 18 | UInt32(Self.table[Int(tail.1)]) << 12
                | (tailCount == 3 ? UInt32(Self.table[Int(tail.2)]) << 6 : 0)
            output.reserve(2)
            let e = output.end
            e[0] = UInt8(truncatingIfNeeded: q >> 16)
            if tailCount == 3 { e[1] = UInt8(truncatingIfNeeded: q >> 8) }
            output.count += tailCount - 1
            return true
        default:
            return false
        }
    }

    /// The text taken so far, exactly as it came: whole quanta encoded again (each maps to one group of three bytes
    /// and back), then the characters of an incomplete last quantum and its padding as they were.
    public func restoredText() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(wholeBytes / 3 * 4 + 6)
        let b = output.base
        var i = 0
        while i + 3 <= wholeBytes {
            let q = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            out.append(Self.alphabet[Int(q >> 18 & 63)])
            out.append(Self.alphabet[Int(q >> 12 & 63)])
            out.append(Self.alphabet[Int(q >> 6 & 63)])
            out.append(Self.alphabet[Int(q & 63)])
            i += 3
        }
        for k in 0..<tailCount { out.append(tailByte(k)) }
        for _ in 0..<paddingSeen { out.append(0x3D) }
        return out
    }

    private mutating func setTail(_ k: Int, _ c: UInt8) {
        switch k {
        case 0: tail.0 = c
        case 1: tail.1 = c
        case 2: tail.2 = c
        default: tail.3 = c
        }
    }

    private func tailByte(_ k: Int) -> UInt8 {
        switch k {
        case 0: tail.0
        case 1: tail.1
        case 2: tail.2
        default: tail.3
        }
    }

    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Sextet of each byte of the standard alphabet; 255 for every other byte.
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: 255, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()
}
