import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierTesting
import Foundation
import Testing

/// The current catalog (providers/*.json, read 2026-12-04) through a real daemon: Nano Banana 2 Lite at its one tier,
/// the retired `-preview` ids, and no model with a published price shown as free.
@Suite("catalog refresh end to end", .serialized)
struct CatalogRefreshE2ETests {
    /// `gemini-3.1-flash-lite-image` makes 1K only: a 1K job runs (no `imageSize` sent for a one-tier model) and is
    /// priced at the catalog's estimate (no per-token price is published, so never $0); 512 and 2K are refused at
    /// submit with the field and the allowed tier, before anything is paid for.
    @Test func flashLiteIsOneKOnly() async throws {
        try await FakeWorld.run("cat-lite", providers: ["gemini"]) { w in
            let job = try await w.run(
                E2E.task("a lighthouse \(E2E.marker())", model: "gemini-3.1-flash-lite-image", ["aspectRatio": "16:9", "resolution": "1K"]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            let r = try #require(w.fakes.gemini.generateRequests.first)
            #expect(r.uri == "/v1beta/models/gemini-3.1-flash-lite-image:generateContent")
            #expect(r.json?["generationConfig"]?["imageConfig"] == ["aspectRatio": "16:9"])
            #expect(job.results.first?.width == 1376 && job.results.first?.height == 768)
            #expect(job.costUSD == 0.034)
            for tier in ["512", "2K"] {
                do {
                    _ = try await w.submit(E2E.task("a tier \(E2E.marker())", model: "gemini-3.1-flash-lite-image", ["resolution": .string(tier)]))
                    Issue.record("tier \(tier) was accepted")
                } catch {
                    let e = try #require(E2E.rpcError(error))
                    #expect(e.code == -32602)
                    #expect(e.field == "/resolution")
                    #expect(e.data?["allowed"] == ["1K"])
                }
            }
            #expect(w.fakes.gemini.generateRequests.count == 1, "the refused tiers reached no provider")
        }
    }

    /// Seeds are 64-bit integers end to end: one above 2³¹ (as FLUX returns them) and one above 2⁵³ (where a double
    /// would round) reach BFL exactly and come back on the result and the task; Gemini, whose wire seed is an int32,
    /// gets it folded and reports none.
    @Test func seedsAreSixtyFourBit() async throws {
        try await FakeWorld.run("cat-seed", providers: ["bfl", "gemini"], bflPolls: 1) { w in
            for seed: Int64 in [2_784_347_701, 9_007_199_254_740_993] {
                let job = try await w.run(
                    E2E.task("a seeded fox \(E2E.marker())", model: "flux-2-klein-4b", ["width": 512, "height": 512, "seed": .int(seed)]))
                #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
                #expect(job.task.seed == seed)
                #expect(job.results.first?.seed == seed)
                #expect(w.fakes.bfl.log.filter { $0.method == "POST" }.last?.json?["seed"] == .int(seed), "sent exactly")
            }
            let g = try await w.run(
                E2E.task(
                    "a seeded lighthouse \(E2E.marker())", model: "gemini-3.1-flash-lite-image", ["aspectRatio": "1:1", "seed": 2_784_347_701]))
            #expect(g.status == .succeeded)
            #expect(w.fakes.gemini.generateRequests.last?.json?["generationConfig"]?["seed"] == .int(2_784_347_701 & 0x7FFF_FFFF))
            #expect(g.results.first?.seed == nil)
        }
    }

    /// The Gemini `-preview` ids are retired: a pinned request is refused and names the GA replacement; `models.list`
    /// lists no active model without a price, and every priced model costs more than $0.
    @Test func previewIdsRetiredAndNoFreeGuesses() async throws {
        try await FakeWorld.run("cat-prev", providers: ["gemini", "openai"]) { w in
            for (old, new) in [("gemini-3-pro-image-preview", "gemini-3-pro-image"), ("gemini-3.1-flash-image-preview", "gemini-3.1-flash-image")] {
                do {
                    _ = try await w.submit(E2E.task("an old id \(E2E.marker())", model: old))
                    Issue.record("\(old) was accepted")
                } catch {
                    let e = try #require(E2E.rpcError(error))
                    #expect(e.stableCode == "model_retired")
                    #expect(e.data?["replacedBy"] == .string(new))
                }
            }
            let list = try await w.call("models.list")
            let models = list["models"]?.arrayValue ?? []
            #expect(models.contains { $0["id"] == "gemini-3.1-flash-lite-image" })
            #expect(models.contains { $0["id"] == "gpt-image-2" })
            for m in models where m["builtin"] != true && m["price"]?["kind"] != "free" {
                #expect(m["price"]?["asOf"]?.stringValue != nil, "\(m["id"]?.stringValue ?? "?") has an undated price")
                // A model without a published price shows no number at all, only the ceiling routing and budgets use.
                let unknown = m["price"]?["kind"] == "unknown"
                if unknown { #expect(m["price"]?["usd"] == nil) }
                let price = unknown ? m["price"]?["ceiling"] : m["price"]
                var values: [Double] = []
                switch price?["usd"] {
                case .object(let tiers)?: values = tiers.members.compactMap(\.value.doubleValue)
                case let v?: values = [v.doubleValue].compactMap { $0 }
                case nil: values = [price?["firstMegapixelUSD"]?.doubleValue].compactMap { $0 }
                }
                #expect(!values.isEmpty && values.allSatisfy { $0 > 0 }, "\(m["id"]?.stringValue ?? "?") shows a $0 price")
            }
            #expect(w.fakes.gemini.generateRequests.isEmpty)
        }
    }
}
