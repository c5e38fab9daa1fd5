/// Pixels decoded by ``ImageDecoder``: 8-bit RGB, or RGBA when the source has an alpha channel (or a transparent
/// palette entry). Rows are stored top to bottom without padding; alpha is straight (not premultiplied).
public struct DecodedImage: Sendable, Equatable {
    /// The container the pixels came from.
    public let format: ImageFormat
    /// Width in pixels, at least 1.
    public let width: Int
    /// Height in pixels, at least 1.
    public let height: Int
    /// Bytes per pixel: 3 (RGB) or 4 (RGBA).
    public let channels: Int
    /// `width * height * channels` bytes, row-major.
    public let pixels: [UInt8]

    /// Whether the pixels carry an alpha channel (``channels`` is 4).
    public var hasAlpha: Bool { channels == 4 }

    /// Wraps decoded pixels; nil when the sizes and the buffer do not agree.
    public init?(format: ImageFormat, width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        guard width >= 1, height >= 1, channels == 3 || channels == 4 else { return nil }
        let (area, o1) = width.multipliedReportingOverflow(by: height)
        let (count, o2) = area.multipliedReportingOverflow(by: channels)
        guard !o1, !o2, pixels.count == count else { return nil }
        self.format = format
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The image as opaque RGB: alpha, if any, is composited over `background`.
    public func rgbImage(background: RGBColor = .white) -> RGBImage {
        guard hasAlpha else { return RGBImage(width: width, height: height, pixels: pixels)! }
        let count = width * height
        let rgb = [UInt8](unsafeUninitializedCapacity: count * 3) { out, initialized in
            pixels.withUnsafeBufferPointer { src in
                let bg = (Int(background.r), Int(background.g), Int(background.b))
                for i in 0..<count {
                    let a = Int(src[i * 4 + 3])
                    let inv = 255 - a
                    // Rounded division by 255 (exact for 0...65025).
                    @inline(__always) func over(_ c: UInt8, _ b: Int) -> UInt8 {
                        let v = Int(c) * a + b * inv + 128
                        return UInt8(truncatingIfNeeded: (v + (v >> 8)) >> 8)
                    }
                    out[i * 3] = over(src[i * 4], bg.0)
                    out[i * 3 + 1] = over(src[i * 4 + 1], bg.1)
                    out[i * 3 + 2] = over(src[i * 4 + 2], bg.2)
                }
            }
            initialized = count * 3
        }
        return RGBImage(width: width, height: height, pixels: rgb)!
    }
}
