extension RGBImage {
    /// Paints a linear gradient over the whole image.
    ///
    /// Pixels are coloured by their projection onto the line from (`startX`, `startY`)
    /// to (`endX`, `endY`): at or before the start they get `stops.first`, at or after
    /// the end `stops.last`, with the stops spaced evenly in between.
    ///
    /// - Parameters:
    ///   - alpha: 255 (the default) replaces the existing pixels; smaller values blend over them.
    /// - Note: An empty `stops` array does nothing; a single stop fills the image; a
    ///   zero-length axis uses the last stop everywhere. Coordinates are clamped to ±2²⁴.
    public mutating func fillLinearGradient(
        startX: Int, startY: Int, endX: Int, endY: Int,
        stops: [RGBColor], alpha: UInt8 = 255
    ) {
        guard let last = stops.last, alpha > 0 else { return }
        // Clamping keeps every intermediate product below 2^63.
        let limit: Int64 = 1 << 24
        @inline(__always) func clamp(_ v: Int) -> Int64 { min(max(Int64(v), -limit), limit) }
        let sx = clamp(startX)
        let sy = clamp(startY)
        let dx = clamp(endX) - sx
        let dy = clamp(endY) - sy
        let length2 = dx * dx + dy * dy
        guard stops.count > 1, length2 > 0 else {
            fillRect(x: 0, y: 0, width: width, height: height, color: last, alpha: alpha)
            return
        }

        // 4097-entry lookup table over t in 0...4096.
        let lutSize = 4096
        var lut = [RGBColor](repeating: last, count: lutSize + 1)
        let segments = stops.count - 1
        for i in 0...lutSize {
            let scaled = i * segments  // position in units of 1/4096 segment
            let segment = min(scaled / lutSize, segments - 1)
            let local = scaled - segment * lutSize  // 0...4096
            lut[i] = stops[segment].mixed(with: stops[segment + 1], amount: (local * 255 + lutSize / 2) / lutSize)
        }

        // t(x, y) = ((x - sx)·dx + (y - sy)·dy) / |d|² in 0...4096, computed as projection · k >> 20.
        let k = (Int64(lutSize) << 20) / length2
        let useDirectK = k >= 1 << 10  // enough precision for the fast path
        let a = Int(alpha)
        let stride = width * 3
        let w = width
        lut.withUnsafeBufferPointer { table in
            pixels.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress!
                for y in 0..<height {
                    let rowProjection = (Int64(y) - sy) * dy - sx * dx
                    var p = base + y * stride
                    for x in 0..<w {
                        let projection = rowProjection + Int64(x) * dx
                        let t: Int64
                        if useDirectK {
                            t = (projection * k) >> 20
                        } else {
                            t = projection * Int64(lutSize) / length2
                        }
                        let index = Int(min(max(t, 0), Int64(lutSize)))
                        RGBImage.blend(p, table[index], a)
                        p += 3
                    }
                }
            }
        }
    }
}
