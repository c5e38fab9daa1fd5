/// An 8-bit RGB raster: `width × height` pixels stored row-major, three bytes
/// (red, green, blue) per pixel, no padding between rows.
///
/// The drawing primitives (see the `RGBImage+…` extensions) all use integer
/// arithmetic, so the same calls produce the same bytes on every machine.
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels, always at least 1.
    public let width: Int
    /// Height in pixels, always at least 1.
    public let height: Int
    /// Pixel bytes: `width * height * 3` values in R, G, B order, row-major.
    public internal(set) var pixels: [UInt8]

    /// Number of bytes in one row (`width * 3`).
    public var bytesPerRow: Int { width * 3 }

    /// Creates an image filled with one colour.
    ///
    /// - Precondition: `width` and `height` are at least 1 and `width * height * 3`
    ///   does not overflow. Callers handling untrusted sizes should validate or use
    ///   ``init(width:height:pixels:)`` instead.
    public init(width: Int, height: Int, color: RGBColor = .black) {
        precondition(width >= 1 && height >= 1, "RGBImage dimensions must be positive")
        let (area, overflow1) = width.multipliedReportingOverflow(by: height)
        let (count, overflow2) = area.multipliedReportingOverflow(by: 3)
        precondition(!overflow1 && !overflow2, "RGBImage dimensions overflow")
        self.width = width
        self.height = height
        if color.r == color.g && color.g == color.b {
            self.pixels = [UInt8](repeating: color.r, count: count)
        } else {
            self.pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                var i = 0
                while i < count {
                    buffer[i] = color.r
                    buffer[i + 1] = color.g
                    buffer[i + 2] = color.b
                    i += 3
                }
                initialized = count
            }
        }
    }

    /// Wraps an existing RGB buffer.
    ///
    /// Returns `nil` when a dimension is not positive or `pixels.count != width * height * 3`.
    public init?(width: Int, height: Int, pixels: [UInt8]) {
        guard width >= 1, height >= 1 else { return nil }
        let (area, overflow1) = width.multipliedReportingOverflow(by: height)
        let (count, overflow2) = area.multipliedReportingOverflow(by: 3)
        guard !overflow1, !overflow2, pixels.count == count else { return nil }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Reads or writes the pixel at (`x`, `y`); (0, 0) is the top-left corner.
    ///
    /// - Precondition: the coordinates are inside the image.
    public subscript(x: Int, y: Int) -> RGBColor {
        get {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel out of bounds")
            let i = (y * width + x) * 3
            return RGBColor(r: pixels[i], g: pixels[i + 1], b: pixels[i + 2])
        }
        set {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel out of bounds")
            let i = (y * width + x) * 3
            pixels[i] = newValue.r
            pixels[i + 1] = newValue.g
            pixels[i + 2] = newValue.b
        }
    }

    /// Fills the whole image with `color`.
    public mutating func fill(_ color: RGBColor) {
        fillRect(x: 0, y: 0, width: width, height: height, color: color)
    }

    /// Alpha-blends `color` over the pixel at (`x`, `y`); coordinates outside the image are ignored.
    ///
    /// - Parameter alpha: 0 leaves the pixel unchanged, 255 replaces it.
    public mutating func blendPixel(x: Int, y: Int, color: RGBColor, alpha: UInt8) {
        guard x >= 0, x < width, y >= 0, y < height, alpha > 0 else { return }
        let i = (y * width + x) * 3
        let a = Int(alpha)
        pixels.withUnsafeMutableBufferPointer { p in
            RGBImage.blend(p.baseAddress! + i, color, a)
        }
    }

    /// Gives direct access to the pixel bytes for hot loops.
    ///
    /// The buffer always holds exactly `width * height * 3` bytes; the closure must not
    /// replace it.
    public mutating func withUnsafeMutablePixels<R>(
        _ body: (UnsafeMutableBufferPointer<UInt8>) throws -> R
    ) rethrows -> R {
        try pixels.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Blends `color` with weight `alpha` (0...255) into the three bytes at `p`.
    @inline(__always)
    static func blend(_ p: UnsafeMutablePointer<UInt8>, _ color: RGBColor, _ alpha: Int) {
        if alpha >= 255 {
            p[0] = color.r
            p[1] = color.g
            p[2] = color.b
            return
        }
        let inv = 255 - alpha
        // (x + 128 + ((x + 128) >> 8)) >> 8 is an exact rounded division by 255 for 0...65025.
        @inline(__always) func mix(_ dst: UInt8, _ src: UInt8) -> UInt8 {
            let v = Int(dst) * inv + Int(src) * alpha + 128
            return UInt8(truncatingIfNeeded: (v + (v >> 8)) >> 8)
        }
        p[0] = mix(p[0], color.r)
        p[1] = mix(p[1], color.g)
        p[2] = mix(p[2], color.b)
    }
}
