import AtelierCore
import AtelierImaging
import Foundation
import Testing

@testable import AtelierProviders

/// The built-in renderer produces `outputFormat: "WEBP"`: lossless WebP (libwebp) of exactly the pixels it renders,
/// the same bytes for the same inputs.
@Suite("Local renderer: WEBP output")
struct LocalRenderWebPTests {
    @Test func webpIsLosslessAndDeterministic() async throws {
        let request = try Fixtures.request(
            "local-render", prompt: "a lighthouse at dusk", size: .pixels(PixelSize(width: 96, height: 64)), seed: 1234, format: .webp)
        let first = try await LocalProvider().generate(request, context: GenerationContext(recordResumeHandle: { _ in }))
        let image = try #require(first.first)
        #expect(image.mimeType == "image/webp" && image.path.hasSuffix(".webp"))
        let bytes = try #require(fileBytes(image.path))
        #expect(ImageProbe.probe(bytes) == ImageInfo(format: .webp, width: 96, height: 64))
        let decoded = try ImageDecoder.decode(bytes)
        let rendered = LocalRenderer.render(
            prompt: "a lighthouse at dusk", negativePrompt: nil, seed: LocalProvider.effectiveSeed(1234, references: []), width: 96, height: 64)
        #expect(decoded.rgbImage() == rendered)
        let again = try await LocalProvider().generate(request, context: GenerationContext(recordResumeHandle: { _ in }))
        #expect(fileBytes(try #require(again.first).path) == bytes)
    }
}
