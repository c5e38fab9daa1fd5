/// Why bytes could not be decoded into pixels by ``ImageDecoder``.
public enum ImageDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes do not start like a PNG, JPEG or WebP file.
    case unrecognizedFormat
    /// A well-formed image of a kind Atelier does not decode (GIF, animated WebP, CMYK JPEG, …).
    case unsupported(ImageFormat, reason: String)
    /// The header declares more pixels than the caller's limit; nothing was allocated for them.
    case tooLarge(ImageFormat, width: Int, height: Int, maxPixels: Int)
    /// The library rejected the data: truncated, corrupt or invalid (its message).
    case corrupt(ImageFormat, message: String)

    /// A one-line explanation for logs and error messages.
    public var description: String {
        switch self {
        case .unrecognizedFormat:
            "not a PNG, JPEG or WebP image"
        case .unsupported(let format, let reason):
            "unsupported \(format.rawValue.uppercased()) image: \(reason)"
        case .tooLarge(let format, let width, let height, let maxPixels):
            "\(format.rawValue.uppercased()) image of \(width)×\(height) pixels is larger than the limit of \(maxPixels) pixels"
        case .corrupt(let format, let message):
            "corrupt or truncated \(format.rawValue.uppercased()) image: \(message)"
        }
    }
}
