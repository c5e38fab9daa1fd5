import CAtelierPNG

/// PNG decoding with libpng's simplified API (`png_image_*`): any bit depth, palette, grey or colour input comes
/// out as 8-bit RGB, or RGBA when the file has alpha or a transparent palette entry.
enum PNGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, maxPixels: Int) throws(ImageDecodingError) -> DecodedImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        guard png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) != 0 else {
            throw .corrupt(.png, message: message(image))
        }
        let width = Int(image.width)
        let height = Int(image.height)
        try ImageDecoder.checkSize(.png, width: width, height: height, maxPixels: maxPixels)
        let hasAlpha = image.format & png_uint_32(PNG_FORMAT_FLAG_ALPHA) != 0
        let channels = hasAlpha ? 4 : 3
        image.format = hasAlpha ? ATELIER_PNG_FORMAT_RGBA : ATELIER_PNG_FORMAT_RGB
        let count = width * height * channels
        var ok = false
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            ok = png_image_finish_read(&image, nil, out.baseAddress, png_int_32(width * channels), nil) != 0
            // libpng writes every byte on success; on failure the buffer is thrown away with the error.
            initialized = ok ? count : 0
        }
        guard ok else { throw .corrupt(.png, message: message(image)) }
        return DecodedImage(format: .png, width: width, height: height, channels: channels, pixels: pixels)!
    }

    /// libpng's message (a fixed C array in png_image).
    private static func message(_ image: png_image) -> String {
        var m = image.message
        let text = withUnsafeBytes(of: &m) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "libpng could not read the image" : text
    }
}
