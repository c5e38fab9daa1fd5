import Foundation
import Testing

@testable import AtelierCore

/// `requirements.deadline` / `requirements.batch`: parsing, the canonical form, and deadline routing over the real
/// provider files (Gemini's batch prices and turnaround).
@Suite("deadlines and batch routing")
struct DeadlineRoutingTests {
    static let catalog: Catalog = {
        let dir = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("providers").path
        return try! CatalogLoader.load(directory: dir)
    }()

    static func task(_ requirements: JSONValue, model: String = "gemini-3.1-flash-image", extra: JSONObject = [:]) throws -> ImageTask {
        var o: JSONObject = ["positivePrompt": "a lighthouse at dusk", "model": .string(model), "requirements": requirements]
        for (k, v) in extra { o.append(k, v) }
        return try ImageTask(json: .object(o))
    }

    static func error(_ body: () throws -> Void) -> AtelierError? {
        do { try body() } catch let e as AtelierError { return e } catch { return nil }
        return nil
    }

    @Test("durations and RFC 3339 times parse; the text is kept as written in the canonical JSON")
    func parsing() throws {
        #expect(TaskDeadline(parsing: "24h") == .within(seconds: 86_400, text: "24h"))
        #expect(TaskDeadline(parsing: "1h30m") == .within(seconds: 5_400, text: "1h30m"))
        #expect(TaskDeadline(parsing: "2d") == .within(seconds: 172_800, text: "2d"))
        #expect(TaskDeadline(parsing: "90s") == .within(seconds: 90, text: "90s"))
        let at = try #require(TaskDeadline(parsing: "2030-01-02T03:04:05+02:00"))
        #expect(at == .at(Timestamp(iso8601: "2030-01-02T01:04:05.000Z")!, text: "2030-01-02T03:04:05+02:00"))
        #expect(
            TaskDeadline(parsing: "2030-01-02T03:04:05.250Z")?.time(submittedAt: Timestamp(milliseconds: 0)).iso8601 == "2030-01-02T03:04:05.250Z")
        for bad in ["", "24", "h", "0h", "-1h", "1m2h", "1h1h", "24 h", "tomorrow", "2030-01-02", "2030-01-02T03:04:05", "400d", "1.5.h"] {
            #expect(TaskDeadline(parsing: bad) == nil, "\(bad)")
        }
        let t = try Self.task(["deadline": "36h", "batch": "only"])
        #expect(t.requirements.deadline?.text == "36h")
        #expect(t.requirements.batch == .only)
        #expect(t.json["requirements"] == ["reproducible": false, "textRendering": false, "deadline": "36h", "batch": "only"])
        #expect(try ImageTask(json: t.json) == t, "the canonical form reads back as the same task")
        let plain = try Self.task([:])
        #expect(plain.json["requirements"] == ["reproducible": false, "textRendering": false], "old tasks keep their canonical bytes")
    }

    @Test("a malformed deadline or batch value is invalid_value (-32602) naming the field")
    func malformed() throws {
        let e = Self.error { _ = try Self.task(["deadline": "soon"]) }
        #expect(e?.code == .invalidValue)
        #expect(e?.field == "/requirements/deadline")
        let n = Self.error { _ = try Self.task(["deadline": 24]) }
        #expect(n?.code == .invalidType)
        #expect(n?.field == "/requirements/deadline")
        let b = Self.error { _ = try Self.task(["batch": "sometimes"]) }
        #expect(b?.code == .invalidValue)
        #expect(b?.field == "/requirements/batch")
    }

    @Test("a deadline that leaves the batch turnaround prices Gemini at its batch rate and routes to the batch lane")
    func batchPricing() throws {
        let router = Router(catalog: Self.catalog, policy: .empty(catalog: Self.catalog))
        let interactive = router.decide(try Self.task([:]))
        let batched = router.decide(try Self.task(["deadline": "36h"]))
        let short = router.decide(try Self.task(["deadline": "2h"]))
        let never = router.decide(try Self.task(["deadline": "36h", "batch": "never"]))
        #expect(interactive.chosen?.estimatedCostUSD == 0.067)
        #expect(interactive.summary?.provider == "gemini")
        #expect(batched.chosen?.estimatedCostUSD == 0.0335, "1K at the batch price")
        #expect(batched.chosen?.batch == true)
        #expect(batched.summary?.provider == "gemini.batch", "queued in the batch lane")
        #expect(batched.summary?.model == "gemini-3.1-flash-image")
        #expect(batched.json["chosen"]?["batch"] == true)
        #expect(short.chosen?.estimatedCostUSD == 0.067, "2h < the 24h turnaround")
        #expect(short.summary?.provider == "gemini")
        #expect(never.chosen?.estimatedCostUSD == 0.067)
        // An absolute time far enough ahead batches too; measured against the context's time.
        let at = try Self.task(["deadline": "2030-06-01T00:00:00Z"])
        let ctx = RoutingContext(unavailable: [:])
        var early = ctx
        early.now = Timestamp(iso8601: "2030-05-30T00:00:00.000Z")
        var late = ctx
        late.now = Timestamp(iso8601: "2030-05-31T12:00:00.000Z")
        #expect(router.decide(at, context: early).chosen?.batch == true)
        #expect(router.decide(at, context: late).chosen?.batch == false, "12 h left: interactive")
    }

    @Test("batch only: refused with the field on a model without batch support or with too short a deadline; auto routing skips such models")
    func batchOnly() throws {
        let router = Router(catalog: Self.catalog, policy: .empty(catalog: Self.catalog))
        let noBatch = router.decide(try Self.task(["batch": "only"], model: "flux-2-pro"))
        #expect(noBatch.error?.code == .requirementUnsatisfiable)
        #expect(noBatch.error?.field == "/requirements/batch")
        let tooShort = router.decide(try Self.task(["batch": "only", "deadline": "3h"]))
        #expect(tooShort.error?.code == .requirementUnsatisfiable)
        #expect(tooShort.error?.field == "/requirements/deadline")
        let auto = router.decide(try Self.task(["batch": "only"], model: "auto"))
        #expect(auto.chosen?.batch == true)
        #expect(auto.chosen?.model.provider == "gemini")
        let allBatched = auto.ranked.allSatisfy { $0.batch }
        #expect(allBatched, "only batchable models are candidates")
        #expect(auto.rejected.contains { $0.rejection.reason == "batch_not_supported" })
    }

    @Test("a deadline already past is refused (-32602, field requirements.deadline), pinned or routed")
    func pastDeadline() throws {
        let router = Router(catalog: Self.catalog, policy: .empty(catalog: Self.catalog))
        for model in ["gemini-3.1-flash-image", "auto"] {
            let d = router.decide(try Self.task(["deadline": "2020-01-01T00:00:00Z"], model: model))
            #expect(!d.isRouted)
            #expect(d.error?.code == .requirementUnsatisfiable, "\(model)")
            #expect(d.error?.field == "/requirements/deadline", "\(model)")
        }
    }

    @Test("simulate: tasks with deadlines are counted as batched with their saving, and no route breaks a constraint")
    func simulation() throws {
        let policy = RoutingPolicy.empty(catalog: Self.catalog)
        let tasks = try (0..<10).map { i in
            try Self.task(i < 4 ? ["deadline": "48h"] : [:])
        }
        let report = Simulator.run(workload: tasks, policies: [("p", policy)], catalog: Self.catalog, baselineModel: "gemini-3-pro-image")
        let p = try #require(report.policies.first)
        #expect(p.violations == 0, "\(p.violationExamples)")
        #expect(p.batchTasks == 4)
        #expect(abs(p.batchSavingUSD - 4 * (0.067 - 0.0335)) < 1e-9)
        #expect(report.json["policies"]?.arrayValue?.first?["batch"]?["tasks"] == 4)
        #expect(report.table.contains("saving by batching"))
    }
}
