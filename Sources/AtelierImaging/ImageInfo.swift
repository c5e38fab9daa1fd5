/// What ``ImageProbe`` learned from an image header.
public struct ImageInfo: Sendable, Equatable, Hashable {
    /// The container format.
    public var format: ImageFormat
    /// Width in pixels (always positive).
    public var width: Int
    /// Height in pixels (always positive).
    public var height: Int

    /// Creates an info value.
    public init(format: ImageFormat, width: Int, height: Int) {
        self.format = format
        self.width = width
        self.height = height
    }

    /// The IANA media type of ``format``, e.g. `image/jpeg`.
    public var mimeType: String { format.mimeType }
}
