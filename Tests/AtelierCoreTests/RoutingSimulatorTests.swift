import Foundation
import Testing

@testable import AtelierCore

@Suite("Routing: simulate and workloads")
struct RoutingSimulatorTests {
    typealias F = RoutingFixtures

    static let small = F.catalog(only: ["gemini-3-pro-image", "flux-2-pro", "runware-flux-1-schnell"])

    static let workload: [ImageTask] = [
        F.task("product shot, white sweep", size: .tier(aspectRatio: AspectRatio("1:1"), resolution: .r1K), reproducible: true, phase: .final),
        F.task("banner: SUMMER SALE 50% OFF", size: .tier(aspectRatio: AspectRatio("16:9"), resolution: .r1K), text: true),
        F.task("moodboard draft", phase: .ideation),
        F.task("restyle these two photos", size: .tier(aspectRatio: AspectRatio("1:1"), resolution: .r1K), refs: 2),
        F.task("reproducible edit with ten references", refs: 10, reproducible: true),
    ]

    @Test func totalsMatchTheListPrices() throws {
        let cheapest = try F.policy("{}", catalog: Self.small)
        let geminiFirst = try F.policy(
            #"{"rules": [{"name": "gemini-only", "when": {"requirements.reproducible": false}, "require": {"models": ["gemini-3-pro-image"]}}]}"#,
            catalog: Self.small)
        let report = Simulator.run(
            workload: Self.workload, policies: [("cheapest", cheapest), ("gemini-first", geminiFirst)], catalog: Self.small,
            baselineModel: "gemini-3-pro-image")

        // Prices, by hand:
        let mp1K = 1_048_576.0 / 1_000_000  // a 1024x1024 image
        let fluxPro1K = 0.03 + (mp1K - 1) * 0.015  // FLUX.2 [pro]: first MP + extra MP
        let fluxProEdit = fluxPro1K + 2 * 0.015  // + two ~1 MP input images
        let geminiPro = 0.134  // 1K
        let geminiProEdit = 0.134 + 2 * 0.0011  // + two input images
        let schnell = 0.0013

        let a = report.policies[0]
        #expect(a.tasks == 5 && a.routed == 4 && a.unserved == 1)
        // 1 reproducible final → flux-2-pro; 2 text → gemini-3-pro; 3 draft → schnell; 4 edit → flux-2-pro (schnell takes no refs)
        let expectedA = fluxPro1K + geminiPro + schnell + fluxProEdit
        #expect(abs(a.totalUSD - expectedA) < 1e-12)
        #expect(abs(a.meanUSD - expectedA / 4) < 1e-12)
        #expect(a.modelMix.map(\.model) == ["flux-2-pro", "gemini-3-pro-image", "runware-flux-1-schnell"])
        #expect(a.modelMix.map(\.tasks) == [2, 1, 1])
        #expect(a.violations == 0)
        #expect(a.unservedByCode.map(\.reason) == ["no_route"])
        #expect(a.unservedExamples.first?.index == 4)
        let why = Dictionary(uniqueKeysWithValues: try #require(a.unservedExamples.first).rejections.map { ($0.model, $0.reason) })
        #expect(why["gemini-3-pro-image"] == "ignores_seed")
        #expect(why["flux-2-pro"] == "too_many_references: 10 > 8")
        #expect(why["runware-flux-1-schnell"] == "too_many_references: 10 > 0")

        let b = report.policies[1]
        let expectedB = fluxPro1K + geminiPro + geminiPro + geminiProEdit
        #expect(abs(b.totalUSD - expectedB) < 1e-12)
        #expect(b.modelMix.map(\.tasks) == [1, 3, 0].filter { $0 > 0 })
        #expect(b.violations == 0)

        // Baseline: everything priced on gemini-3-pro-image (1K), including the reproducible tasks.
        let baselineAll = geminiPro * 3 + geminiProEdit + (0.134 + 10 * 0.0011)
        #expect(abs((report.baselineUSD ?? 0) - baselineAll) < 1e-12)
        #expect(report.baselineUnpriced == 0)
        let comparedBaseline = geminiPro * 3 + geminiProEdit  // the four tasks policy A routed
        #expect(a.comparedTasks == 4)
        #expect(abs((a.savingUSD ?? 0) - (comparedBaseline - expectedA)) < 1e-12)
        #expect(abs((a.savingPercent ?? 0) - (comparedBaseline - expectedA) / comparedBaseline * 100) < 1e-9)

        // Renderings
        let table = report.table
        #expect(table.contains("cheapest") && table.contains("gemini-first"))
        #expect(table.contains(String(format: "$%.4f", expectedA)))
        #expect(table.contains("hard-constraint violations"))
        let csv = report.csv.split(separator: "\n")
        #expect(csv.count == 3)
        #expect(csv[0].hasPrefix("policy,tasks,routed,unserved,total_usd"))
        #expect(csv[1].hasPrefix("cheapest,5,4,1,\(String(format: "%.6f", expectedA))"))
        let json = report.json
        #expect(json["policies"]?.arrayValue?.count == 2)
        #expect(json["policies"]?.arrayValue?[0]["violations"] == .int(0))
        #expect(json["baseline"]?["model"] == "gemini-3-pro-image")
    }

    @Test func budgetsCanBeAppliedAcrossTheWorkload() throws {
        let policy = try F.policy(#"{"budgets": [{"tag": "client", "dailyUSD": 0.2}]}"#, catalog: Self.small)
        let tasks = (0..<5).map { F.task("banner \($0)", text: true, tags: ["client": "acme"]) }
        let free = Simulator.run(workload: tasks, policies: [("p", policy)], catalog: Self.small, baselineModel: nil)
        #expect(free.policies[0].routed == 5)
        let capped = Simulator.run(workload: tasks, policies: [("p", policy)], catalog: Self.small, baselineModel: nil, applyBudgets: true)
        // gemini-3-pro ($0.134) once; then $0.066 left: flux-2-pro ($0.0307) twice; then $0.0046: schnell, the only model left
        let p = capped.policies[0]
        #expect(p.modelMix.map(\.model) == ["flux-2-pro", "gemini-3-pro-image", "runware-flux-1-schnell"])
        #expect(p.modelMix.map(\.tasks) == [2, 1, 2])
        #expect(p.violations == 0)
    }

    @Test func workloadLinesParseWithLineNumbersOnErrors() throws {
        let good = """
            {"taskUUID": "0b5e1f7a-8c2d-4e3f-9a1b-2c3d4e5f6a7b", "positivePrompt": "a", "phase": "ideation"}

            {"positivePrompt": "b", "aspectRatio": "16:9", "resolution": "2K", "requirements": {"textRendering": true}}
            """
        let tasks = try Workload.parse(good, file: "w.jsonl")
        #expect(tasks.count == 2)
        #expect(tasks[0].taskUUID == "0b5e1f7a-8c2d-4e3f-9a1b-2c3d4e5f6a7b")
        // A task without taskUUID gets a stable one.
        #expect(try Workload.parse(good, file: "w.jsonl")[1].taskUUID == tasks[1].taskUUID)
        #expect(UUIDv4.canonical(tasks[1].taskUUID) != nil)

        let bad = """
            {"positivePrompt": "ok"}
            {"positivePrompt": "x", "width": 1000}
            {"positivePrompt": "y",}
            {"positivePrompt": "z", "phase": "draft"}
            """
        let error = try #require(throws: WorkloadError.self) { try Workload.parse(bad, file: "w.jsonl") }
        #expect(error.issues.map(\.line) == [2, 3, 4])
        try #require(error.issues.count == 3)
        #expect(error.issues[0].error.code == .invalidDimensions)
        #expect(error.issues[2].error.field == "/phase")
        #expect(error.description.contains("w.jsonl:line 2"))
    }

    @Test func theShippedWorkloadRoutesWithoutViolations() throws {
        let root = F.repoRoot
        let tasks = try Workload.load(path: root.appendingPathComponent("scripts/workloads/mixed.jsonl").path)
        #expect(tasks.count >= 100)
        #expect(tasks.contains { $0.phase == .ideation })
        #expect(tasks.contains { $0.requirements.textRendering })
        #expect(tasks.contains { $0.requirements.reproducible && $0.phase == .final })
        #expect(tasks.contains { !$0.referenceImages.isEmpty })
        let policy = try RoutingPolicy.load(path: root.appendingPathComponent("routing.json").path, catalog: F.full)
        var policies: [(name: String, policy: RoutingPolicy)] = [("default", policy)]
        let dir = root.appendingPathComponent("scripts/workloads").path
        for f in (try FileManager.default.contentsOfDirectory(atPath: dir)).sorted() where f.hasSuffix(".json") {
            policies.append((f, try RoutingPolicy.load(path: dir + "/" + f, catalog: F.full)))
        }
        #expect(policies.count >= 2)
        let report = Simulator.run(workload: tasks, policies: policies, catalog: F.full, baselineModel: "gemini-3-pro-image")
        for p in report.policies {
            #expect(p.violations == 0, "\(p.name): \(p.violationExamples)")
            #expect(p.routed >= p.tasks * 9 / 10, "\(p.name)")
        }
        #expect((report.policies[0].savingUSD ?? 0) > 0)
    }
}
