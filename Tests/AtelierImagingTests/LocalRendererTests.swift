import AtelierImaging
import Testing

@Suite("LocalRenderer")
struct LocalRendererTests {
    static func render(_ prompt: String, negative: String? = nil, seed: UInt64 = 7, width: Int = 96, height: Int = 64) -> RGBImage {
        LocalRenderer.render(prompt: prompt, negativePrompt: negative, seed: seed, width: width, height: height)
    }

    @Test("rendering twice gives identical pixels and identical PNG bytes")
    func deterministic() {
        let a = Self.render("a red fox in a snowy forest at sunset")
        let b = Self.render("a red fox in a snowy forest at sunset")
        #expect(a == b)
        #expect(RenderHash.fnv1a(a.pixels) == RenderHash.fnv1a(b.pixels))
        #expect(PNGEncoder.encode(a) == PNGEncoder.encode(b))
    }

    /// Pins the exact output so any platform- or process-dependent drift (Hasher, libm,
    /// stdlib random algorithms) shows up. Update the constant only for an intentional change
    /// to the renderer's look.
    @Test("output digest is stable across runs and machines")
    func goldenDigest() {
        let image = Self.render("golden digest check: ocean waves under a violet sky", seed: 12345, width: 80, height: 60)
        #expect(RenderHash.fnv1a(image.pixels) == Self.goldenDigest, "digest \(String(RenderHash.fnv1a(image.pixels), radix: 16))")
    }

    static let goldenDigest: UInt64 = 0x926C_FAC5_12C3_0904

    @Test("a different seed gives a visibly different image")
    func seedMatters() {
        let a = Self.render("mountain lake", seed: 1)
        let b = Self.render("mountain lake", seed: 2)
        #expect(a != b)
        #expect(TestSupport.differingPixels(a, b) > a.width * a.height / 5)
    }

    @Test("a different prompt gives a different image")
    func promptMatters() {
        let a = Self.render("a quiet harbour", seed: 3)
        let b = Self.render("a quiet harbor", seed: 3)
        #expect(a != b)
        #expect(TestSupport.differingPixels(a, b) > a.width * a.height / 5)
    }

    @Test("the negative prompt changes the image; nil and empty are the same")
    func negativePrompt() {
        let none = Self.render("red and blue balloons", negative: nil)
        #expect(none == Self.render("red and blue balloons", negative: ""))
        #expect(none != Self.render("red and blue balloons", negative: "red"))
    }

    @Test("colour words steer the palette")
    func colourWords() {
        func averageColor(_ image: RGBImage) -> (r: Int, g: Int, b: Int) {
            var sum = (0, 0, 0)
            for i in stride(from: 0, to: image.pixels.count, by: 3) {
                sum.0 += Int(image.pixels[i])
                sum.1 += Int(image.pixels[i + 1])
                sum.2 += Int(image.pixels[i + 2])
            }
            let n = image.width * image.height
            return (sum.0 / n, sum.1 / n, sum.2 / n)
        }
        var redderThanBlue = 0
        for seed: UInt64 in 0..<6 {
            let red = averageColor(Self.render("red crimson fire", seed: seed))
            let blue = averageColor(Self.render("blue ocean sapphire", seed: seed))
            if red.r - red.b > blue.r - blue.b { redderThanBlue += 1 }
        }
        #expect(redderThanBlue == 6)
    }

    @Test("sizes are honoured and clamped")
    func sizes() {
        #expect(Self.render("x", width: 33, height: 17).width == 33)
        #expect(Self.render("x", width: 33, height: 17).height == 17)
        let tiny = Self.render("tiny", width: 0, height: -4)
        #expect(tiny.width == 1 && tiny.height == 1)
        #expect(Self.render("wide", width: 5000, height: 1).width == LocalRenderer.maxDimension)
    }

    @Test("odd prompts (empty, emoji, very long, control characters) render")
    func oddPrompts() {
        for prompt in ["", "🦊🌲", String(repeating: "long prompt ", count: 500), "tab\there\nnew\u{0}line"] {
            let image = Self.render(prompt, width: 40, height: 30)
            #expect(image.pixels.count == 40 * 30 * 3)
        }
    }

    @Test("the caption is drawn along the bottom")
    func captionDrawn() {
        // Glyphs are drawn in a fixed near-white (246, 244, 238) in the bottom band.
        let image = Self.render("caption test", width: 200, height: 120)
        var captionPixels = 0
        for y in 90..<image.height {
            for x in 0..<image.width where image[x, y] == RGBColor(r: 246, g: 244, b: 238) {
                captionPixels += 1
            }
        }
        #expect(captionPixels > 20, "expected caption glyph pixels in the bottom band")
        var upperPixels = 0
        for y in 0..<60 {
            for x in 0..<image.width where image[x, y] == RGBColor(r: 246, g: 244, b: 238) {
                upperPixels += 1
            }
        }
        #expect(upperPixels == 0)
    }

    @Test("captions keep printable ASCII, replace others with ?, and are cut to 40 characters")
    func captionText() {
        #expect(LocalRenderer.caption(for: "  a  red\tfox\n") == "a red fox")
        #expect(LocalRenderer.caption(for: "café 猫") == "caf? ?")
        let long = LocalRenderer.caption(for: String(repeating: "abcdefghij", count: 10))
        #expect(long.count == 40)
        #expect(long.hasSuffix("..."))
        #expect(LocalRenderer.caption(for: String(repeating: "x", count: 40)) == String(repeating: "x", count: 40))
    }
}
