/// Image container formats that ``ImageProbe`` recognises.
public enum ImageFormat: String, Sendable, Equatable, Hashable, CaseIterable, Codable {
    /// Portable Network Graphics.
    case png
    /// JPEG (JFIF/Exif), any SOF variant.
    case jpeg
    /// WebP (lossy VP8, lossless VP8L, or extended VP8X).
    case webp
    /// Graphics Interchange Format (87a or 89a).
    case gif

    /// The IANA media type, e.g. `image/png`.
    public var mimeType: String {
        switch self {
        case .png: "image/png"
        case .jpeg: "image/jpeg"
        case .webp: "image/webp"
        case .gif: "image/gif"
        }
    }

    /// The conventional file extension without a dot, e.g. `jpg`.
    public var fileExtension: String {
        switch self {
        case .png: "png"
        case .jpeg: "jpg"
        case .webp: "webp"
        case .gif: "gif"
        }
    }
}
