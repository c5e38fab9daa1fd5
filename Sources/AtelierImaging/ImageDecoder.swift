import Foundation

/// Decodes PNG, JPEG and WebP bytes into pixels with libpng, libjpeg-turbo and libwebp.
///
/// The format is recognised from the first bytes (``ImageProbe``'s signatures), the declared size is checked
/// against `maxPixels` before any pixel memory is allocated, and every failure of the libraries — truncated,
/// corrupt or hostile data — comes back as an ``ImageDecodingError``; no input makes it crash.
///
/// Decoding is CPU-bound and takes milliseconds for large images: call it off Swift's cooperative pool
/// (a NIOThreadPool or another dedicated thread), like the other blocking work in the daemon.
public enum ImageDecoder {
    /// The default largest image decoded: 64 megapixels (256 MiB as RGBA).
    public static let defaultMaxPixels = 64 * 1024 * 1024

    /// Decodes an in-memory PNG, JPEG or WebP image.
    ///
    /// - Parameter maxPixels: Images whose header declares more pixels fail with ``ImageDecodingError/tooLarge(_:width:height:maxPixels:)``.
    /// - Returns: RGB pixels, or RGBA when the image has transparency.
    public static func decode(_ bytes: [UInt8], maxPixels: Int = defaultMaxPixels) throws(ImageDecodingError) -> DecodedImage {
        let result: Result<DecodedImage, ImageDecodingError> = bytes.withUnsafeBytes { decode(buffer: $0, maxPixels: maxPixels) }
        return try result.get()
    }

    /// Decodes an in-memory PNG, JPEG or WebP image held in `Data`.
    ///
    /// - Parameter maxPixels: Images whose header declares more pixels fail with ``ImageDecodingError/tooLarge(_:width:height:maxPixels:)``.
    /// - Returns: RGB pixels, or RGBA when the image has transparency.
    public static func decode(_ data: Data, maxPixels: Int = defaultMaxPixels) throws(ImageDecodingError) -> DecodedImage {
        let result: Result<DecodedImage, ImageDecodingError> = data.withUnsafeBytes { decode(buffer: $0, maxPixels: maxPixels) }
        return try result.get()
    }

    /// The container format from the signature alone (PNG, JPEG, WebP, GIF), or nil.
    static func format(of bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        func starts(_ signature: [UInt8], at offset: Int = 0) -> Bool {
            guard bytes.count >= offset + signature.count else { return false }
            for (i, b) in signature.enumerated() where bytes[offset + i] != b { return false }
            return true
        }
        if starts(PNGEncoder.signature) { return .png }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts(Array("RIFF".utf8)), starts(Array("WEBP".utf8), at: 8) { return .webp }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .gif }
        return nil
    }

    static func decode(buffer: UnsafeRawBufferPointer, maxPixels: Int) -> Result<DecodedImage, ImageDecodingError> {
        Result { () throws(ImageDecodingError) -> DecodedImage in
            switch format(of: buffer) {
            case .png: return try PNGDecoder.decode(buffer, maxPixels: maxPixels)
            case .jpeg: return try JPEGDecoder.decode(buffer, maxPixels: maxPixels)
            case .webp: return try WebPDecoder.decode(buffer, maxPixels: maxPixels)
            case .gif: throw .unsupported(.gif, reason: "GIF decoding is not supported")
            case nil: throw .unrecognizedFormat
            }
        }
    }

    /// Checks a declared size against the limit before anything is allocated.
    static func checkSize(_ format: ImageFormat, width: Int, height: Int, maxPixels: Int) throws(ImageDecodingError) {
        guard width >= 1, height >= 1 else { throw .corrupt(format, message: "invalid size \(width)×\(height)") }
        let (area, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, area <= maxPixels else {
            throw .tooLarge(format, width: width, height: height, maxPixels: maxPixels)
        }
    }
}
