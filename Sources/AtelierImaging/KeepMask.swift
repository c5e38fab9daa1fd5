/// The pixels of an image a `preserve` region protects: one flag per pixel, row-major, `true` = keep.
///
/// Built from a rectangle (``rect(x:y:width:height:imageWidth:imageHeight:)``) or a mask image
/// (``image(_:imageWidth:imageHeight:)``, white = keep) in the reference image's pixels, then resized to the result
/// (``resized(width:height:)``) when the provider returned another size.
public struct KeepMask: Sendable, Equatable {
    /// Width in pixels, at least 1.
    public let width: Int
    /// Height in pixels, at least 1.
    public let height: Int
    /// `width * height` flags, row-major; `true` keeps the reference's pixel.
    public let keep: [Bool]

    /// How far a mask's aspect ratio may be from the reference's (relative): 1 %, so masks whose size was rounded
    /// when they were scaled still fit.
    public static let aspectTolerance = 0.01

    /// Wraps flags; nil when the sizes and the buffer do not agree.
    public init?(width: Int, height: Int, keep: [Bool]) {
        guard width >= 1, height >= 1, keep.count == width * height else { return nil }
        self.width = width
        self.height = height
        self.keep = keep
    }

    /// The number of kept pixels.
    public var keptCount: Int { keep.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// The smallest rectangle holding every kept pixel, or nil when none is kept.
    public var bounds: (x: Int, y: Int, width: Int, height: Int)? {
        var minX = width
        var minY = height
        var maxX = -1
        var maxY = -1
        for y in 0..<height {
            for x in 0..<width where keep[y * width + x] {
                minX = min(minX, x)
                maxX = max(maxX, x)
                minY = min(minY, y)
                maxY = max(maxY, y)
            }
        }
        guard maxX >= 0 else { return nil }
        return (minX, minY, maxX - minX + 1, maxY - minY + 1)
    }

    /// A rectangle in an `imageWidth × imageHeight` image.
    /// - Throws: ``ProtectedRegionError/rectOutsideImage(x:y:width:height:imageWidth:imageHeight:)`` unless the
    ///   rectangle (size at least 1, origin at least 0) lies wholly inside the image.
    public static func rect(
        x: Int, y: Int, width: Int, height: Int, imageWidth: Int, imageHeight: Int
    ) throws(ProtectedRegionError) -> KeepMask {
        guard x >= 0, y >= 0, width >= 1, height >= 1, x <= imageWidth - width, y <= imageHeight - height else {
            throw .rectOutsideImage(x: x, y: y, width: width, height: height, imageWidth: imageWidth, imageHeight: imageHeight)
        }
        var keep = [Bool](repeating: false, count: imageWidth * imageHeight)
        for row in y..<(y + height) {
            for col in x..<(x + width) { keep[row * imageWidth + col] = true }
        }
        return KeepMask(width: imageWidth, height: imageHeight, keep: keep)!
    }

    /// A mask image (white = keep) for an `imageWidth × imageHeight` reference: alpha, if any, is composited over
    /// black (transparent = not kept), the luma is resized to the reference's size by area averaging, and a pixel is
    /// kept when its luma is at least 127.5 (half-way).
    /// - Throws: ``ProtectedRegionError/maskAspectMismatch(maskWidth:maskHeight:imageWidth:imageHeight:)`` when the
    ///   aspect ratios differ by more than ``aspectTolerance``; ``ProtectedRegionError/emptyRegion`` when no pixel is kept.
    public static func image(_ mask: DecodedImage, imageWidth: Int, imageHeight: Int) throws(ProtectedRegionError) -> KeepMask {
        let cross = abs(Double(mask.width * imageHeight) - Double(imageWidth * mask.height))
        guard cross <= aspectTolerance * Double(imageWidth * mask.height) else {
            throw .maskAspectMismatch(maskWidth: mask.width, maskHeight: mask.height, imageWidth: imageWidth, imageHeight: imageHeight)
        }
        let luma = LumaPlane(mask.rgbImage(background: .black), width: imageWidth, height: imageHeight)
        let result = KeepMask(width: imageWidth, height: imageHeight, keep: luma.values.map { $0 >= 127.5 })!
        guard result.keptCount > 0 else { throw .emptyRegion }
        return result
    }

    /// This mask at `width × height`: the kept share of each output pixel's area (area averaging), kept when at least
    /// one half. Equal sizes return the mask unchanged.
    ///
    /// - Precondition: `width` and `height` are at least 1.
    public func resized(width newWidth: Int, height newHeight: Int) -> KeepMask {
        precondition(newWidth >= 1 && newHeight >= 1, "KeepMask dimensions must be positive")
        if newWidth == width && newHeight == height { return self }
        let shares = keep.withUnsafeBufferPointer { k in
            LumaPlane.areaResize(width: width, height: height, to: newWidth, newHeight) { k[$0] ? 1 : 0 }
        }
        return KeepMask(width: newWidth, height: newHeight, keep: shares.map { $0 >= 0.5 })!
    }

    /// For each pixel, its chessboard (Chebyshev) distance to the nearest pixel that is not kept, capped at `cap`;
    /// 0 for pixels not kept. The image's own border is not a region border: a region that reaches the edge of the
    /// image is not feathered there. Two raster passes (exact for the chessboard metric).
    public func distancesToBorder(cap: Int) -> [Int] {
        var d = keep.map { $0 ? cap : 0 }
        for y in 0..<height {
            for x in 0..<width where d[y * width + x] > 0 {
                var m = d[y * width + x]
                if x > 0 { m = min(m, d[y * width + x - 1] + 1) }
                if y > 0 {
                    m = min(m, d[(y - 1) * width + x] + 1)
                    if x > 0 { m = min(m, d[(y - 1) * width + x - 1] + 1) }
                    if x + 1 < width { m = min(m, d[(y - 1) * width + x + 1] + 1) }
                }
                d[y * width + x] = m
            }
        }
        for y in stride(from: height - 1, through: 0, by: -1) {
            for x in stride(from: width - 1, through: 0, by: -1) where d[y * width + x] > 0 {
                var m = d[y * width + x]
                if x + 1 < width { m = min(m, d[y * width + x + 1] + 1) }
                if y + 1 < height {
                    m = min(m, d[(y + 1) * width + x] + 1)
                    if x + 1 < width { m = min(m, d[(y + 1) * width + x + 1] + 1) }
                    if x > 0 { m = min(m, d[(y + 1) * width + x - 1] + 1) }
                }
                d[y * width + x] = m
            }
        }
        return d
    }
}
