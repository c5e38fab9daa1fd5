import AtelierCore
import AtelierImaging
import Foundation
import Testing

@testable import AtelierProviders

/// The local renderer's output is a contract (same inputs, byte-identical file, across releases): these values are
/// pinned so that a refactoring of the hashing underneath cannot change a single byte.
@Suite("Local renderer: golden output")
struct LocalRenderGoldenTests {
    static func reference(_ sha: String) -> LoadedReference {
        LoadedReference(data: [1, 2, 3], mimeType: "image/png", width: 64, height: 64, sha256: sha)
    }

    @Test func effectiveSeedIsPinned() {
        #expect(LocalProvider.effectiveSeed(42, references: []) == 42)
        let a = Self.reference(String(repeating: "ab", count: 32))
        let b = Self.reference(String(repeating: "0", count: 64))
        #expect(LocalProvider.effectiveSeed(42, references: [a]) == 17_113_681_475_157_824_635)
        #expect(LocalProvider.effectiveSeed(-7, references: [a, b]) == 13_076_435_945_188_116_509)
    }

    @Test func renderedBytesArePinned() async throws {
        let ref = Self.reference(String(repeating: "ab", count: 32))
        let request = try Fixtures.request(
            "local-render", prompt: "a lighthouse at dusk", size: .pixels(PixelSize(width: 64, height: 64)), seed: 1234,
            references: [ref])
        let images = try await LocalProvider().generate(request, context: GenerationContext(recordResumeHandle: { _ in }))
        let image = try #require(images.first)
        let bytes = try #require(fileBytes(image.path))
        #expect(bytes.count == 5080)
        #expect(RenderHash.fnv1a(bytes) == 11_556_302_172_195_538_932)
    }
}
