import AtelierImaging
import Testing

@Suite("WebPEncoder")
struct WebPEncoderTests {
    @Test("a RIFF/WEBP file that ImageProbe sizes, and the same pixels give the same bytes")
    func structureAndDeterminism() throws {
        let image = LocalRenderer.render(prompt: "a red kite over dunes", negativePrompt: nil, seed: 9, width: 96, height: 64)
        for compression in [WebPEncoder.Compression.lossless(effort: 0), .lossless(effort: 2), .lossless(effort: 9), .lossy(quality: 80)] {
            let a = try WebPEncoder.encode(image, compression: compression)
            let b = try WebPEncoder.encode(image, compression: compression)
            #expect(a == b, "\(compression) is not deterministic")
            #expect(Array(a.prefix(4)) == Array("RIFF".utf8) && Array(a[8..<12]) == Array("WEBP".utf8))
            #expect(ImageProbe.probe(a) == ImageInfo(format: .webp, width: 96, height: 64))
        }
    }

    @Test("lossless keeps every pixel of a rendered image; lossy is smaller")
    func losslessIsExact() throws {
        let image = LocalRenderer.render(prompt: "harbour at night", negativePrompt: nil, seed: 4, width: 128, height: 80)
        let lossless = try WebPEncoder.encode(image)
        #expect(try ImageDecoder.decode(lossless).rgbImage() == image)
        let lossy = try WebPEncoder.encode(image, compression: .lossy(quality: 50))
        #expect(lossy.count < lossless.count)
    }

    @Test("sides above 16383 are refused")
    func tooLarge() {
        #expect(throws: ImageEncodingError.invalidDimensions(width: 16384, height: 1)) {
            try WebPEncoder.encode(RGBImage(width: 16384, height: 1))
        }
    }
}
