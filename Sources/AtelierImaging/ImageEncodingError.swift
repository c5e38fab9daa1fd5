/// Why an image could not be encoded.
public enum ImageEncodingError: Error, Sendable, Equatable {
    /// The width or height is zero, negative, or larger than the format allows.
    case invalidDimensions(width: Int, height: Int)
    /// The pixel buffer does not hold `width × height × channels` bytes.
    case bufferSizeMismatch(expected: Int, actual: Int)
    /// zlib reported an error (its return code).
    case compressionFailed(code: Int32)
    /// A codec library (libwebp) reported an error (its description).
    case encoderFailed(String)
}
