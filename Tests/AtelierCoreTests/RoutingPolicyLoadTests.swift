import Foundation
import Testing

@testable import AtelierCore

@Suite("Routing: policy loading and validation")
struct RoutingPolicyLoadTests {
    typealias F = RoutingFixtures

    @Test func theShippedDefaultPolicyLoadsAndEncodesTheThreeNeeds() throws {
        let path = F.repoRoot.appendingPathComponent("routing.json").path
        let policy = try RoutingPolicy.load(path: path, catalog: F.full)
        #expect(policy.allowBuiltin == false)
        #expect(policy.objective == .cheapest)
        let router = Router(catalog: F.full, policy: policy)
        // 1. reproducible never on a model that ignores seeds (and not on its fallbacks either)
        let rep = router.decide(F.task(reproducible: true, phase: .final))
        #expect(rep.ranked.allSatisfy { $0.model.seedHonored })
        // 2. text-heavy to the best text renderer; fallbacks stay decent at text
        let text = router.decide(F.task(text: true))
        #expect(text.chosenModelID == "gemini-3-pro-image")
        #expect(text.ranked.allSatisfy { $0.model.textRendering >= 3 })
        let both = router.decide(F.task(reproducible: true, text: true))
        #expect(both.chosenModelID == "flux-2-pro")
        // 3. otherwise the cheapest model that does the job (never the builtin renderer)
        let plain = router.decide(F.task(), context: F.unavailable(["sd-webui"]))
        #expect(plain.chosenModelID == "runware-flux-1-schnell")
        #expect(router.decide(F.task()).eligible.allSatisfy { !$0.model.builtin })
    }

    @Test func aBadFileReportsEveryErrorWithPointerAndHint() throws {
        let text = #"""
            {
              "version": 1,
              "rulez": [],
              "rules": [
                {"name": "typo-model", "when": {"requirements.textRendering": true}, "prefer": ["gemini-3-pro"]},
                {"name": "bad-field", "when": {"tag.client": "acme"}, "objective": "cheapest"},
                {"name": "never", "when": {"and": [{"phase": "ideation"}, {"phase": "final"}]}, "objective": "fastest"},
                {"name": "ab", "split": {"key": "tags.user", "arms": [{"name": "a", "weight": 0}, {"name": "b", "weight": 1}]}},
                {"name": "extra", "prefers": ["flux-2-pro"], "objective": "quality"}
              ]
            }
            """#
        let issues = F.issues(text)
        let byPointer = Dictionary(issues.map { ($0.pointer, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(issues.count == 6, "\(issues)")
        let unknownTop = try #require(byPointer["/rulez"])
        #expect(unknownTop.message.contains("unknown field 'rulez'"))
        #expect(unknownTop.hint?.contains("did you mean 'rules'") == true)
        let model = try #require(byPointer["/rules/0/prefer/0"])
        #expect(model.message == "unknown model id 'gemini-3-pro'")
        #expect(model.hint == "did you mean 'gemini-3-pro-image'?")
        let field = try #require(byPointer["/rules/1/when/tag.client"])
        #expect(field.message == "unknown predicate field 'tag.client'")
        #expect(field.hint?.contains("tags.client") == true)
        let never = try #require(byPointer["/rules/2/when"])
        #expect(never.message.contains("can never match"))
        #expect(never.hint != nil)
        let weight = try #require(byPointer["/rules/3/split/arms/0/weight"])
        #expect(weight.message.contains("weights must be greater than zero"))
        #expect(weight.hint != nil)
        let extra = try #require(byPointer["/rules/4/prefers"])
        #expect(extra.hint?.contains("did you mean 'prefer'") == true)
        #expect(issues.allSatisfy { $0.file == "test.json" && $0.hint != nil })
    }

    @Test func rulesThatCanNeverMatchAreRejected() {
        let never: [String] = [
            #"{"phase": "draft"}"#,
            #"{"requirements.reproducible": "yes"}"#,
            #"{"referenceCount": {"min": 17}}"#,
            #"{"promptLength": {"min": 10, "max": 5}}"#,
            #"{"numberResults": 0}"#,
            #"{"tags.client": {"in": []}}"#,
            #"{"and": [{"tags.client": "acme"}, {"tags.client": {"in": ["globex", "initech"]}}]}"#,
            #"{"and": [{"megapixels": {"min": 4}}, {"megapixels": {"max": 1}}]}"#,
            #"{"or": [{"phase": "final", "resolution": "3K"}]}"#,
            #"{"not": {}}"#,
            #"{"tags.client": {"exists": false, "eq": "acme"}}"#,
            #"{"outputFormat": {"notIn": ["PNG", "JPG", "WEBP"]}}"#,
        ]
        for w in never {
            let issues = F.issues(#"{"rules": [{"name": "r", "when": \#(w), "objective": "fastest"}]}"#)
            #expect(issues.count == 1, "\(w): \(issues)")
            #expect(issues.first?.pointer.hasPrefix("/rules/0/when") == true, "\(w)")
        }
        let fine: [String] = [
            #"{"tags.client": {"ne": "acme"}}"#,
            #"{"or": [{"phase": "final"}, {"phase": {"exists": false}}]}"#,
            #"{"referenceCount": {"min": 1, "max": 16}}"#,
            #"{"aspectRatio": {"min": "1:1", "max": "21:9"}}"#,
            #"{"positivePrompt": {"matches": "(?i)\\bsale\\b"}, "promptLength": {"max": 500}}"#,
            #"{"not": {"tags.client": {"in": ["acme", "globex"]}}}"#,
            #"{"resolution": ["2K", "4k"], "orientation": "landscape"}"#,
            #"{"requirements.maxCostUSD": {"exists": true, "max": 0.05}}"#,
        ]
        for w in fine {
            let issues = F.issues(#"{"rules": [{"name": "r", "when": \#(w), "objective": "fastest"}]}"#)
            #expect(issues.isEmpty, "\(w): \(issues)")
        }
    }

    @Test func aRuleBehindACatchAllStopCanNeverMatch() {
        let issues = F.issues(
            #"{"rules": [{"name": "all", "objective": "fastest", "stop": true}, {"name": "later", "when": {"phase": "final"}, "objective": "quality"}]}"#
        )
        #expect(issues.count == 1)
        #expect(issues.first?.pointer == "/rules/1")
        #expect(issues.first?.message.contains("can never match") == true)
    }

    @Test func aRuleThatLeavesNoModelIsRejected() {
        let issues = F.issues(
            #"{"rules": [{"name": "pin-gemini", "when": {"requirements.reproducible": true}, "require": {"models": ["gemini-3-pro-image"]}}]}"#)
        #expect(issues.count == 1)
        #expect(issues.first?.message.contains("leaves no model") == true)
        // Only the builtin renderer left: fine with allowBuiltin, an error without.
        let builtin = #"{"rules": [{"name": "offline", "require": {"builtin": true}}]}"#
        #expect(F.issues(builtin).count == 1)
        #expect(F.issues(#"{"allowBuiltin": true, "rules": [{"name": "offline", "require": {"builtin": true}}]}"#).isEmpty)
    }

    @Test func unknownFieldsAndBadValuesEverywhere() {
        let issues = F.issues(
            #"""
            {"objective": "cheap", "fallbacks": {"max": 2, "onRefusal": true}, "allowBuiltin": "yes",
             "budgets": [{"tag": "client", "daily": 5}, {"tag": "client", "dailyUSD": -1}],
             "rules": [{"name": "x", "require": {"minText": 4, "providers": ["bfI"]}, "objective": "quality",
                        "when": {"phase": {"equals": "final"}}}]}
            """#)
        let pointers = Set(issues.map(\.pointer))
        for p in [
            "/objective", "/fallbacks/onRefusal", "/allowBuiltin", "/budgets/0/daily", "/budgets/0", "/budgets/1/dailyUSD",
            "/rules/0/require/minText", "/rules/0/require/providers/0", "/rules/0/when/phase/equals",
        ] {
            #expect(pointers.contains(p), "missing \(p) in \(issues)")
        }
        #expect(issues.first { $0.pointer == "/rules/0/require/providers/0" }?.hint == "did you mean 'bfl'?")
    }

    @Test func syntaxErrorsGiveLineAndColumn() throws {
        let data = Data("{\n  \"rules\": [,]\n}".utf8)
        let error = try #require(throws: ConfigError.self) { try RoutingPolicy.parse(data: data, file: "r.json", catalog: F.full) }
        #expect(error.issues.first?.message.contains("line 2") == true)
        #expect(throws: ConfigError.self) { try RoutingPolicy.load(path: "/nonexistent/routing.json", catalog: F.full) }
    }

    @Test func modelIdsAreValidatedAgainstTheGivenCatalog() throws {
        let small = F.catalog(only: ["flux-2-pro", "sd-webui"])
        let text = #"{"rules": [{"name": "p", "prefer": ["gemini-3-pro-image", "flux-2-pro"]}]}"#
        #expect(F.issues(text, catalog: small).map(\.pointer) == ["/rules/0/prefer/0"])
        // Loaded against the full catalog, then handed to a router with a smaller one: recompiled, unknown ids dropped.
        let policy = try F.policy(text)
        let router = Router(catalog: small, policy: policy)
        #expect(router.decide(F.task()).chosenModelID == "flux-2-pro")
    }

    @Test func predicatesEvaluateAsDocumented() throws {
        let r = try F.router(
            #"""
            {"rules": [
              {"name": "sale", "when": {"positivePrompt": {"matches": "(?i)\\bsale\\b"}}, "prefer": ["gemini-3.1-flash-image"], "stop": true},
              {"name": "edits", "when": {"referenceCount": {"min": 1}}, "prefer": ["flux-2-klein-4b"], "stop": true},
              {"name": "wide", "when": {"aspectRatio": {"min": "2:1"}}, "prefer": ["gemini-2.5-flash-image"], "stop": true},
              {"name": "vip", "when": {"or": [{"tags.client": {"in": ["acme", "globex"]}}, {"tags.tier": "gold"}],
                                       "not": {"tags.internal": {"exists": true}}}, "prefer": ["flux-2-pro"], "stop": true},
              {"name": "long", "when": {"promptLength": {"min": 200}}, "prefer": ["flux-2-flex"], "stop": true},
              {"name": "big", "when": {"megapixels": {"min": 3}, "width": {"exists": true}}, "prefer": ["runware-flux-2-dev"], "stop": true}
            ]}
            """#)
        #expect(r.decide(F.task("SALE: 50% off")).chosenModelID == "gemini-3.1-flash-image")
        #expect(r.decide(F.task("wholesale prices")).chosenModelID == "sd-webui")
        #expect(r.decide(F.task(refs: 1)).chosenModelID == "flux-2-klein-4b")
        #expect(r.decide(F.task(size: .tier(aspectRatio: AspectRatio("21:9"), resolution: nil))).chosenModelID == "gemini-2.5-flash-image")
        #expect(r.decide(F.task(size: .pixels(PixelSize(width: 1536, height: 672)))).chosenModelID == "gemini-2.5-flash-image")
        #expect(r.decide(F.task(tags: ["client": "globex"])).chosenModelID == "flux-2-pro")
        #expect(r.decide(F.task(tags: ["tier": "gold"])).chosenModelID == "flux-2-pro")
        #expect(r.decide(F.task(tags: ["tier": "gold", "internal": "1"])).chosenModelID == "sd-webui")
        #expect(r.decide(F.task(String(repeating: "detail ", count: 40))).chosenModelID == "flux-2-flex")
        #expect(r.decide(F.task(size: .pixels(PixelSize(width: 2048, height: 1536)))).chosenModelID == "runware-flux-2-dev")
        #expect(r.decide(F.task(size: .tier(aspectRatio: nil, resolution: .r2K))).chosenModelID == "sd-webui")
        let reasons = r.decide(F.task(tags: ["client": "acme"])).reasons
        #expect(reasons.contains { $0.hasPrefix("rule 'vip' matched") })
    }
}
