import Foundation
import Testing

@testable import AtelierCore

@Suite("Routing: preferences and their precedence")
struct RoutingPreferenceTests {
    typealias F = RoutingFixtures

    @Test func plainTaskGoesToTheCheapestModelThatDoesTheJob() throws {
        let router = try F.router()
        #expect(router.decide(F.task()).chosenModelID == "sd-webui")
        let d = router.decide(F.task(), context: F.unavailable(["sd-webui"]))
        #expect(d.chosenModelID == "runware-flux-1-schnell")
        let costs = d.eligible.map(\.estimatedCostUSD)
        #expect(costs == costs.sorted())
    }

    @Test func textRenderingPrefersTheBestTextRenderer() throws {
        let router = try F.router()
        let d = router.decide(F.task(text: true))
        // Two grade-5 renderers; the objective (cheapest) breaks the tie.
        #expect(d.chosenModelID == "gemini-3-pro-image")
        #expect(d.ranked[1].model.id == "runware-nano-banana-pro")
        let grades = d.eligible.map(\.model.textRendering)
        #expect(grades == grades.sorted(by: >))
    }

    @Test func reproducibleWithTextPicksTheBestSeededTextRenderer() throws {
        let router = try F.router()
        let d = router.decide(F.task(reproducible: true, text: true))
        #expect(d.chosenModelID == "flux-2-pro")
        #expect(d.chosen?.model.seedHonored == true)
        #expect(d.ranked.allSatisfy { $0.model.seedHonored })
        #expect(d.ranked.map(\.model.id).prefix(2) == ["flux-2-pro", "flux-2-flex"])
    }

    @Test func ideationPrefersCheapThenFast() throws {
        let router = try F.router()
        #expect(router.decide(F.task(phase: .ideation), context: F.unavailable(["sd-webui"])).chosenModelID == "runware-flux-1-schnell")
        // Same price: the faster one.
        let cat = F.catalog(only: ["flux-2-klein-4b", "flux-pro-1.1", "gemini-3-pro-image"]) {
            if $0.id != "gemini-3-pro-image" { $0.price = .perImage(usd: 0.02, perInputImageUSD: 0) }
        }
        let r2 = try F.router(catalog: cat)
        #expect(r2.decide(F.task(phase: .ideation)).ranked.map(\.model.id) == ["flux-2-klein-4b", "flux-pro-1.1", "gemini-3-pro-image"])
        // Without a phase, the default objective (cheapest) then quality decides: flux-pro-1.1 has the better grade.
        #expect(r2.decide(F.task()).chosenModelID == "flux-pro-1.1")
    }

    @Test func finalPrefersQualityThenTheObjective() throws {
        let router = try F.router()
        let d = router.decide(F.task(phase: .final))
        #expect(d.ranked.map(\.model.id).prefix(3) == ["flux-2-pro", "gemini-3-pro-image", "runware-nano-banana-pro"])
        let fast = try F.router(#"{"objective": "fastest"}"#)
        #expect(
            fast.decide(F.task(phase: .final)).ranked.map(\.model.id).prefix(3) == ["flux-2-pro", "gemini-3-pro-image", "runware-nano-banana-pro"])
        let q = fast.decide(F.task(phase: .final), context: F.unavailable(["flux-2-pro"]))
        #expect(q.chosenModelID == "gemini-3-pro-image")
    }

    @Test func objectiveBreaksTies() throws {
        #expect(try F.router(#"{"objective": "fastest"}"#).decide(F.task()).chosenModelID == "runware-flux-1-schnell")
        #expect(try F.router(#"{"objective": "quality"}"#).decide(F.task()).chosenModelID == "flux-2-pro")
        #expect(try F.router(#"{"objective": "cheapest"}"#).decide(F.task()).chosenModelID == "sd-webui")
        // A rule's objective overrides the policy's.
        let r = try F.router(#"{"objective": "cheapest", "rules": [{"name": "vip", "when": {"tags.tier": "vip"}, "objective": "quality"}]}"#)
        #expect(r.decide(F.task(tags: ["tier": "vip"])).chosenModelID == "flux-2-pro")
        #expect(r.decide(F.task(tags: ["tier": "free"])).chosenModelID == "sd-webui")
    }

    @Test func precedenceTextThenPreferThenPhaseThenObjective() throws {
        let r = try F.router(
            #"{"objective": "cheapest", "rules": [{"name": "house-style", "when": {"tags.client": "acme"}, "prefer": ["gemini-3.1-flash-image", "flux-2-klein-4b"]}]}"#
        )
        // text beats phase
        #expect(try F.router().decide(F.task(text: true, phase: .ideation)).chosenModelID == "gemini-3-pro-image")
        // phase beats objective
        #expect(try F.router().decide(F.task(phase: .final)).chosen?.model.quality == 5)
        // prefer beats phase and objective
        #expect(r.decide(F.task(phase: .final, tags: ["client": "acme"])).chosenModelID == "gemini-3.1-flash-image")
        #expect(r.decide(F.task(phase: .ideation, tags: ["client": "acme"])).chosenModelID == "gemini-3.1-flash-image")
        // text beats prefer: the task's declared need wins over a house preference
        #expect(r.decide(F.task(text: true, tags: ["client": "acme"])).chosenModelID == "gemini-3-pro-image")
        // unlisted models follow the listed ones, ranked as usual
        let d = r.decide(F.task(tags: ["client": "acme"]))
        #expect(d.eligible.map(\.model.id).prefix(3) == ["gemini-3.1-flash-image", "flux-2-klein-4b", "sd-webui"])
        // prefer never overrides a hard constraint
        #expect(r.decide(F.task(reproducible: true, tags: ["client": "acme"])).chosenModelID == "flux-2-klein-4b")
    }

    @Test func requireAndExcludeNarrowTheField() throws {
        let r = try F.router(
            #"""
            {"rules": [
              {"name": "eu-only", "when": {"tags.region": "eu"}, "exclude": [{"providers": ["runware"]}, {"models": ["sd-webui"]}]},
              {"name": "good-text", "when": {"requirements.textRendering": true}, "require": {"minTextRendering": 4}},
              {"name": "finals", "when": {"phase": "final"}, "require": {"minQuality": 4, "seedHonored": true}}
            ]}
            """#)
        let eu = r.decide(F.task(tags: ["region": "eu"]))
        #expect(eu.eligible.allSatisfy { $0.model.provider != "runware" && $0.model.id != "sd-webui" })
        #expect(eu.chosenModelID == "flux-2-klein-4b")
        let why = eu.rejected.first { $0.model == "runware-flux-1-schnell" }?.rejection
        #expect(why?.reason == "excluded_by_policy")
        #expect(why?.detail.contains("eu-only") == true)
        let text = r.decide(F.task(text: true))
        #expect(text.eligible.allSatisfy { $0.model.textRendering >= 4 })
        let fin = r.decide(F.task(phase: .final))
        #expect(fin.eligible.allSatisfy { $0.model.quality >= 4 && $0.model.seedHonored })
        #expect(fin.chosenModelID == "flux-2-pro")
    }

    @Test func stopEndsRuleEvaluation() throws {
        let r = try F.router(
            #"""
            {"rules": [
              {"name": "internal", "when": {"tags.team": "lab"}, "objective": "fastest", "stop": true},
              {"name": "no-runware", "exclude": {"providers": ["runware"]}}
            ]}
            """#)
        #expect(r.decide(F.task(tags: ["team": "lab"])).chosenModelID == "runware-flux-1-schnell")
        #expect(r.decide(F.task()).chosenModelID == "sd-webui")
        #expect(r.decide(F.task(), context: F.unavailable(["sd-webui"])).chosenModelID == "flux-2-klein-4b")
    }
}
