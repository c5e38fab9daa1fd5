/// Encodes 8-bit RGB and RGBA rasters as PNG files.
///
/// Output layout: signature, `IHDR`, optional text chunks, one or more `IDAT` chunks
/// (zlib level 6, adaptive per-row filtering), `IEND`. Encoding is deterministic:
/// identical input gives byte-identical output with the same zlib library.
public enum PNGEncoder {
    /// The eight-byte PNG file signature.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Maximum payload of one `IDAT` chunk; larger streams are split across several chunks.
    public static let maxIDATChunkLength = 1 << 16

    /// Encodes an RGB image.
    ///
    /// - Parameters:
    ///   - image: The pixels to encode.
    ///   - text: Metadata as (keyword, text) pairs, e.g. `("Software", "Atelier local renderer")`.
    ///     Pairs whose text is Latin-1 become `tEXt` chunks, others `iTXt` (UTF-8). Keywords are
    ///     reduced to the PNG-legal Latin-1 subset and cut to 79 bytes; pairs with an empty
    ///     keyword are skipped.
    /// - Returns: The complete PNG file.
    public static func encode(_ image: RGBImage, text: [(String, String)] = []) -> [UInt8] {
        image.pixels.withUnsafeBufferPointer { pixels in
            encode(pixels: pixels, width: image.width, height: image.height, channels: 3, text: text)
        }
    }

    /// Encodes an RGBA buffer (four bytes per pixel, row-major, straight alpha).
    ///
    /// - Throws: ``ImageEncodingError/invalidDimensions(width:height:)`` for non-positive sizes,
    ///   ``ImageEncodingError/bufferSizeMismatch(expected:actual:)`` if `rgba.count != width × height × 4`.
    public static func encode(
        rgba: [UInt8], width: Int, height: Int, text: [(String, String)] = []
    ) throws(ImageEncodingError) -> [UInt8] {
        guard width >= 1, height >= 1, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw .invalidDimensions(width: width, height: height)
        }
        let (area, o1) = width.multipliedReportingOverflow(by: height)
        let (expected, o2) = area.multipliedReportingOverflow(by: 4)
        guard !o1, !o2 else { throw .invalidDimensions(width: width, height: height) }
        guard rgba.count == expected else { throw .bufferSizeMismatch(expected: expected, actual: rgba.count) }
        return rgba.withUnsafeBufferPointer { pixels in
            encode(pixels: pixels, width: width, height: height, channels: 4, text: text)
        }
    }

    // MARK: - Internals

    private static func encode(
        pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels: Int, text: [(String, String)]
    ) -> [UInt8] {
        let rowBytes = width * channels
        let filteredCount = (rowBytes + 1) * height
        let filtered = [UInt8](unsafeUninitializedCapacity: filteredCount) { buffer, initialized in
            PNGRowFilter.filterImage(
                pixels: pixels, rowBytes: rowBytes, rows: height, bytesPerPixel: channels, into: buffer)
            initialized = filteredCount
        }
        let compressed = filtered.withUnsafeBufferPointer { buffer in
            (try? Zlib.deflate(buffer, level: 6)) ?? Zlib.stored(buffer)
        }

        var out: [UInt8] = []
        out.reserveCapacity(compressed.count + compressed.count / maxIDATChunkLength * 12 + 256)
        out.append(contentsOf: signature)

        var header: [UInt8] = []
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header.append(8)  // bit depth
        header.append(channels == 4 ? 6 : 2)  // colour type: truecolour (+ alpha)
        header.append(0)  // compression method
        header.append(0)  // filter method
        header.append(0)  // interlace: none
        appendChunk(type: "IHDR", data: header, to: &out)

        for (keyword, value) in text {
            if let chunk = textChunk(keyword: keyword, text: value) {
                appendChunk(type: chunk.type, data: chunk.data, to: &out)
            }
        }

        compressed.withUnsafeBufferPointer { buffer in
            var offset = 0
            repeat {
                let length = min(maxIDATChunkLength, buffer.count - offset)
                appendChunk(type: "IDAT", data: UnsafeBufferPointer(rebasing: buffer[offset..<(offset + length)]), to: &out)
                offset += length
            } while offset < buffer.count
        }
        appendChunk(type: "IEND", data: [], to: &out)
        return out
    }

    /// Builds a `tEXt` (Latin-1) or `iTXt` (UTF-8) chunk payload, or nil if the keyword is unusable.
    static func textChunk(keyword: String, text: String) -> (type: String, data: [UInt8])? {
        // Keyword: Latin-1 printable characters, no leading/trailing/double spaces, 1...79 bytes.
        var key: [UInt8] = []
        for scalar in keyword.unicodeScalars {
            let v = scalar.value
            guard (v >= 33 && v <= 126) || (v >= 161 && v <= 255) || v == 32 else { continue }
            if v == 32 && (key.isEmpty || key.last == 32) { continue }
            key.append(UInt8(v))
        }
        if key.count > 79 { key.removeLast(key.count - 79) }
        while key.last == 32 { key.removeLast() }
        guard !key.isEmpty else { return nil }

        let scalars = text.unicodeScalars.filter { $0.value != 0 }
        if scalars.allSatisfy({ $0.value <= 255 }) {
            var data = key
            data.append(0)
            data.append(contentsOf: scalars.map { UInt8($0.value) })
            return ("tEXt", data)
        }
        var data = key
        data.append(contentsOf: [0, 0, 0])  // separator, compression flag, compression method
        data.append(0)  // empty language tag
        data.append(0)  // empty translated keyword
        data.append(contentsOf: String(scalars).utf8)
        return ("iTXt", data)
    }

    private static func appendChunk(type: String, data: [UInt8], to out: inout [UInt8]) {
        data.withUnsafeBufferPointer { appendChunk(type: type, data: $0, to: &out) }
    }

    private static func appendChunk(type: String, data: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        out.appendBigEndian(UInt32(data.count))
        let crcStart = out.count
        out.append(contentsOf: typeBytes)
        out.append(contentsOf: data)
        let crc = out.withUnsafeBufferPointer { Zlib.crc32(UnsafeBufferPointer(rebasing: $0[crcStart...])) }
        out.appendBigEndian(crc)
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` as four big-endian bytes.
    @inline(__always)
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(value >> 24))
        append(UInt8((value >> 16) & 0xFF))
        append(UInt8((value >> 8) & 0xFF))
        append(UInt8(value & 0xFF))
    }

    /// Appends `value` as two big-endian bytes.
    @inline(__always)
    mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(value & 0xFF))
    }
}
