import Foundation
import Testing

@testable import AtelierCore

@Suite("Routing: hard constraints")
struct RoutingHardConstraintTests {
    typealias F = RoutingFixtures

    func reason(_ d: RouteDecision, _ model: String) -> Rejection? {
        d.rejected.first { $0.model == model }?.rejection
    }

    @Test func reproducibleRoutesOnlyToSeedHonouringModels() throws {
        let router = try F.router()
        let d = router.decide(F.task(reproducible: true))
        let chosen = try #require(d.chosen)
        #expect(chosen.model.seedHonored)
        #expect(d.eligible.allSatisfy { $0.model.seedHonored })
        for id in ["gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-2.5-flash-image", "runware-nano-banana-pro"] {
            #expect(reason(d, id)?.reason == "ignores_seed", "\(id)")
        }
    }

    @Test func referenceImagesWithinTheModelsLimit() throws {
        let router = try F.router()
        let d = router.decide(F.task(refs: 9, reproducible: true))
        #expect(reason(d, "flux-2-pro")?.description == "too_many_references: 9 > 8")
        #expect(reason(d, "sd-webui")?.reason == "too_many_references")
        // flux-2-flex takes 10 references and honours seeds: the only seed model left.
        #expect(d.chosenModelID == "flux-2-flex")
        #expect(d.eligible.map(\.model.id) == ["flux-2-flex"])
    }

    @Test func exactPixelsMustBeInTheModelsTable() throws {
        let router = try F.router()
        let d = router.decide(F.task(size: .pixels(PixelSize(width: 1376, height: 768)), text: true))
        #expect(d.chosenModelID == "gemini-3-pro-image")
        #expect(d.chosen?.size.pixels == PixelSize(width: 1376, height: 768))
        let flash = try #require(reason(d, "gemini-2.5-flash-image"))
        #expect(flash.reason == "size_not_supported")
        #expect(flash.detail.hasPrefix("nearest 1344x768"))

        let odd = router.decide(F.task(size: .pixels(PixelSize(width: 1370, height: 770))))
        let pro = try #require(reason(odd, "gemini-3-pro-image"))
        #expect(pro.reason == "size_not_supported")
        #expect(pro.detail.hasPrefix("nearest 1376x768"))
        #expect(reason(odd, "flux-2-pro")?.reason == "size_not_supported")
    }

    @Test func ratioAndTierMapToEachModelsOwnSize() throws {
        let router = try F.router()
        let d = router.decide(F.task(size: .tier(aspectRatio: AspectRatio("16:9"), resolution: .r1K), text: true))
        let all = d.eligible
        let gemini = try #require(all.first { $0.model.id == "gemini-3-pro-image" })
        #expect(gemini.size.pixels == PixelSize(width: 1376, height: 768))
        #expect(gemini.size.requestedByTier)
        let flux = try #require(all.first { $0.model.id == "flux-2-pro" })
        #expect(flux.size.pixels.width % 16 == 0 && flux.size.pixels.height % 16 == 0)
        #expect(abs(Double(flux.size.pixels.width) / Double(flux.size.pixels.height) - 16.0 / 9.0) < 0.03)
        // FLUX1.1 [pro] cannot be wider than 1440: 21:9 at 1K is out of its range.
        let wide = router.decide(F.task(size: .tier(aspectRatio: AspectRatio("21:9"), resolution: .r1K)))
        #expect(reason(wide, "flux-pro-1.1")?.description == "size_not_supported: ratio 21:9 at 1K")
        // 4K: only the tables that list 4K (and the builtin renderer, which auto may not use).
        let big = router.decide(F.task(size: .tier(aspectRatio: nil, resolution: .r4K)))
        #expect(Set(big.eligible.map(\.model.id)) == ["gemini-3-pro-image", "gemini-3.1-flash-image", "runware-nano-banana-pro"])
        #expect(big.chosenModelID == "gemini-3.1-flash-image")
        #expect(big.chosen?.size.pixels == PixelSize(width: 4096, height: 4096))
    }

    @Test func maxCostUSDIsAHardCap() throws {
        let router = try F.router()
        let d = router.decide(F.task(maxCost: 0.01), context: F.unavailable(["sd-webui"]))
        #expect(d.chosenModelID == "runware-flux-1-schnell")
        #expect(d.eligible.allSatisfy { $0.estimatedCostUSD <= 0.01 })
        let klein = try #require(reason(d, "flux-2-klein-4b"))
        #expect(klein.reason == "over_max_cost")
        #expect(klein.detail == "$0.015 > $0.010")
        // Nothing under the cap: no_route listing the cost reason.
        let none = router.decide(F.task(maxCost: 0.0001), context: F.unavailable(["sd-webui"]))
        #expect(none.chosen == nil)
        #expect(none.error?.code == .noRoute)
    }

    @Test func numberResultsAndFormatAreChecked() throws {
        let router = try F.router()
        let d = router.decide(F.task(results: 10, format: .webp), context: F.unavailable(["sd-webui"]))
        #expect(Set(d.eligible.map(\.model.id)) == ["runware-flux-2-dev", "runware-flux-1-schnell"])
        #expect(reason(d, "flux-2-pro")?.reason == "number_results_not_supported")
        // numberResults multiplies the estimate.
        #expect(abs((d.chosen?.estimatedCostUSD ?? 0) - 0.0013 * 10) < 1e-12)
    }

    @Test func unavailableModelsAreSkippedWithTheirReason() throws {
        let router = try F.router()
        var ctx = F.unavailable(["sd-webui"])
        ctx.unavailable["bfl"] = Rejection("no_api_key", "BFL_API_KEY not set", error: AtelierError(.auth, "BFL_API_KEY not set"))
        ctx.unavailable["runware-flux-1-schnell"] = Rejection(
            "circuit_open", "probe in 12s", error: AtelierError(.unavailable, "paused", retryable: true))
        let d = router.decide(F.task(reproducible: true), context: ctx)
        #expect(reason(d, "sd-webui")?.reason == "no_api_key")
        #expect(reason(d, "flux-2-pro")?.description == "no_api_key: BFL_API_KEY not set")
        #expect(reason(d, "runware-flux-1-schnell")?.description == "circuit_open: probe in 12s")
        #expect(d.chosenModelID == "runware-flux-2-dev")
    }

    @Test func pinnedModelIsRefusedWithItsOwnReason() throws {
        let router = try F.router()
        let d = router.decide(F.task(model: "gemini-3-pro-image", reproducible: true))
        #expect(d.chosen == nil)
        #expect(d.isPinned)
        #expect(d.error?.code == .requirementUnsatisfiable)
        #expect(d.error?.field == "/requirements/reproducible")
        #expect(d.rejected.map(\.rejection.reason) == ["ignores_seed"])

        let refs = router.decide(F.task(model: "flux-2-pro", refs: 9))
        #expect(refs.error?.code == .tooManyReferences)

        let unknown = router.decide(F.task(model: "gemini-4-image"))
        #expect(unknown.error?.code == .unknownModel)
        #expect(unknown.rejected.first?.rejection.reason == "unknown_model")

        let missingKey = router.decide(F.task(model: "flux-2-pro"), context: F.unavailable(["bfl"]))
        #expect(missingKey.error?.code == .auth)
    }

    @Test func pinnedModelByAliasAndTheBuiltinOne() throws {
        let router = try F.router()
        let d = router.decide(F.task(model: "nano-banana-pro", reproducible: false))
        #expect(d.chosenModelID == "gemini-3-pro-image")
        #expect(d.ranked.count == 1)
        #expect(d.fallbacks(after: "gemini-3-pro-image", refused: false).isEmpty)
        // A task may pin the builtin renderer even though auto never picks it.
        let local = router.decide(F.task(model: "local-render"))
        #expect(local.chosenModelID == "local-render")
        #expect(local.error == nil)
        // Pins skip the policy's rules entirely.
        let strict = try F.router(#"{"rules": [{"name": "no-gemini", "exclude": {"providers": ["gemini"]}}]}"#)
        #expect(strict.decide(F.task(model: "gemini-3-pro-image")).chosenModelID == "gemini-3-pro-image")
        #expect(strict.decide(F.task(text: true)).chosenModelID == "runware-nano-banana-pro")
    }

    @Test func builtinIsExcludedFromAutoUnlessAllowed() throws {
        let everythingElse = F.full.models.map(\.id).filter { $0 != "local-render" }
        let router = try F.router()
        let d = router.decide(F.task(), context: F.unavailable(everythingElse))
        #expect(d.chosen == nil)
        #expect(reason(d, "local-render")?.reason == "builtin_not_allowed")
        #expect(d.error?.code == .noRoute)
        // Default: never chosen, even though it is free and seed-honouring.
        for t in [F.task(), F.task(reproducible: true), F.task(phase: .ideation)] {
            #expect(router.decide(t).eligible.allSatisfy { !$0.model.builtin })
        }
        let offline = try F.router(#"{"allowBuiltin": true}"#)
        #expect(offline.decide(F.task(), context: F.unavailable(everythingElse)).chosenModelID == "local-render")
        // Tied with sd-webui on price ($0): quality breaks the tie.
        #expect(offline.decide(F.task()).chosenModelID == "sd-webui")
    }

    @Test func retiredModelsAreNeverRouted() throws {
        let cat = F.catalog {
            if $0.id == "sd-webui" {
                $0.status = .retired
                $0.replacedBy = "flux-2-pro"
            }
        }
        let router = try F.router(catalog: cat)
        let d = router.decide(F.task())
        #expect(reason(d, "sd-webui")?.reason == "retired")
        #expect(d.chosenModelID == "runware-flux-1-schnell")
        #expect(router.decide(F.task(model: "sd-webui")).error?.code == .modelRetired)
    }

    @Test func budgetsRefuseBeforeAnyCall() throws {
        let router = try F.router(#"{"budgets": [{"tag": "client", "dailyUSD": 1.0, "monthlyUSD": 20}]}"#)
        var spend = BudgetSpend()
        spend.add(1.0, tag: "client", value: "acme", period: .daily)
        let ctx = RoutingContext(unavailable: F.unavailable(["sd-webui"]).unavailable, spend: spend)
        let d = router.decide(F.task(tags: ["client": "acme"]), context: ctx)
        #expect(d.chosen == nil)
        let e = try #require(d.error)
        #expect(e.code == .budgetExceeded)
        #expect(e.details["remainingUSD"] == .int(0))
        #expect(e.details["budget"]?["period"] == "daily")
        #expect(d.rejected.contains { $0.rejection.reason == "over_budget" })
        // Another client has its own cap.
        #expect(router.decide(F.task(tags: ["client": "globex"]), context: ctx).chosen != nil)
        // An untagged task has no budget.
        #expect(router.decide(F.task(), context: ctx).chosen != nil)
    }
}
