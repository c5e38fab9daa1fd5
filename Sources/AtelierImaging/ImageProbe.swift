import Foundation

/// Identifies an image's format and pixel size from its first bytes, without decoding it.
///
/// Every read is bounds-checked: truncated, garbage or hostile input yields `nil`,
/// never a crash.
public enum ImageProbe {
    /// How many bytes ``probe(fileAt:)`` reads from the start of a file.
    public static let fileHeaderLimit = 64 * 1024

    /// How many leading bytes ``probe(_:)`` examines when the collection is not contiguous.
    public static let collectionLimit = 1 << 20

    /// Probes an in-memory image (`[UInt8]`, `Data`, `ArraySlice`, …).
    ///
    /// JPEG files are walked marker by marker up to the frame header, so very large
    /// metadata segments in front of it are followed as far as the bytes go.
    /// - Returns: The format and size, or nil if the bytes are not a recognised, well-formed header.
    public static func probe(_ bytes: some Collection<UInt8>) -> ImageInfo? {
        if let result = bytes.withContiguousStorageIfAvailable({ probe(buffer: $0) }) {
            return result
        }
        let copy = Array(bytes.prefix(collectionLimit))
        return copy.withUnsafeBufferPointer { probe(buffer: $0) }
    }

    /// Probes the file at `path`, reading at most its first ``fileHeaderLimit`` bytes.
    ///
    /// - Returns: nil if the file cannot be read or is not a recognised image.
    public static func probe(fileAt path: String) -> ImageInfo? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: fileHeaderLimit) else { return nil }
        return probe(data)
    }

    // MARK: - Formats

    private static func probe(buffer: UnsafeBufferPointer<UInt8>) -> ImageInfo? {
        let r = ByteReader(buffer)
        guard let b0 = r.u8(0), let b1 = r.u8(1) else { return nil }
        switch (b0, b1) {
        case (0x89, 0x50): return png(r)
        case (0xFF, 0xD8): return jpeg(r)
        case (0x52, 0x49): return webp(r)  // "RI"FF
        case (0x47, 0x49): return gif(r)  // "GI"F
        default: return nil
        }
    }

    private static func png(_ r: ByteReader) -> ImageInfo? {
        guard r.matches(PNGEncoder.signature, at: 0),
            r.u32be(8) == 13,
            r.matches(Array("IHDR".utf8), at: 12),
            let width = r.u32be(16), let height = r.u32be(20),
            width > 0, height > 0, width <= UInt32(Int32.max), height <= UInt32(Int32.max)
        else { return nil }
        return ImageInfo(format: .png, width: Int(width), height: Int(height))
    }

    private static func gif(_ r: ByteReader) -> ImageInfo? {
        guard r.matches(Array("GIF87a".utf8), at: 0) || r.matches(Array("GIF89a".utf8), at: 0),
            let width = r.u16le(6), let height = r.u16le(8), width > 0, height > 0
        else { return nil }
        return ImageInfo(format: .gif, width: Int(width), height: Int(height))
    }

    private static func webp(_ r: ByteReader) -> ImageInfo? {
        guard r.matches(Array("RIFF".utf8), at: 0), r.matches(Array("WEBP".utf8), at: 8),
            let c0 = r.u8(12), let c1 = r.u8(13), let c2 = r.u8(14), let c3 = r.u8(15)
        else { return nil }
        let width: Int
        let height: Int
        switch (c0, c1, c2, c3) {
        case (0x56, 0x50, 0x38, 0x20):  // "VP8 ": lossy; key frame start code then 14-bit sizes
            guard r.u8(23) == 0x9D, r.u8(24) == 0x01, r.u8(25) == 0x2A,
                let w = r.u16le(26), let h = r.u16le(28)
            else { return nil }
            width = Int(w & 0x3FFF)
            height = Int(h & 0x3FFF)
        case (0x56, 0x50, 0x38, 0x4C):  // "VP8L": lossless; signature 0x2F then 14+14 bits (minus one)
            guard r.u8(20) == 0x2F, let bits = r.u32le(21) else { return nil }
            width = Int(bits & 0x3FFF) + 1
            height = Int((bits >> 14) & 0x3FFF) + 1
        case (0x56, 0x50, 0x38, 0x58):  // "VP8X": extended; 24-bit canvas sizes (minus one)
            guard let w = r.u24le(24), let h = r.u24le(27) else { return nil }
            width = Int(w) + 1
            height = Int(h) + 1
        default:
            return nil
        }
        guard width > 0, height > 0 else { return nil }
        return ImageInfo(format: .webp, width: width, height: height)
    }

    private static func jpeg(_ r: ByteReader) -> ImageInfo? {
        var offset = 2
        while true {
            // Each segment starts with 0xFF; any number of 0xFF fill bytes may precede the marker code.
            guard r.u8(offset) == 0xFF else { return nil }
            while r.u8(offset) == 0xFF { offset += 1 }
            guard let marker = r.u8(offset) else { return nil }
            offset += 1
            switch marker {
            case 0x01, 0xD0...0xD7:
                continue  // standalone markers without a length
            case 0xD8, 0xD9, 0xDA, 0x00:
                return nil  // SOI again, EOI or SOS before any frame header, or a stuffed zero: malformed
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                // SOFn: length, precision, height, width.
                guard let length = r.u16be(offset), length >= 8,
                    let height = r.u16be(offset + 3), let width = r.u16be(offset + 5),
                    width > 0, height > 0
                else { return nil }
                return ImageInfo(format: .jpeg, width: Int(width), height: Int(height))
            default:
                guard let length = r.u16be(offset), length >= 2 else { return nil }
                offset += Int(length)
            }
        }
    }
}

/// Bounds-checked big/little-endian reads over a byte buffer; every accessor returns nil past the end.
private struct ByteReader {
    let bytes: UnsafeBufferPointer<UInt8>

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @inline(__always)
    func u8(_ i: Int) -> UInt8? {
        i >= 0 && i < bytes.count ? bytes[i] : nil
    }

    func u16be(_ i: Int) -> UInt16? {
        guard let a = u8(i), let b = u8(i + 1) else { return nil }
        return UInt16(a) << 8 | UInt16(b)
    }

    func u16le(_ i: Int) -> UInt16? {
        guard let a = u8(i), let b = u8(i + 1) else { return nil }
        return UInt16(b) << 8 | UInt16(a)
    }

    func u24le(_ i: Int) -> UInt32? {
        guard let a = u8(i), let b = u8(i + 1), let c = u8(i + 2) else { return nil }
        return UInt32(c) << 16 | UInt32(b) << 8 | UInt32(a)
    }

    func u32be(_ i: Int) -> UInt32? {
        guard let a = u16be(i), let b = u16be(i + 2) else { return nil }
        return UInt32(a) << 16 | UInt32(b)
    }

    func u32le(_ i: Int) -> UInt32? {
        guard let a = u16le(i), let b = u16le(i + 2) else { return nil }
        return UInt32(b) << 16 | UInt32(a)
    }

    func matches(_ pattern: [UInt8], at offset: Int) -> Bool {
        guard offset >= 0, offset <= bytes.count - pattern.count else { return false }
        for (k, byte) in pattern.enumerated() where bytes[offset + k] != byte { return false }
        return true
    }
}
