import Foundation
import Testing

@testable import AtelierCore

@Suite("Routing: explain, errors and the fast path")
struct RoutingExplainTests {
    typealias F = RoutingFixtures

    @Test func explainListsChosenAlternativesAndEveryRejection() throws {
        let router = try F.router()
        let t = F.task(size: .pixels(PixelSize(width: 1376, height: 768)), refs: 9, reproducible: true)
        let d = router.decide(t, context: F.unavailable(["a1111"]))
        let json = d.json
        let chosen = try #require(json["chosen"])
        #expect(chosen["model"] == "flux-2-flex")
        #expect(chosen["provider"] == "bfl")
        #expect(chosen["estimatedCostUSD"]?.doubleValue != nil)
        let alternatives = try #require(json["alternatives"]?.arrayValue)
        let rejected = try #require(json["rejected"]?.arrayValue)
        #expect(1 + alternatives.count + rejected.count == F.full.models.count)
        let reasons = Dictionary(uniqueKeysWithValues: rejected.map { ($0["model"]!.stringValue!, $0["reason"]!.stringValue!) })
        #expect(reasons["gemini-3-pro-image"] == "ignores_seed")
        #expect(reasons["flux-2-pro"] == "too_many_references")
        #expect(reasons["sd-webui"] == "too_many_references")  // model checks come before availability
        #expect(reasons["local-render"] == "too_many_references")
        #expect(rejected.first { $0["model"] == "flux-2-pro" }?["detail"] == "9 > 8")
        #expect(json["error"] == .null)
        #expect(json["reasons"]?.arrayValue?.isEmpty == false)
    }

    @Test func noRouteCarriesEveryModelsReason() throws {
        let router = try F.router()
        let d = router.decide(F.task(refs: 16, reproducible: true))
        let e = try #require(d.error)
        #expect(e.code == .noRoute)
        let rej = try #require(e.details["rejections"]?.objectValue)
        #expect(rej.count == F.full.models.count)
        #expect(rej["gemini-3-pro-image"] == "ignores_seed")
        #expect(rej["flux-2-flex"] == "too_many_references: 16 > 10")
        #expect(d.summary == nil)
        #expect(d.json["chosen"] == .null)
        #expect(d.json["error"]?["code"] == "no_route")
    }

    @Test func summaryRecordsTheRouteForTheJob() throws {
        let d = try F.router().decide(F.task(text: true))
        let s = try #require(d.summary)
        #expect(s.model == "gemini-3-pro-image")
        #expect(s.provider == "gemini")
        #expect(abs(s.estimatedCostUSD - 0.134) < 1e-12)
        #expect(s.fallbacks == ["runware-nano-banana-pro", "flux-2-pro", "flux-2-flex"])
        #expect(s.reasons.contains("requirements.textRendering: best text renderer first"))
        #expect(s.reasons.last?.hasPrefix("chose gemini-3-pro-image") == true)
    }

    /// The router's compiled checks, sizes and prices must agree exactly with `ModelCard.check` and `estimatedCost`.
    @Test func fastPathAgreesWithTheReferenceChecks() throws {
        var rng = SplitMix(seed: 42)
        let cat = CompiledCatalog(F.full)
        let ratios = ["1:1", "16:9", "9:16", "4:3", "3:2", "21:9", "5:4", "2:1", "3:1", "32:18"].map { AspectRatio($0)! }
        let pixels = [
            "1024x1024", "1376x768", "1344x768", "1370x770", "2048x2048", "4096x4096", "512x512", "1440x672", "2752x1536", "64x64",
            "1920x1080", "1024x1536", "3000x3000", "1584x672", "848x1264", "4800x3584",
        ].map { PixelSize($0)! }
        var checked = 0
        for _ in 0..<3000 {
            let size: SizeRequest
            if rng.next() % 2 == 0 {
                size = .pixels(pixels[Int(rng.next() % UInt64(pixels.count))])
            } else {
                let r = rng.next() % 5 == 0 ? nil : ratios[Int(rng.next() % UInt64(ratios.count))]
                let t = rng.next() % 5 == 0 ? nil : ResolutionTier.allCases[Int(rng.next() % 4)]
                size = .tier(aspectRatio: r, resolution: t)
            }
            let task = F.task(
                String(repeating: "é", count: Int(rng.next() % 3) == 0 ? 8001 : 12), size: size, refs: Int(rng.next() % 17),
                reproducible: rng.next() % 3 == 0, results: 1 + Int(rng.next() % 20), format: OutputFormat.allCases[Int(rng.next() % 3)])
            for (i, card) in F.full.models.enumerated() {
                var facts = TaskFacts(task)
                var resolved: ResolvedSize?
                let code = cat.check(i, &facts, task.size, resolved: &resolved)
                switch card.check(task) {
                case .success(let s):
                    #expect(code == .ok, "\(card.id) \(task.size)")
                    #expect(resolved == s, "\(card.id) \(task.size)")
                    let fast = cat.models[i].price.cost(s, referenceImages: task.referenceImages.count, numberResults: task.numberResults)
                    #expect(fast == card.estimatedCost(task, size: s))
                case .failure(let r):
                    #expect(code.reason == r.reason, "\(card.id) \(task.size): \(r)")
                }
                checked += 1
            }
        }
        #expect(checked == 3000 * F.full.models.count)
    }

    @Test func splitHashMatchesStableHash() throws {
        let p = try F.policy(
            #"{"rules": [{"name": "s", "split": {"key": "tags.user", "salt": "exp-7", "arms": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]}}]}"#
        )
        let split = try #require(p.compiled.rules[0].split)
        for user in ["", "x", "alice@example.com", "ünïcødé"] {
            var h = split.saltState
            for b in user.utf8 {
                h ^= UInt64(b)
                h &*= 0x0000_0100_0000_01B3
            }
            #expect(StableHash.mix(h) == StableHash.fnv1a64("exp-7:" + user))
            let expected = Double(StableHash.fnv1a64("exp-7:" + user) >> 11) * 0x1p-53 * 2 < 1 ? 0 : 1
            #expect(split.arm(for: F.task(tags: ["user": user])) == expected)
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return StableHash.mix(state)
    }
}
