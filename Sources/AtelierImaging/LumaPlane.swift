/// A single-channel floating-point image: the luma that ``SSIM`` compares.
///
/// Luma is ITU-R BT.601 Y′ = 0.299 R + 0.587 G + 0.114 B on the 8-bit, gamma-encoded values (0...255, not rounded),
/// the conversion of MATLAB's `rgb2gray` used by the SSIM reference code.
public struct LumaPlane: Sendable, Equatable {
    /// Width in pixels, at least 1.
    public let width: Int
    /// Height in pixels, at least 1.
    public let height: Int
    /// `width * height` values in 0...255, row-major.
    public let values: [Double]

    /// Wraps luma values; nil when the sizes and the buffer do not agree.
    public init?(width: Int, height: Int, values: [Double]) {
        guard width >= 1, height >= 1, values.count == width * height else { return nil }
        self.width = width
        self.height = height
        self.values = values
    }

    /// The luma of an RGB image.
    public init(_ image: RGBImage) {
        let count = image.width * image.height
        let values = image.pixels.withUnsafeBufferPointer { p in
            [Double](unsafeUninitializedCapacity: count) { out, initialized in
                for i in 0..<count {
                    out[i] = 0.299 * Double(p[i * 3]) + 0.587 * Double(p[i * 3 + 1]) + 0.114 * Double(p[i * 3 + 2])
                }
                initialized = count
            }
        }
        self.init(width: image.width, height: image.height, values: values)!
    }

    /// The luma of decoded pixels; alpha, if any, is first composited over white (``DecodedImage/rgbImage(background:)``).
    public init(_ image: DecodedImage) {
        self.init(image.rgbImage(background: .white))
    }

    /// This plane resized to `width × height` by area averaging: each output pixel is the mean of the input area it
    /// covers, input pixels cut by its border weighted by the part inside. For whole-number factors this is the
    /// plain block mean (scikit-image's `downscale_local_mean`).
    ///
    /// - Precondition: `width` and `height` are at least 1.
    public func resized(width newWidth: Int, height newHeight: Int) -> LumaPlane {
        precondition(newWidth >= 1 && newHeight >= 1, "LumaPlane dimensions must be positive")
        if newWidth == width && newHeight == height { return self }
        let xWeights = Self.areaWeights(from: width, to: newWidth)
        let yWeights = Self.areaWeights(from: height, to: newHeight)
        // Horizontal pass: height × newWidth.
        var horizontal = [Double](repeating: 0, count: height * newWidth)
        values.withUnsafeBufferPointer { src in
            for y in 0..<height {
                let row = y * width
                for (ox, taps) in xWeights.enumerated() {
                    var sum = 0.0
                    for (x, w) in taps { sum += src[row + x] * w }
                    horizontal[y * newWidth + ox] = sum
                }
            }
        }
        // Vertical pass: newHeight × newWidth.
        var out = [Double](repeating: 0, count: newHeight * newWidth)
        for (oy, taps) in yWeights.enumerated() {
            for (y, w) in taps {
                let src = y * newWidth
                let dst = oy * newWidth
                for ox in 0..<newWidth { out[dst + ox] += horizontal[src + ox] * w }
            }
        }
        return LumaPlane(width: newWidth, height: newHeight, values: out)!
    }

    /// For each output index, the input indices it covers and their weights (summing to 1).
    static func areaWeights(from source: Int, to target: Int) -> [[(Int, Double)]] {
        let scale = Double(source) / Double(target)
        return (0..<target).map { o in
            let start = Double(o) * scale
            let end = Double(o + 1) * scale
            var taps: [(Int, Double)] = []
            var i = Int(start.rounded(.down))
            while i < source, Double(i) < end {
                let covered = min(end, Double(i + 1)) - max(start, Double(i))
                if covered > 1e-12 { taps.append((i, covered / scale)) }
                i += 1
            }
            return taps
        }
    }
}
