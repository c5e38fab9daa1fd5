/// The region operations of `preserve` (issue 15, docs/consistency.md): measuring the drift of a protected region
/// between a reference image and an edit's result, and pasting the reference's protected pixels back into the result.
///
/// The mask is given in the reference's pixels; when the result has another size, the reference and the mask are
/// resized to the result's size first (area averaging, ``RGBImage/resized(width:height:)`` and
/// ``KeepMask/resized(width:height:)``). Alpha in either image is composited over white first. Every operation is a
/// pure function of its inputs — the same inputs give the same bytes — and CPU work of milliseconds: callers run it
/// off Swift's cooperative pool.
public enum ProtectedRegion {
    /// A protected pixel counts as changed when one of its channels differs by more than this (out of 255): small
    /// enough to catch any visible edit, large enough to ignore the noise of a lossy re-encoding of the same pixels
    /// (JPEG at quality ≥ 90 moves few pixels by more than 8).
    public static let changedPixelThreshold = 8

    /// The widest feathered edge ``composite(reference:result:mask:feather:)`` uses.
    public static let maxFeather = 8

    /// The reference and the mask at the result's size, and the result, as opaque RGB.
    private static func aligned(
        reference: DecodedImage, result: DecodedImage, mask: KeepMask
    ) -> (reference: RGBImage, result: RGBImage, mask: KeepMask) {
        let res = result.rgbImage(background: .white)
        let ref = reference.rgbImage(background: .white).resized(width: res.width, height: res.height)
        return (ref, res, mask.resized(width: res.width, height: res.height))
    }

    /// Measures the protected region's drift: ``RegionMeasurement/score`` (SSIM over the region's bounding box) and
    /// ``RegionMeasurement/changedPixels``.
    /// - Parameter mask: the region, in the reference's pixels.
    /// - Throws: ``ProtectedRegionError/emptyRegion`` when no pixel is kept at the result's size,
    ///   ``ProtectedRegionError/tooSmallToScore(_:)`` when the bounding box is under 11 pixels on a side.
    public static func measure(reference: DecodedImage, result: DecodedImage, mask: KeepMask) throws(ProtectedRegionError) -> RegionMeasurement {
        let (ref, res, keep) = aligned(reference: reference, result: result, mask: mask)
        guard let box = keep.bounds else { throw .emptyRegion }
        var changed = 0
        var refCrop = [UInt8](repeating: 0, count: box.width * box.height * 3)
        var resCrop = refCrop
        for y in 0..<box.height {
            for x in 0..<box.width {
                let src = ((box.y + y) * res.width + box.x + x)
                let dst = (y * box.width + x) * 3
                let kept = keep.keep[src]
                var largest = 0
                for c in 0..<3 {
                    let a = ref.pixels[src * 3 + c]
                    let b = res.pixels[src * 3 + c]
                    refCrop[dst + c] = a
                    resCrop[dst + c] = kept ? b : a
                    largest = max(largest, abs(Int(a) - Int(b)))
                }
                if kept && largest > changedPixelThreshold { changed += 1 }
            }
        }
        let a = RGBImage(width: box.width, height: box.height, pixels: refCrop)!
        let b = RGBImage(width: box.width, height: box.height, pixels: resCrop)!
        let score: Double
        do { score = try SSIM.score(a, b) } catch { throw .tooSmallToScore(error) }
        return RegionMeasurement(score: score, changedPixels: changed, protectedPixels: keep.keptCount)
    }

    /// Pastes the reference's protected pixels into the result. A kept pixel at chessboard distance `d` from the
    /// nearest unkept pixel takes `min(d, feather + 1) / (feather + 1)` of the reference and the rest of the result
    /// (integer arithmetic, rounded): pixels deeper than `feather` inside the region are the reference's exactly,
    /// pixels outside it are the result's exactly, and the blend stays inside the region, within `feather` pixels of
    /// its border. The image's own edge is not a border (``KeepMask/distancesToBorder(cap:)``).
    /// - Parameters:
    ///   - mask: the region, in the reference's pixels.
    ///   - feather: the width of the blended edge, clamped to 0…``maxFeather``.
    /// - Returns: the composited image at the result's size.
    public static func composite(reference: DecodedImage, result: DecodedImage, mask: KeepMask, feather: Int = maxFeather) -> RGBImage {
        let (ref, res, keep) = aligned(reference: reference, result: result, mask: mask)
        let total = min(max(feather, 0), maxFeather) + 1
        let distance = keep.distancesToBorder(cap: total)
        var out = res.pixels
        for i in 0..<distance.count where distance[i] > 0 {
            let w = min(distance[i], total)
            for c in 0..<3 {
                let k = i * 3 + c
                out[k] = UInt8((Int(ref.pixels[k]) * w + Int(res.pixels[k]) * (total - w) + total / 2) / total)
            }
        }
        return RGBImage(width: res.width, height: res.height, pixels: out)!
    }

    /// ``composite(reference:result:mask:feather:)`` written in the result's format: PNG, JPEG (quality 95, 4:4:4
    /// chroma; the protected pixels then differ by the JPEG's rounding only), or lossless WebP (effort 0).
    /// - Throws: ``ProtectedRegionError/unsupportedFormat(_:)`` for GIF, ``ProtectedRegionError/encoding(_:)``.
    public static func compositeEncoded(
        reference: DecodedImage, result: DecodedImage, mask: KeepMask, feather: Int = maxFeather
    ) throws(ProtectedRegionError) -> [UInt8] {
        let image = composite(reference: reference, result: result, mask: mask, feather: feather)
        switch result.format {
        case .png: return PNGEncoder.encode(image)
        case .gif: throw .unsupportedFormat(.gif)
        case .jpeg:
            do { return try JPEGEncoder.encode(image, quality: 95, subsampling: .yuv444) } catch { throw .encoding(error) }
        case .webp:
            do { return try WebPEncoder.encode(image, compression: .lossless(effort: 0)) } catch { throw .encoding(error) }
        }
    }
}
