import AtelierImaging
import Testing

@Suite("SSIM")
struct SSIMTests {
    static let scene = LocalRenderer.render(prompt: "a lighthouse at dusk", negativePrompt: nil, seed: 1, width: 160, height: 120)

    /// `image` with uniform noise of ±`amplitude` on every channel.
    static func noisy(_ image: RGBImage, amplitude: Int, seed: UInt64) -> RGBImage {
        var rng = Xoshiro256StarStar(seed: seed)
        let pixels = image.pixels.map { UInt8(clamping: Int($0) + rng.next(in: -amplitude...amplitude)) }
        return RGBImage(width: image.width, height: image.height, pixels: pixels)!
    }

    @Test("identical images score 1; the score is symmetric and falls as noise grows")
    func basics() throws {
        #expect(try SSIM.score(Self.scene, Self.scene) == 1)
        let light = Self.noisy(Self.scene, amplitude: 8, seed: 1)
        let heavy = Self.noisy(Self.scene, amplitude: 40, seed: 2)
        let sLight = try SSIM.score(Self.scene, light)
        let sHeavy = try SSIM.score(Self.scene, heavy)
        #expect(sLight < 1 && sHeavy < sLight && sHeavy > 0, "\(sLight) \(sHeavy)")
        #expect(abs(try SSIM.score(light, Self.scene) - sLight) < 1e-12)
        let other = LocalRenderer.render(prompt: "a lighthouse at dusk", negativePrompt: nil, seed: 2, width: 160, height: 120)
        #expect(try SSIM.score(Self.scene, other) < sLight)
    }

    @Test("the window is the paper's: 11 Gaussian taps, σ = 1.5, summing to 1")
    func window() {
        #expect(SSIM.gaussianTaps.count == 11 && SSIM.minimumSide == 11)
        #expect(abs(SSIM.gaussianTaps.reduce(0, +) - 1) < 1e-12)
        #expect(abs(SSIM.gaussianTaps[5] - 0.266011725) < 1e-9)  // scipy.ndimage's kernel for σ = 1.5, truncate 3.5
        #expect(SSIM.gaussianTaps[0] == SSIM.gaussianTaps[10])
    }

    @Test("common size: the smaller sides, then the longer side capped with the aspect ratio kept")
    func commonSize() {
        #expect(SSIM.commonSize((200, 100), (150, 120)) == (150, 100))
        #expect(SSIM.commonSize((2048, 1024), (1024, 1024)) == (512, 512))
        #expect(SSIM.commonSize((1024, 768), (1024, 768)) == (512, 384))
        #expect(SSIM.commonSize((1000, 333), (1000, 333), maxSide: 100) == (100, 33))
    }

    @Test("area resizing: block means for whole factors, weights summing to 1 otherwise")
    func resizing() throws {
        let plane = try #require(LumaPlane(width: 4, height: 2, values: [0, 2, 4, 6, 8, 10, 12, 14]))
        #expect(plane.resized(width: 2, height: 1).values == [5, 9])
        let odd = plane.resized(width: 3, height: 2)
        #expect(odd.width == 3 && odd.height == 2)
        #expect(abs(odd.values[0] - (0 + 2 * 1.0 / 3) / (4.0 / 3)) < 1e-12)
        // Luma and resize in one pass give the same values as the two steps.
        let fused = LumaPlane(Self.scene, width: 70, height: 45)
        let twoSteps = LumaPlane(Self.scene).resized(width: 70, height: 45)
        #expect(zip(fused.values, twoSteps.values).allSatisfy { abs($0 - $1) < 1e-9 })
        let constant = try #require(LumaPlane(width: 17, height: 13, values: Array(repeating: 42, count: 17 * 13)))
        #expect(constant.resized(width: 5, height: 7).values.allSatisfy { abs($0 - 42) < 1e-9 })
    }

    @Test("images of different sizes are scored at the common size; the same scene at half size scores high")
    func differentSizes() throws {
        let half = LumaPlane(Self.scene).resized(width: 80, height: 60)
        // The full-size scene is brought to 80×60 by the same area averaging, so the two planes are identical.
        #expect(abs(try SSIM.score(LumaPlane(Self.scene), half) - 1) < 1e-12)
    }

    @Test("too small or mismatched planes are errors")
    func errors() throws {
        let small = RGBImage(width: 10, height: 40)
        #expect(throws: SSIMError.tooSmall(width: 10, height: 40, minimumSide: 11)) { try SSIM.score(small, small) }
        let a = try #require(LumaPlane(width: 12, height: 12, values: Array(repeating: 0, count: 144)))
        let b = try #require(LumaPlane(width: 13, height: 12, values: Array(repeating: 0, count: 156)))
        #expect(throws: SSIMError.sizeMismatch) { try SSIM.score(sameSize: a, b) }
    }

    @Test("luma is BT.601 and alpha is composited over white")
    func luma() throws {
        let rgb = try #require(RGBImage(width: 1, height: 1, pixels: [100, 150, 200]))
        #expect(abs(LumaPlane(rgb).values[0] - (0.299 * 100 + 0.587 * 150 + 0.114 * 200)) < 1e-12)
        let transparent = try #require(DecodedImage(format: .png, width: 1, height: 1, channels: 4, pixels: [0, 0, 0, 0]))
        #expect(LumaPlane(transparent).values[0] == 255)
    }
}
