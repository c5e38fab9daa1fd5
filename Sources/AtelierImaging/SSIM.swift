import Foundation

/// The structural similarity index of Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment: from error
/// visibility to structural similarity", IEEE TIP 13(4), 2004 — the paper's own parameters:
///
/// - on luma (``LumaPlane``: BT.601 Y′ of the 8-bit values; alpha composited over white),
/// - an 11×11 circular-symmetric Gaussian window, σ = 1.5, normalised to sum 1,
/// - K1 = 0.01, K2 = 0.03, dynamic range L = 255, population (1/N) variances and covariance,
/// - the mean SSIM over every position where the window lies wholly inside the image (no padding).
///
/// This is what scikit-image's `structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False)` computes; `Tests/peers/ssim_peer.py` checks the two agree.
///
/// Before scoring, both images are resized to one common size: the smaller width and the smaller height of the
/// two, then — if the longer side is still above `maxSide` (default 512) — scaled down to it keeping that
/// aspect ratio (each side rounded, at least 1). Resizing is area averaging on luma (``LumaPlane/resized(width:height:)``).
///
/// Pure and CPU-bound (a few milliseconds to tens of milliseconds per pair): callers run it off Swift's cooperative
/// pool, on a NIOThreadPool or another dedicated thread.
public enum SSIM {
    /// K1 of the paper: C1 = (K1·L)².
    public static let k1 = 0.01
    /// K2 of the paper: C2 = (K2·L)².
    public static let k2 = 0.03
    /// L: the range of the 8-bit luma values.
    public static let dynamicRange = 255.0
    /// Standard deviation of the Gaussian window, in pixels.
    public static let sigma = 1.5
    /// Half the window's side: the window is (2·5 + 1)² = 11×11 (scikit-image: truncate 3.5 × σ, rounded).
    public static let windowRadius = 5
    /// The smallest side SSIM can score: one whole window.
    public static var minimumSide: Int { 2 * windowRadius + 1 }
    /// The default longest side of the common size both images are resized to.
    public static let defaultMaxSide = 512

    /// SSIM of two RGB images of any sizes, in -1...1 (1 for identical luma).
    public static func score(_ a: RGBImage, _ b: RGBImage, maxSide: Int = defaultMaxSide) throws(SSIMError) -> Double {
        let size = commonSize((a.width, a.height), (b.width, b.height), maxSide: maxSide)
        return try score(
            sameSize: LumaPlane(a, width: size.width, height: size.height), LumaPlane(b, width: size.width, height: size.height))
    }

    /// SSIM of two decoded images of any sizes (alpha composited over white), in -1...1.
    public static func score(_ a: DecodedImage, _ b: DecodedImage, maxSide: Int = defaultMaxSide) throws(SSIMError) -> Double {
        try score(a.rgbImage(background: .white), b.rgbImage(background: .white), maxSide: maxSide)
    }

    /// SSIM of two luma planes of any sizes, after resizing both to ``commonSize(_:_:maxSide:)``.
    public static func score(_ a: LumaPlane, _ b: LumaPlane, maxSide: Int = defaultMaxSide) throws(SSIMError) -> Double {
        let size = commonSize((a.width, a.height), (b.width, b.height), maxSide: maxSide)
        return try score(sameSize: a.resized(width: size.width, height: size.height), b.resized(width: size.width, height: size.height))
    }

    /// The size both images are brought to: the smaller width and height, scaled down (aspect kept, sides rounded)
    /// so that the longer side is at most `maxSide`.
    public static func commonSize(
        _ a: (width: Int, height: Int), _ b: (width: Int, height: Int), maxSide: Int = defaultMaxSide
    ) -> (width: Int, height: Int) {
        let w = min(a.width, b.width)
        let h = min(a.height, b.height)
        let longest = max(w, h)
        guard longest > maxSide, maxSide >= 1 else { return (w, h) }
        let scale = Double(maxSide) / Double(longest)
        return (max(1, Int((Double(w) * scale).rounded())), max(1, Int((Double(h) * scale).rounded())))
    }

    /// The normalised 1-D Gaussian taps (2·``windowRadius`` + 1 of them); the 2-D window is their outer product.
    public static let gaussianTaps: [Double] = {
        let raw = (-windowRadius...windowRadius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }()

    /// Mean SSIM of two planes of the same size (no resizing).
    public static func score(sameSize a: LumaPlane, _ b: LumaPlane) throws(SSIMError) -> Double {
        guard a.width == b.width, a.height == b.height else { throw .sizeMismatch }
        let w = a.width
        let h = a.height
        let r = windowRadius
        guard w >= minimumSide, h >= minimumSide else { throw .tooSmall(width: w, height: h, minimumSide: minimumSide) }
        let taps = gaussianTaps
        let innerW = w - 2 * r
        let innerH = h - 2 * r
        // Separable Gaussian: each row's horizontal sums (interior columns only) of a, b, a², b², ab go into a ring of
        // 11 rows; once 11 rows are in, the vertical sums give one row of the SSIM map, which is added up.
        let c1 = (k1 * dynamicRange) * (k1 * dynamicRange)
        let c2 = (k2 * dynamicRange) * (k2 * dynamicRange)
        let side = taps.count
        let rowStride = innerW * 5
        var ring = [Double](repeating: 0, count: side * rowStride)
        var total = 0.0
        a.values.withUnsafeBufferPointer { pa in
            b.values.withUnsafeBufferPointer { pb in
                taps.withUnsafeBufferPointer { t in
                    ring.withUnsafeMutableBufferPointer { ring in
                        for y in 0..<h {
                            let row = y * w
                            let slot = (y % side) * rowStride
                            for x in 0..<innerW {
                                var sa = 0.0
                                var sb = 0.0
                                var saa = 0.0
                                var sbb = 0.0
                                var sab = 0.0
                                for k in 0..<side {
                                    let va = pa[row + x + k]
                                    let vb = pb[row + x + k]
                                    sa += t[k] * va
                                    sb += t[k] * vb
                                    saa += t[k] * va * va
                                    sbb += t[k] * vb * vb
                                    sab += t[k] * va * vb
                                }
                                let o = slot + x * 5
                                ring[o] = sa
                                ring[o + 1] = sb
                                ring[o + 2] = saa
                                ring[o + 3] = sbb
                                ring[o + 4] = sab
                            }
                            guard y >= side - 1 else { continue }
                            let top = y - (side - 1)  // the map row: its window covers rows top...y
                            var rowSum = 0.0
                            for x in 0..<innerW {
                                var ma = 0.0
                                var mb = 0.0
                                var maa = 0.0
                                var mbb = 0.0
                                var mab = 0.0
                                for k in 0..<side {
                                    let o = ((top + k) % side) * rowStride + x * 5
                                    ma += t[k] * ring[o]
                                    mb += t[k] * ring[o + 1]
                                    maa += t[k] * ring[o + 2]
                                    mbb += t[k] * ring[o + 3]
                                    mab += t[k] * ring[o + 4]
                                }
                                let va = maa - ma * ma
                                let vb = mbb - mb * mb
                                let cov = mab - ma * mb
                                rowSum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
                            }
                            total += rowSum
                        }
                    }
                }
            }
        }
        return total / Double(innerW * innerH)
    }
}
