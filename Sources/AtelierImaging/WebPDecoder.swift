import CAtelierWebP

/// WebP decoding with libwebp's advanced API (lossy, lossless and extended still images; animations are refused).
enum WebPDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, maxPixels: Int) throws(ImageDecodingError) -> DecodedImage {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
            throw .corrupt(.webp, message: "empty input")
        }
        var config = WebPDecoderConfig()
        guard WebPInitDecoderConfig(&config) != 0 else { throw .corrupt(.webp, message: "libwebp version mismatch") }
        let status = WebPGetFeatures(base, bytes.count, &config.input)
        guard status == VP8_STATUS_OK else { throw .corrupt(.webp, message: describe(status)) }
        guard config.input.has_animation == 0 else { throw .unsupported(.webp, reason: "animated WebP is not supported") }
        let width = Int(config.input.width)
        let height = Int(config.input.height)
        try ImageDecoder.checkSize(.webp, width: width, height: height, maxPixels: maxPixels)
        let channels = config.input.has_alpha != 0 ? 4 : 3
        let count = width * height * channels
        var decodeStatus = VP8_STATUS_OK
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            config.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB
            config.output.is_external_memory = 1
            config.output.u.RGBA.rgba = out.baseAddress
            config.output.u.RGBA.stride = Int32(width * channels)
            config.output.u.RGBA.size = count
            decodeStatus = WebPDecode(base, bytes.count, &config)
            // Every row is written on success; on failure the buffer is thrown away with the error.
            initialized = decodeStatus == VP8_STATUS_OK ? count : 0
        }
        WebPFreeDecBuffer(&config.output)
        guard decodeStatus == VP8_STATUS_OK else { throw .corrupt(.webp, message: describe(decodeStatus)) }
        return DecodedImage(format: .webp, width: width, height: height, channels: channels, pixels: pixels)!
    }

    private static func describe(_ status: VP8StatusCode) -> String {
        switch status {
        case VP8_STATUS_OUT_OF_MEMORY: "out of memory"
        case VP8_STATUS_INVALID_PARAM: "invalid parameter"
        case VP8_STATUS_BITSTREAM_ERROR: "bitstream error"
        case VP8_STATUS_UNSUPPORTED_FEATURE: "unsupported feature"
        case VP8_STATUS_NOT_ENOUGH_DATA: "not enough data (truncated)"
        default: "libwebp status \(status.rawValue)"
        }
    }
}
