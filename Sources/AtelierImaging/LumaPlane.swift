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
        self.init(image, width: image.width, height: image.height)
    }

    /// The luma of an RGB image resized to `width × height` by area averaging (``resized(width:height:)``), computed
    /// in one pass without a full-size luma plane.
    ///
    /// - Precondition: `width` and `height` are at least 1.
    public init(_ image: RGBImage, width newWidth: Int, height newHeight: Int) {
        precondition(newWidth >= 1 && newHeight >= 1, "LumaPlane dimensions must be positive")
        let values = image.pixels.withUnsafeBufferPointer { p in
            Self.areaResize(width: image.width, height: image.height, to: newWidth, newHeight) { i in
                0.299 * Double(p[i * 3]) + 0.587 * Double(p[i * 3 + 1]) + 0.114 * Double(p[i * 3 + 2])
            }
        }
        self.init(width: newWidth, height: newHeight, values: values)!
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
        let resized = values.withUnsafeBufferPointer { p in
            Self.areaResize(width: width, height: height, to: newWidth, newHeight) { p[$0] }
        }
        return LumaPlane(width: newWidth, height: newHeight, values: resized)!
    }

    /// Area-averages the `width × height` values given by `sample(index)` (row-major) to `newWidth × newHeight`:
    /// a horizontal pass, then a vertical one. Equal sizes copy the samples.
    @inline(__always)
    static func areaResize(width: Int, height: Int, to newWidth: Int, _ newHeight: Int, sample: (Int) -> Double) -> [Double] {
        if newWidth == width && newHeight == height {
            return [Double](unsafeUninitializedCapacity: width * height) { out, initialized in
                for i in 0..<(width * height) { out[i] = sample(i) }
                initialized = width * height
            }
        }
        let xs = AreaWeights(from: width, to: newWidth)
        let ys = AreaWeights(from: height, to: newHeight)
        var horizontal = [Double](repeating: 0, count: height * newWidth)
        horizontal.withUnsafeMutableBufferPointer { out in
            for y in 0..<height {
                let row = y * width
                for ox in 0..<newWidth {
                    var sum = 0.0
                    let first = row + xs.first[ox]
                    let w = ox * xs.stride
                    for k in 0..<xs.count[ox] { sum += sample(first + k) * xs.weights[w + k] }
                    out[y * newWidth + ox] = sum
                }
            }
        }
        var out = [Double](repeating: 0, count: newHeight * newWidth)
        horizontal.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { out in
                for oy in 0..<newHeight {
                    let dst = oy * newWidth
                    for k in 0..<ys.count[oy] {
                        let from = (ys.first[oy] + k) * newWidth
                        let weight = ys.weights[oy * ys.stride + k]
                        for ox in 0..<newWidth { out[dst + ox] += src[from + ox] * weight }
                    }
                }
            }
        }
        return out
    }

    /// Area-averaging weights along one axis, flat: output `o` covers inputs `first[o] ..< first[o] + count[o]`
    /// with weights `weights[o * stride ..< o * stride + count[o]]`, which sum to 1.
    struct AreaWeights {
        var first: [Int] = []
        var count: [Int] = []
        var weights: [Double] = []
        let stride: Int

        init(from source: Int, to target: Int) {
            let taps = LumaPlane.areaWeights(from: source, to: target)
            stride = taps.map(\.count).max() ?? 0
            weights = [Double](repeating: 0, count: target * stride)
            for (o, list) in taps.enumerated() {
                first.append(list.first?.0 ?? 0)
                count.append(list.count)
                for (k, tap) in list.enumerated() { weights[o * stride + k] = tap.1 }
            }
        }
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
