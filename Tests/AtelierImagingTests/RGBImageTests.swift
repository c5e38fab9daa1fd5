import AtelierImaging
import Testing

@Suite("RGBImage")
struct RGBImageTests {
    @Test("init fills with the colour; failable init validates the buffer")
    func initialisers() {
        let image = RGBImage(width: 3, height: 2, color: RGBColor(r: 1, g: 2, b: 3))
        #expect(image.pixels == [UInt8](repeating: 0, count: 0) + Array([[UInt8]](repeating: [1, 2, 3], count: 6).joined()))
        #expect(image.bytesPerRow == 9)
        #expect(RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 11)) == nil)
        #expect(RGBImage(width: 0, height: 2, pixels: []) == nil)
        #expect(RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 9, count: 12))?[1, 1] == RGBColor(r: 9, g: 9, b: 9))
    }

    @Test("subscript reads and writes single pixels")
    func subscripts() {
        var image = RGBImage(width: 4, height: 4)
        image[2, 1] = RGBColor(hex: 0x112233)
        #expect(image[2, 1] == RGBColor(r: 0x11, g: 0x22, b: 0x33))
        #expect(Array(image.pixels[18..<21]) == [0x11, 0x22, 0x33])
        #expect(image[1, 2] == .black)
    }

    @Test("blendPixel mixes by alpha and ignores out-of-range coordinates")
    func blending() {
        var image = RGBImage(width: 2, height: 1, color: .black)
        image.blendPixel(x: 0, y: 0, color: .white, alpha: 128)
        #expect(image[0, 0] == RGBColor(r: 128, g: 128, b: 128))
        image.blendPixel(x: 1, y: 0, color: RGBColor(r: 200, g: 100, b: 50), alpha: 255)
        #expect(image[1, 0] == RGBColor(r: 200, g: 100, b: 50))
        let before = image
        image.blendPixel(x: -1, y: 0, color: .white, alpha: 255)
        image.blendPixel(x: 0, y: 5, color: .white, alpha: 255)
        #expect(image == before)
    }

    @Test("fillRect clips to the image and blends")
    func rectangles() {
        var image = RGBImage(width: 5, height: 5)
        image.fillRect(x: -2, y: 3, width: 4, height: 10, color: .white)
        #expect(image[0, 3] == .white && image[1, 4] == .white)
        #expect(image[2, 3] == .black && image[0, 2] == .black)
        image.fillRect(x: 3, y: 0, width: 2, height: 1, color: .white, alpha: 64)
        #expect(image[4, 0] == RGBColor(r: 64, g: 64, b: 64))
        image.fillRect(x: 100, y: 100, width: 5, height: 5, color: .white)  // fully outside: no crash
        image.fillRect(x: Int.max - 1, y: 0, width: Int.max, height: 1, color: .white)
        image.strokeRect(x: 0, y: 0, width: 5, height: 5, color: RGBColor(hex: 0xFF0000))
        #expect(image[0, 0] == RGBColor(hex: 0xFF0000) && image[4, 2] == RGBColor(hex: 0xFF0000))
        #expect(image[2, 2] == .black)
    }

    @Test("fill replaces every pixel")
    func fill() {
        var image = RGBImage(width: 3, height: 3, color: .white)
        image.fill(RGBColor(hex: 0x0A0B0C))
        #expect(image == RGBImage(width: 3, height: 3, color: RGBColor(hex: 0x0A0B0C)))
    }

    @Test("circles are solid inside, empty outside, soft in between")
    func circles() {
        var image = RGBImage(width: 41, height: 41)
        image.fillCircle(centerX: 20, centerY: 20, radius: 16, color: .white, softness: 128)
        #expect(image[20, 20] == .white)
        #expect(image[20, 24] == .white)  // inside the solid core (radius 8)
        #expect(image[0, 0] == .black)
        #expect(image[20, 37] == .black)  // just outside the radius
        let edge = image[20, 33]  // in the feathered band
        #expect(edge.r > 0 && edge.r < 255)
        // Monotonic fall-off from centre outwards.
        var previous = 256
        for y in 20...37 {
            #expect(Int(image[20, y].r) <= previous)
            previous = Int(image[20, y].r)
        }
    }

    @Test("ellipses respect both radii; huge or off-image shapes do not crash")
    func ellipses() {
        var image = RGBImage(width: 40, height: 20)
        image.fillEllipse(centerX: 20, centerY: 10, radiusX: 18, radiusY: 5, color: .white)
        #expect(image[8, 10] == .white)
        #expect(image[20, 3] == .black)
        image.fillEllipse(centerX: -1_000_000, centerY: 5, radiusX: 10, radiusY: 10, color: .white)
        image.fillEllipse(centerX: 20, centerY: 10, radiusX: Int.max, radiusY: 0, color: .white, opacity: 10)
        image.fillEllipse(centerX: Int.max, centerY: Int.min, radiusX: 5, radiusY: 5, color: .white)
    }

    @Test("linear gradients run from the first stop to the last")
    func gradients() {
        var image = RGBImage(width: 101, height: 3)
        image.fillLinearGradient(startX: 0, startY: 0, endX: 100, endY: 0, stops: [.black, .white])
        #expect(image[0, 1] == .black)
        #expect(image[100, 1] == .white)
        #expect(abs(Int(image[50, 1].r) - 128) <= 2)
        for x in 1...100 { #expect(image[x, 0].r >= image[x - 1, 0].r) }

        var three = RGBImage(width: 3, height: 201)
        three.fillLinearGradient(
            startX: 0, startY: 0, endX: 0, endY: 200, stops: [RGBColor(hex: 0xFF0000), RGBColor(hex: 0x00FF00), RGBColor(hex: 0x0000FF)])
        #expect(three[1, 0] == RGBColor(hex: 0xFF0000))
        #expect(three[1, 100] == RGBColor(hex: 0x00FF00))
        #expect(three[1, 200] == RGBColor(hex: 0x0000FF))

        var single = RGBImage(width: 2, height: 2)
        single.fillLinearGradient(startX: 0, startY: 0, endX: 0, endY: 0, stops: [.white, RGBColor(hex: 0x123456)])
        #expect(single[1, 1] == RGBColor(hex: 0x123456))
    }

    @Test("text uses the 5×7 font, scaled, with ? for unknown characters")
    func text() {
        var image = RGBImage(width: 12, height: 7)
        image.drawText("I", x: 0, y: 0, color: .white)
        // 'I' is columns 0x00, 0x41, 0x7F, 0x41, 0x00: a full vertical bar in column 2.
        for y in 0..<7 { #expect(image[2, y] == .white) }
        #expect(image[0, 3] == .black)
        #expect(RGBImage.textWidth("ab", scale: 3) == 33)

        var unknown = RGBImage(width: 6, height: 7)
        var question = RGBImage(width: 6, height: 7)
        unknown.drawText("é", x: 0, y: 0, color: .white)
        question.drawText("?", x: 0, y: 0, color: .white)
        #expect(unknown == question)
        #expect(unknown != RGBImage(width: 6, height: 7))

        var scaled = RGBImage(width: 30, height: 14)
        scaled.drawText("I", x: 0, y: 0, scale: 2, color: .white)
        #expect(scaled[4, 0] == .white && scaled[5, 13] == .white && scaled[6, 5] == .black)
    }

    @Test("every printable ASCII glyph except space has pixels; space has none")
    func fontCoverage() {
        for code in 33...126 {
            let scalar = Unicode.Scalar(UInt8(code))
            let lit = (0..<5).flatMap { c in (0..<7).map { r in BitmapFont5x7.isSet(scalar, column: c, row: r) } }.filter { $0 }.count
            #expect(lit > 0, "glyph \(code) is blank")
        }
        #expect((0..<5).allSatisfy { c in (0..<7).allSatisfy { !BitmapFont5x7.isSet(" ", column: c, row: $0) } })
    }

    @Test("HSV conversion hits the primaries")
    func hsv() {
        #expect(RGBColor(hue: 0, saturation: 255, value: 255) == RGBColor(hex: 0xFF0000))
        #expect(RGBColor(hue: 120, saturation: 255, value: 255) == RGBColor(hex: 0x00FF00))
        #expect(RGBColor(hue: 240, saturation: 255, value: 255) == RGBColor(hex: 0x0000FF))
        #expect(RGBColor(hue: -120, saturation: 255, value: 255) == RGBColor(hex: 0x0000FF))
        #expect(RGBColor(hue: 77, saturation: 0, value: 90) == RGBColor(r: 90, g: 90, b: 90))
        #expect(RGBColor.black.mixed(with: .white, amount: 255) == .white)
    }
}
