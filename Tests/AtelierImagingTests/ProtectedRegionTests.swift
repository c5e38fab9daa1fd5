import Testing

@testable import AtelierImaging

/// A textured image whose pixels depend on `seed` (so two seeds differ nearly everywhere).
private func pattern(_ width: Int, _ height: Int, seed: Int) -> RGBImage {
    var px = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<3 {
                px[(y * width + x) * 3 + c] = UInt8(truncatingIfNeeded: (x * (7 + seed) + y * (13 + 2 * seed) + c * 50 + seed * 31) ^ (x * y >> 3))
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: px)!
}

private func decoded(_ image: RGBImage, format: ImageFormat = .png) -> DecodedImage {
    DecodedImage(format: format, width: image.width, height: image.height, channels: 3, pixels: image.pixels)!
}

private func pixel(_ image: RGBImage, _ x: Int, _ y: Int) -> ArraySlice<UInt8> {
    image.pixels[((y * image.width + x) * 3)..<((y * image.width + x) * 3 + 3)]
}

@Suite("Protected region")
struct ProtectedRegionTests {
    let reference = pattern(96, 64, seed: 1)
    let result = pattern(96, 64, seed: 5)
    let rect = (x: 20, y: 10, width: 50, height: 40)

    @Test func compositeInteriorIsTheReferenceAndTheFeatherStaysInside() throws {
        let mask = try KeepMask.rect(x: rect.x, y: rect.y, width: rect.width, height: rect.height, imageWidth: 96, imageHeight: 64)
        let out = ProtectedRegion.composite(reference: decoded(reference), result: decoded(result), mask: mask)
        var blended = 0
        for y in 0..<64 {
            for x in 0..<96 {
                let inside = x >= rect.x && x < rect.x + rect.width && y >= rect.y && y < rect.y + rect.height
                let depth = min(x - rect.x + 1, rect.x + rect.width - x, y - rect.y + 1, rect.y + rect.height - y)
                if !inside {
                    #expect(pixel(out, x, y) == pixel(result, x, y), "outside (\(x), \(y)) must stay the result's")
                } else if depth > ProtectedRegion.maxFeather {
                    #expect(pixel(out, x, y) == pixel(reference, x, y), "interior (\(x), \(y)) must be the reference's")
                } else if pixel(out, x, y) != pixel(reference, x, y) {
                    blended += 1
                }
            }
        }
        #expect(blended > 0, "the edge is feathered")
        // Encoded as the result's format (PNG) and decoded back: the same pixels, the same bytes every time.
        let bytes = try ProtectedRegion.compositeEncoded(reference: decoded(reference), result: decoded(result), mask: mask)
        #expect(try ImageDecoder.decode(bytes).pixels == out.pixels)
        #expect(try ProtectedRegion.compositeEncoded(reference: decoded(reference), result: decoded(result), mask: mask) == bytes)
    }

    @Test func compositeWithoutFeatherIsAHardPaste() throws {
        let mask = try KeepMask.rect(x: 0, y: 0, width: 96, height: 32, imageWidth: 96, imageHeight: 64)
        let out = ProtectedRegion.composite(reference: decoded(reference), result: decoded(result), mask: mask, feather: 0)
        #expect(Array(out.pixels[0..<(96 * 32 * 3)]) == Array(reference.pixels[0..<(96 * 32 * 3)]))
        #expect(Array(out.pixels[(96 * 32 * 3)...]) == Array(result.pixels[(96 * 32 * 3)...]))
    }

    @Test func aReferenceOfAnotherSizeIsResizedToTheResult() throws {
        let big = pattern(192, 128, seed: 1)
        let mask = try KeepMask.rect(x: 40, y: 20, width: 100, height: 80, imageWidth: 192, imageHeight: 128)
        let out = ProtectedRegion.composite(reference: decoded(big), result: decoded(result), mask: mask)
        #expect(out.width == 96 && out.height == 64)
        let scaled = big.resized(width: 96, height: 64)
        // The mask lands on (20, 10, 50×40) at the result's size; its interior is the resized reference.
        for y in 19..<41 {
            for x in 29..<61 { #expect(pixel(out, x, y) == pixel(scaled, x, y)) }
        }
        #expect(pixel(out, 5, 5) == pixel(result, 5, 5))
    }

    @Test func measureOfIdenticalImagesIsOneAndNothingChanged() throws {
        let mask = try KeepMask.rect(x: rect.x, y: rect.y, width: rect.width, height: rect.height, imageWidth: 96, imageHeight: 64)
        let m = try ProtectedRegion.measure(reference: decoded(reference), result: decoded(reference), mask: mask)
        #expect(m.score == 1.0)
        #expect(m.changedPixels == 0)
        #expect(m.protectedPixels == 50 * 40)
    }

    @Test func measureSeesChangesInsideTheRegionOnly() throws {
        let mask = try KeepMask.rect(x: rect.x, y: rect.y, width: rect.width, height: rect.height, imageWidth: 96, imageHeight: 64)
        // Changes outside the region do not count.
        var outside = reference
        for x in 0..<96 { outside[x, 0] = .white }
        let unchanged = try ProtectedRegion.measure(reference: decoded(reference), result: decoded(outside), mask: mask)
        #expect(unchanged.score == 1.0)
        #expect(unchanged.changedPixels == 0)
        // Ten pixels inside moved far, ten by no more than the threshold.
        var inside = reference
        for x in 0..<10 {
            let c = reference[rect.x + x, rect.y + 5]
            inside[rect.x + x, rect.y + 5] = RGBColor(r: c.r &+ 128, g: c.g, b: c.b)
            let d = reference[rect.x + x, rect.y + 20]
            inside[rect.x + x, rect.y + 20] = RGBColor(r: d.r < 128 ? d.r + 8 : d.r - 8, g: d.g, b: d.b)
        }
        let changed = try ProtectedRegion.measure(reference: decoded(reference), result: decoded(inside), mask: mask)
        #expect(changed.changedPixels == 10)
        #expect(changed.score < 1.0)
        let other = try ProtectedRegion.measure(reference: decoded(reference), result: decoded(result), mask: mask)
        #expect(other.score < changed.score)
        #expect(other.changedPixels > 1000)
    }

    @Test(arguments: [(-1, 0, 10, 10), (0, 0, 97, 10), (90, 0, 10, 10), (0, 60, 10, 5), (0, 0, 0, 5), (96, 64, 1, 1)])
    func rectOutsideTheImageIsRefused(x: Int, y: Int, width: Int, height: Int) {
        #expect(throws: ProtectedRegionError.rectOutsideImage(x: x, y: y, width: width, height: height, imageWidth: 96, imageHeight: 64)) {
            try KeepMask.rect(x: x, y: y, width: width, height: height, imageWidth: 96, imageHeight: 64)
        }
    }

    @Test func maskImageIsResizedToTheReferenceAndThresholded() throws {
        // A 48×32 mask, left half white: at 96×64 the left 48 columns are kept.
        var m = RGBImage(width: 48, height: 32, color: .black)
        for y in 0..<32 { for x in 0..<24 { m[x, y] = .white } }
        let mask = try KeepMask.image(decoded(m), imageWidth: 96, imageHeight: 64)
        #expect(mask.keptCount == 48 * 64)
        #expect(mask.keep[47] && !mask.keep[48])
        #expect(mask.bounds! == (0, 0, 48, 64))
    }

    @Test func maskOfAnotherAspectRatioOrEmptyIsRefused() throws {
        let square = RGBImage(width: 64, height: 64, color: .white)
        #expect(throws: ProtectedRegionError.maskAspectMismatch(maskWidth: 64, maskHeight: 64, imageWidth: 96, imageHeight: 64)) {
            try KeepMask.image(decoded(square), imageWidth: 96, imageHeight: 64)
        }
        let black = RGBImage(width: 96, height: 64, color: .black)
        #expect(throws: ProtectedRegionError.emptyRegion) { try KeepMask.image(decoded(black), imageWidth: 96, imageHeight: 64) }
    }

    @Test func regionTooSmallToScoreIsAnError() throws {
        let mask = try KeepMask.rect(x: 0, y: 0, width: 5, height: 5, imageWidth: 96, imageHeight: 64)
        #expect(throws: ProtectedRegionError.self) {
            try ProtectedRegion.measure(reference: decoded(reference), result: decoded(result), mask: mask)
        }
    }
}
