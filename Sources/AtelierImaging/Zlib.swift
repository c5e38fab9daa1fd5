import CAtelierZlib

/// Thin wrappers over the system zlib used by the encoders.
enum Zlib {
    /// Compresses `input` into a zlib stream (RFC 1950) at the given level.
    static func deflate(_ input: UnsafeBufferPointer<UInt8>, level: Int32 = 6) throws(ImageEncodingError) -> [UInt8] {
        let bound = Int(compressBound(uLong(input.count)))
        var status: Int32 = Z_OK
        let output = [UInt8](unsafeUninitializedCapacity: bound) { buffer, initialized in
            var destinationLength = uLongf(bound)
            status = compress2(buffer.baseAddress, &destinationLength, input.baseAddress, uLong(input.count), level)
            initialized = status == Z_OK ? Int(destinationLength) : 0
        }
        guard status == Z_OK else { throw .compressionFailed(code: status) }
        return output
    }

    /// CRC-32 (ISO 3309 / PNG) of `bytes`, continuing from `crc` (start with 0).
    static func crc32(_ bytes: UnsafeBufferPointer<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return UInt32(truncatingIfNeeded: CAtelierZlib.crc32(uLong(crc), base, uInt(bytes.count)))
    }
}

extension Zlib {
    /// Wraps `input` in a zlib stream made of uncompressed ("stored") deflate blocks.
    ///
    /// Used as an allocation-free fallback should `compress2` ever fail, so encoders can
    /// always produce a valid file.
    static func stored(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        out.reserveCapacity(input.count + input.count / 65535 * 5 + 16)
        var offset = 0
        repeat {
            let length = min(65535, input.count - offset)
            let final: UInt8 = offset + length == input.count ? 1 : 0
            out.append(final)
            out.append(UInt8(length & 0xFF))
            out.append(UInt8(length >> 8))
            out.append(UInt8(~length & 0xFF))
            out.append(UInt8((~length >> 8) & 0xFF))
            if length > 0 { out.append(contentsOf: UnsafeBufferPointer(rebasing: input[offset..<(offset + length)])) }
            offset += length
        } while offset < input.count
        let adler = UInt32(truncatingIfNeeded: adler32(1, input.baseAddress, uInt(input.count)))
        out.append(UInt8(adler >> 24))
        out.append(UInt8((adler >> 16) & 0xFF))
        out.append(UInt8((adler >> 8) & 0xFF))
        out.append(UInt8(adler & 0xFF))
        return out
    }
}
