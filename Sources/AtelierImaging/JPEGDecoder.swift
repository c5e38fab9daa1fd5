import CAtelierJPEG

/// JPEG decoding with libjpeg-turbo (baseline, extended and progressive; grey and YCbCr come out as RGB).
///
/// The C side (Sources/CAtelierJPEG/shim.h) keeps libjpeg's setjmp/longjmp error handling out of Swift and turns
/// its warnings about truncated or corrupt entropy-coded data, which libjpeg would fill with grey, into errors
/// (warnings about metadata are ignored).
enum JPEGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, maxPixels: Int) throws(ImageDecodingError) -> DecodedImage {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
            throw .corrupt(.jpeg, message: "empty input")
        }
        guard let decoder = atelier_jpeg_decoder_create() else { throw .corrupt(.jpeg, message: "out of memory") }
        defer { atelier_jpeg_decoder_destroy(decoder) }
        guard atelier_jpeg_read_header(decoder, base, UInt(bytes.count)) == 0 else {
            throw .corrupt(.jpeg, message: message(decoder))
        }
        let width = Int(decoder.pointee.cinfo.image_width)
        let height = Int(decoder.pointee.cinfo.image_height)
        switch decoder.pointee.cinfo.jpeg_color_space {
        case JCS_CMYK, JCS_YCCK:
            throw .unsupported(.jpeg, reason: "CMYK colour is not supported")
        default:
            break
        }
        try ImageDecoder.checkSize(.jpeg, width: width, height: height, maxPixels: maxPixels)
        let count = width * height * 3
        var ok = false
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            ok = atelier_jpeg_decode_rgb(decoder, out.baseAddress, width * 3) == 0
            // Every row is written on success; on failure the buffer is thrown away with the error.
            initialized = ok ? count : 0
        }
        guard ok else { throw .corrupt(.jpeg, message: message(decoder)) }
        return DecodedImage(format: .jpeg, width: width, height: height, channels: 3, pixels: pixels)!
    }

    private static func message(_ decoder: UnsafeMutablePointer<atelier_jpeg_decoder>) -> String {
        let text = withUnsafeBytes(of: &decoder.pointee.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "libjpeg could not read the image" : text
    }
}
