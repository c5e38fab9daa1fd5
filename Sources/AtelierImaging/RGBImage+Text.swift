extension RGBImage {
    /// Draws one line of text with the built-in ``BitmapFont5x7``.
    ///
    /// Each font pixel becomes a `scale × scale` square; characters advance by
    /// `6 × scale` pixels. Characters outside printable ASCII are drawn as `?`.
    /// Text running off the image is clipped.
    ///
    /// - Parameters:
    ///   - x: Left edge of the first glyph.
    ///   - y: Top edge of the glyphs.
    ///   - scale: Font pixel size in image pixels, clamped to 1...256.
    ///   - alpha: Opacity, 0...255.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 1, color: RGBColor, alpha: UInt8 = 255) {
        let s = min(max(scale, 1), 256)
        var penX = x
        for scalar in text.unicodeScalars {
            if penX >= width { break }
            let glyph = BitmapFont5x7.columns(for: scalar)
            let columns = [glyph.0, glyph.1, glyph.2, glyph.3, glyph.4]
            for (column, bits) in columns.enumerated() where bits != 0 {
                for row in 0..<BitmapFont5x7.glyphHeight where bits & (1 << UInt8(row)) != 0 {
                    fillRect(x: penX + column * s, y: y + row * s, width: s, height: s, color: color, alpha: alpha)
                }
            }
            penX = penX.addingClamped(BitmapFont5x7.advance * s)
        }
    }

    /// Width in pixels that ``drawText(_:x:y:scale:color:alpha:)`` uses for `text`
    /// (without the trailing spacing column).
    public static func textWidth(_ text: String, scale: Int = 1) -> Int {
        let count = text.unicodeScalars.count
        guard count > 0 else { return 0 }
        let s = min(max(scale, 1), 256)
        return (count * BitmapFont5x7.advance - 1) * s
    }
}
