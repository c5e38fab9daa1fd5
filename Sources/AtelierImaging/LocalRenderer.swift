/// A deterministic, offline stand-in for an image-generation model.
///
/// Used when no provider API keys are configured: it paints an abstract, prompt-coloured
/// landscape (gradient sky, glows, ridges, soft shapes, sparkles) and writes the start of
/// the prompt along the bottom. The same inputs give identical pixels on every run and
/// every machine (integer arithmetic only, own hash and PRNG); a different seed or prompt
/// gives a visibly different picture.
public enum LocalRenderer {
    /// Largest width or height rendered; larger requests are clamped.
    public static let maxDimension = 4096

    /// Longest caption drawn along the bottom, in characters.
    public static let maxCaptionLength = 40

    /// The value ``PNGEncoder`` metadata uses for the `Software` key.
    public static let softwareName = "Atelier local renderer"

    /// Renders an image for `prompt`.
    ///
    /// - Parameters:
    ///   - prompt: Text whose words choose the palette and whose hash shapes the layout.
    ///   - negativePrompt: Colour words here are avoided; the text also perturbs the layout.
    ///     `nil` and the empty string are equivalent.
    ///   - seed: Variation seed; each value gives a different composition.
    ///   - width: Width in pixels, clamped to 1...``maxDimension``.
    ///   - height: Height in pixels, clamped to 1...``maxDimension``.
    public static func render(prompt: String, negativePrompt: String?, seed: UInt64, width: Int, height: Int) -> RGBImage {
        let w = min(max(width, 1), maxDimension)
        let h = min(max(height, 1), maxDimension)
        let promptHash = RenderHash.hash(prompt)
        let negative = negativePrompt ?? ""
        let negativeHash = negative.isEmpty ? 0 : RenderHash.hash(negative)
        var rng = Xoshiro256StarStar(seed: RenderHash.combine(RenderHash.combine(promptHash, RenderHash.mix(seed)), negativeHash))

        let palette = PromptPalette.make(
            promptWords: PromptPalette.words(in: prompt),
            negativeWords: PromptPalette.words(in: negative),
            promptHash: promptHash, rng: &rng)

        var image = RGBImage(width: w, height: h, color: palette.sky[0])
        let minSide = min(w, h)

        paintSky(&image, palette: palette, rng: &rng)
        paintCelestialBody(&image, palette: palette, minSide: minSide, rng: &rng)
        paintClouds(&image, palette: palette, minSide: minSide, rng: &rng)
        paintBokeh(&image, palette: palette, minSide: minSide, rng: &rng)
        paintRidges(&image, palette: palette, rng: &rng)
        paintSparkles(&image, palette: palette, minSide: minSide, rng: &rng)
        applyVignette(&image)
        paintCaption(&image, text: caption(for: prompt))
        return image
    }

    /// The caption drawn for `prompt`: printable ASCII kept, other characters shown as `?`,
    /// whitespace collapsed, and cut to ``maxCaptionLength`` characters (ending in `...` when cut).
    public static func caption(for prompt: String) -> String {
        var scalars: [Unicode.Scalar] = []
        var pendingSpace = false
        for scalar in prompt.unicodeScalars {
            let v = scalar.value
            if v == 32 || v == 9 || v == 10 || v == 13 {
                pendingSpace = !scalars.isEmpty
                continue
            }
            if pendingSpace {
                scalars.append(" ")
                pendingSpace = false
            }
            scalars.append(v >= 33 && v <= 126 ? scalar : "?")
            if scalars.count > maxCaptionLength { break }
        }
        if scalars.count > maxCaptionLength {
            scalars = Array(scalars.prefix(maxCaptionLength - 3))
            while scalars.last == " " { scalars.removeLast() }
            scalars += ["." as Unicode.Scalar, ".", "."]
        }
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars)
        return result
    }

    // MARK: - Layers

    private static func paintSky(_ image: inout RGBImage, palette: PromptPalette, rng: inout Xoshiro256StarStar) {
        // Mostly vertical, slightly tilted gradient.
        let tilt = rng.next(in: -image.width / 3...image.width / 3)
        image.fillLinearGradient(
            startX: image.width / 2 - tilt, startY: 0,
            endX: image.width / 2 + tilt, endY: image.height * rng.next(in: 80...100) / 100,
            stops: palette.sky)
    }

    private static func paintCelestialBody(_ image: inout RGBImage, palette: PromptPalette, minSide: Int, rng: inout Xoshiro256StarStar) {
        guard rng.chance(2, in: 3) else { return }
        let cx = image.width * rng.next(in: 15...85) / 100
        let cy = image.height * rng.next(in: 12...45) / 100
        let radius = max(minSide * rng.next(in: 5...11) / 100, 1)
        image.fillCircle(centerX: cx, centerY: cy, radius: radius * 5, color: palette.glow, opacity: 70, softness: 256)
        image.fillCircle(centerX: cx, centerY: cy, radius: radius * 2, color: palette.glow, opacity: 90, softness: 256)
        image.fillCircle(centerX: cx, centerY: cy, radius: radius, color: palette.glow.mixed(with: .white, amount: 160), opacity: 235, softness: 24)
    }

    private static func paintClouds(_ image: inout RGBImage, palette: PromptPalette, minSide: Int, rng: inout Xoshiro256StarStar) {
        let count = rng.next(in: 3...6)
        for _ in 0..<count {
            let color = palette.accents[rng.next(below: palette.accents.count)]
            let rx = max(minSide * rng.next(in: 20...55) / 100, 1)
            let ry = max(rx * rng.next(in: 35...90) / 100, 1)
            image.fillEllipse(
                centerX: rng.next(in: -image.width / 10...image.width * 11 / 10),
                centerY: image.height * rng.next(in: 0...70) / 100,
                radiusX: rx, radiusY: ry, color: color,
                opacity: UInt8(rng.next(in: 50...120)), softness: 256)
        }
    }

    private static func paintRidges(_ image: inout RGBImage, palette: PromptPalette, rng: inout Xoshiro256StarStar) {
        let layers = rng.next(in: 0...9) < 2 ? 0 : rng.next(in: 1...3)
        guard layers > 0 else { return }
        let w = image.width
        let h = image.height
        let stride = w * 3
        var baseline = h * rng.next(in: 52...68) / 100
        for layer in 0..<layers {
            let jagged = layer == 0 && rng.chance(1, in: 2)
            let profile = RidgeProfile(
                baseline: baseline,
                amplitude: h * (jagged ? rng.next(in: 12...22) : rng.next(in: 4...10)) / 100,
                roughness: jagged ? 175 : 135, rng: &rng)
            let color = palette.ground[min(layer + (3 - layers), palette.ground.count - 1)]
            let haze = palette.sky[2]
            let bottomColor = color.scaled(by: 170)
            // One colour per row: hazy near the ridge top, darker towards the bottom.
            var rowColors = [RGBColor](repeating: color, count: h)
            for y in 0..<h {
                let depth = max(0, y - baseline + h / 8) * 255 / max(h - baseline + h / 8, 1)
                rowColors[y] = color.mixed(with: haze, amount: max(0, 70 - depth / 2)).mixed(with: bottomColor, amount: depth)
            }
            let opacity = 200 + layer * 25
            image.withUnsafeMutablePixels { buffer in
                let base = buffer.baseAddress!
                for x in 0..<w {
                    let top = profile.height(atColumn: x, width: w)  // 1/256 pixel
                    let firstRow = max(top >> 8, 0)
                    guard firstRow < h else { continue }
                    // Anti-aliased top pixel: coverage is the part of the pixel below the ridge line.
                    let coverage = 256 - (top - (firstRow << 8))
                    let edgeAlpha = min(opacity, 255) * coverage / 256
                    RGBImage.blend(base + firstRow * stride + x * 3, rowColors[firstRow], edgeAlpha)
                    var p = base + (firstRow + 1) * stride + x * 3
                    if firstRow + 1 < h {
                        for y in (firstRow + 1)..<h {
                            RGBImage.blend(p, rowColors[y], min(opacity, 255))
                            p += stride
                        }
                    }
                }
            }
            baseline += h * rng.next(in: 6...12) / 100
        }
    }

    private static func paintBokeh(_ image: inout RGBImage, palette: PromptPalette, minSide: Int, rng: inout Xoshiro256StarStar) {
        let count = rng.next(in: 5...12)
        for _ in 0..<count {
            let color = palette.accents[rng.next(below: palette.accents.count)]
            let radius = max(minSide * rng.next(in: 2...10) / 100, 1)
            let stretch = rng.next(in: 70...130)
            image.fillEllipse(
                centerX: rng.next(in: 0...image.width), centerY: image.height * rng.next(in: 0...75) / 100,
                radiusX: radius, radiusY: max(radius * stretch / 100, 1), color: color,
                opacity: UInt8(rng.next(in: 60...150)), softness: rng.next(in: 40...170))
        }
    }

    private static func paintSparkles(_ image: inout RGBImage, palette: PromptPalette, minSide: Int, rng: inout Xoshiro256StarStar) {
        let count = palette.isDark ? rng.next(in: 40...90) : rng.next(in: 6...18)
        let maxY = palette.isDark ? image.height * 70 / 100 : image.height
        for _ in 0..<count {
            let radius = max(minSide * rng.next(in: 2...8) / 1000, 1)
            let cx = rng.next(in: 0...image.width)
            let cy = rng.next(in: 0...maxY)
            let color = palette.glow.mixed(with: .white, amount: rng.next(in: 60...200))
            image.fillCircle(centerX: cx, centerY: cy, radius: radius * 3, color: color, opacity: 60, softness: 256)
            image.fillCircle(centerX: cx, centerY: cy, radius: radius, color: color, opacity: UInt8(rng.next(in: 150...240)), softness: 128)
        }
    }

    /// Darkens the corners slightly (up to ~25%).
    private static func applyVignette(_ image: inout RGBImage) {
        let w = image.width
        let h = image.height
        guard w > 2, h > 2 else { return }
        let halfW = Int64(w) / 2
        let halfH = Int64(h) / 2
        let kx = (Int64(1) << 32) / (halfW * halfW)
        let ky = (Int64(1) << 32) / (halfH * halfH)
        let threshold: Int64 = 1 << 31  // start darkening at half the normalised squared distance
        image.withUnsafeMutablePixels { buffer in
            let base = buffer.baseAddress!
            for y in 0..<h {
                let dy = Int64(y) - halfH
                let ty = dy * dy * ky
                var p = base + y * w * 3
                for x in 0..<w {
                    let dx = Int64(x) - halfW
                    let t = dx * dx * kx + ty
                    if t > threshold {
                        // factor in 1/256: 256 at the threshold, ~192 in the corners (t ≈ 2).
                        let factor = Int(256 - min((t - threshold) >> 26, 96))
                        p[0] = UInt8((Int(p[0]) * factor) >> 8)
                        p[1] = UInt8((Int(p[1]) * factor) >> 8)
                        p[2] = UInt8((Int(p[2]) * factor) >> 8)
                    }
                    p += 3
                }
            }
        }
    }

    /// Draws the caption along the bottom on a translucent plate, scaled to the image.
    private static func paintCaption(_ image: inout RGBImage, text: String) {
        guard !text.isEmpty else { return }
        let w = image.width
        let h = image.height
        let margin = max(2, min(w, h) / 32)
        let available = w - 2 * margin
        var caption = text
        var scale = max(1, min(min(w, h) / 320, available / max(RGBImage.textWidth(caption), 1)))
        if RGBImage.textWidth(caption, scale: scale) > available {
            let fitting = (available + 1) / BitmapFont5x7.advance
            guard fitting >= 3 else { return }
            caption = String(String.UnicodeScalarView(caption.unicodeScalars.prefix(fitting)))
            scale = 1
        }
        let textWidth = RGBImage.textWidth(caption, scale: scale)
        let textHeight = BitmapFont5x7.glyphHeight * scale
        let padding = max(1, scale * 2)
        guard textHeight + 2 * padding + margin < h / 3 else { return }

        let x = (w - textWidth) / 2
        let y = h - margin - padding - textHeight
        image.fillRect(
            x: x - padding * 2, y: y - padding, width: textWidth + padding * 4, height: textHeight + padding * 2,
            color: .black, alpha: 110)
        let shadow = max(1, scale / 2)
        image.drawText(caption, x: x + shadow, y: y + shadow, scale: scale, color: .black, alpha: 150)
        image.drawText(caption, x: x, y: y, scale: scale, color: RGBColor(r: 246, g: 244, b: 238))
    }
}
