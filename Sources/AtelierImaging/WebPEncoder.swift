import CAtelierWebP

/// WebP encoding with libwebp (single-threaded, fixed settings, so the same pixels give the same bytes with a
/// given libwebp version).
public enum WebPEncoder {
    /// How the pixels are compressed.
    public enum Compression: Sendable, Equatable {
        /// Exact pixels (VP8L). `effort` 0...9 is libwebp's lossless preset: higher is smaller and slower.
        case lossless(effort: Int)
        /// VP8 at `quality` 0...100 (clamped).
        case lossy(quality: Int)
    }

    /// The largest width or height WebP can hold.
    public static let maxDimension = 16383

    /// Encodes `image` as a still WebP file.
    ///
    /// - Throws: ``ImageEncodingError/invalidDimensions(width:height:)`` when a side exceeds ``maxDimension``;
    ///   ``ImageEncodingError/encoderFailed(_:)`` when libwebp reports an error.
    public static func encode(_ image: RGBImage, compression: Compression = .lossless(effort: 0)) throws(ImageEncodingError) -> [UInt8] {
        guard image.width <= maxDimension, image.height <= maxDimension else {
            throw .invalidDimensions(width: image.width, height: image.height)
        }
        var config = WebPConfig()
        guard WebPConfigInit(&config) != 0 else { throw .encoderFailed("libwebp version mismatch") }
        switch compression {
        case .lossless(let effort):
            guard WebPConfigLosslessPreset(&config, Int32(min(max(effort, 0), 9))) != 0 else {
                throw .encoderFailed("invalid lossless preset")
            }
        case .lossy(let quality):
            config.quality = Float(min(max(quality, 0), 100))
        }
        config.thread_level = 0
        guard WebPValidateConfig(&config) != 0 else { throw .encoderFailed("invalid configuration") }

        var picture = WebPPicture()
        guard WebPPictureInit(&picture) != 0 else { throw .encoderFailed("libwebp version mismatch") }
        defer { WebPPictureFree(&picture) }
        picture.use_argb = 1
        picture.width = Int32(image.width)
        picture.height = Int32(image.height)
        let imported = image.pixels.withUnsafeBufferPointer {
            WebPPictureImportRGB(&picture, $0.baseAddress, Int32(image.bytesPerRow))
        }
        guard imported != 0 else { throw .encoderFailed("out of memory") }

        var writer = WebPMemoryWriter()
        WebPMemoryWriterInit(&writer)
        defer { WebPMemoryWriterClear(&writer) }
        let encoded = withUnsafeMutablePointer(to: &writer) { w in
            picture.writer = WebPMemoryWrite
            picture.custom_ptr = UnsafeMutableRawPointer(w)
            return WebPEncode(&config, &picture)
        }
        guard encoded != 0, let mem = writer.mem else {
            throw .encoderFailed("libwebp error \(picture.error_code.rawValue)")
        }
        return Array(UnsafeBufferPointer(start: mem, count: writer.size))
    }
}
