extension RGBImage {
    /// Fills an axis-aligned rectangle with `color`, optionally blended.
    ///
    /// The rectangle is clipped to the image; empty or fully outside rectangles are ignored.
    /// - Parameter alpha: 255 (the default) paints opaquely; smaller values blend.
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, color: RGBColor, alpha: UInt8 = 255) {
        let x0 = max(x, 0)
        let y0 = max(y, 0)
        let x1 = min(x.addingClamped(w), width)
        let y1 = min(y.addingClamped(h), height)
        guard x0 < x1, y0 < y1, alpha > 0 else { return }
        let a = Int(alpha)
        let stride = width * 3
        pixels.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            for row in y0..<y1 {
                var p = base + row * stride + x0 * 3
                for _ in x0..<x1 {
                    RGBImage.blend(p, color, a)
                    p += 3
                }
            }
        }
    }

    /// Draws a rectangle outline `thickness` pixels wide, inside the given bounds.
    public mutating func strokeRect(x: Int, y: Int, width w: Int, height h: Int, thickness: Int = 1, color: RGBColor, alpha: UInt8 = 255) {
        guard w > 0, h > 0, thickness > 0 else { return }
        let t = min(thickness, (min(w, h) + 1) / 2)
        fillRect(x: x, y: y, width: w, height: t, color: color, alpha: alpha)
        fillRect(x: x, y: y + h - t, width: w, height: t, color: color, alpha: alpha)
        fillRect(x: x, y: y + t, width: t, height: h - 2 * t, color: color, alpha: alpha)
        fillRect(x: x + w - t, y: y + t, width: t, height: h - 2 * t, color: color, alpha: alpha)
    }

    /// Fills an axis-aligned ellipse with a soft (feathered) edge.
    ///
    /// - Parameters:
    ///   - centerX: Centre column.
    ///   - centerY: Centre row.
    ///   - radiusX: Horizontal radius in pixels, clamped to 1...16384.
    ///   - radiusY: Vertical radius in pixels, clamped to 1...16384.
    ///   - color: Fill colour.
    ///   - opacity: Opacity of the solid core, 0...255.
    ///   - softness: Width of the fade-out band as a fraction of the radius in 1/256 units:
    ///     0 gives a crisp (one-pixel anti-aliased) edge, 256 a glow that fades from the centre.
    public mutating func fillEllipse(
        centerX: Int, centerY: Int, radiusX: Int, radiusY: Int,
        color: RGBColor, opacity: UInt8 = 255, softness: Int = 0
    ) {
        let rx = min(max(radiusX, 1), 1 << 14)
        let ry = min(max(radiusY, 1), 1 << 14)
        guard opacity > 0 else { return }
        let x0 = max(centerX.addingClamped(-rx), 0)
        let x1 = min(centerX.addingClamped(rx), width - 1)
        let y0 = max(centerY.addingClamped(-ry), 0)
        let y1 = min(centerY.addingClamped(ry), height - 1)
        guard x0 <= x1, y0 <= y1 else { return }

        // Normalised squared distance t = dx²/rx² + dy²/ry² in 32.32 fixed point (1.0 = 1 << 32),
        // reduced to 16 fractional bits for the alpha ramp.
        let one: Int64 = 1 << 32
        let kx = one / (Int64(rx) * Int64(rx))
        let ky = one / (Int64(ry) * Int64(ry))
        // Inner radius fraction f = 1 - softness; feather at least ~1 pixel for anti-aliasing.
        let minBand = max(256 / min(rx, ry), 1)
        let band = min(max(softness, minBand), 256)
        let f = Int64(256 - band)  // 0...255, inner radius in 1/256
        let inner = f * f  // (f/256)² in 16.16 fixed point, since 256² = 65536
        let bandWidth = 65536 - inner
        let core = Int64(opacity)
        let ramp = (core << 24) / bandWidth  // alpha = ((65536 - t) * ramp) >> 24

        let stride = width * 3
        pixels.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            for y in y0...y1 {
                let dy = Int64(y - centerY)
                let ty = dy * dy * ky
                if ty >= one { continue }
                var p = base + y * stride + x0 * 3
                for x in x0...x1 {
                    let dx = Int64(x - centerX)
                    let t = (dx * dx * kx + ty) >> 16
                    if t < 65536 {
                        let alpha = t <= inner ? core : ((65536 - t) * ramp) >> 24
                        if alpha > 0 { RGBImage.blend(p, color, Int(alpha)) }
                    }
                    p += 3
                }
            }
        }
    }

    /// Fills a circle with a soft edge; see ``fillEllipse(centerX:centerY:radiusX:radiusY:color:opacity:softness:)``.
    public mutating func fillCircle(
        centerX: Int, centerY: Int, radius: Int,
        color: RGBColor, opacity: UInt8 = 255, softness: Int = 0
    ) {
        fillEllipse(
            centerX: centerX, centerY: centerY, radiusX: radius, radiusY: radius,
            color: color, opacity: opacity, softness: softness)
    }
}

extension Int {
    /// Addition that saturates instead of trapping on overflow.
    @inline(__always)
    func addingClamped(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}
