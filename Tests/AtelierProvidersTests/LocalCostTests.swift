import AtelierCore
import Foundation
import Testing

@testable import AtelierProviders

/// What the local renderer says its images cost: the catalog's figure, with its source.
@Suite("Local renderer: cost")
struct LocalCostTests {
    @Test func theBuiltinCardIsFreeAndAPricedStandInCostsItsPrice() async throws {
        var request = try Fixtures.request("local-render", prompt: "a barn", size: .pixels(PixelSize(width: 64, height: 64)), seed: 7)
        let free = try await LocalProvider().generate(request, context: GenerationContext(recordResumeHandle: { _ in }))
        #expect(free.map(\.costUSD) == [0] && free.map(\.costSource) == [.estimated])

        // A stand-in on the local kind with a dated price (tests, demos): its price, not $0.
        request.model.price = .perImage(usd: 0.02, perInputImageUSD: 0)
        request.model.priceAsOf = "2026-12-01"
        let priced = try await LocalProvider().generate(request, context: GenerationContext(recordResumeHandle: { _ in }))
        #expect(priced.map(\.costUSD) == [0.02] && priced.map(\.costSource) == [.estimated])
        for image in free + priced { try? FileManager.default.removeItem(atPath: image.path) }
    }
}
