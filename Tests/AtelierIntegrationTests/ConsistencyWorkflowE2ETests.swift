import AtelierClient
import AtelierCore
import AtelierImaging
import AtelierTesting
import Foundation
import Testing

/// `workflow.submit` with `referenceImages`, `ideation.consistency` and `final.preserve` end to end
/// (docs/consistency.md, "In workflows"): drafts on the Gemini fake are best-of-N against the references and ranked
/// by score; the final on the seed-native BFL fake keeps a protected region of the selected draft.
@Suite("Consistency in workflows end to end", .serialized)
struct ConsistencyWorkflowE2ETests {
    @Test func draftsAreRankedByScoreAndTheFinalKeepsTheRegion() async throws {
        try await FakeWorld.run("con-wf", providers: ["gemini", "bfl"]) { world in
            let prompt = "a red kite over the dunes \(E2E.marker())"
            let (refPath, _) = try ConsistencyE2ETests.reference(world.dir, prompt: prompt)
            let id = UUIDv4.generate()
            let rect: JSONValue = ["x": 100, "y": 120, "width": 300, "height": 200]
            _ = try await world.call(
                "workflow.submit",
                [
                    "workflowUUID": .string(id), "positivePrompt": .string(prompt), "aspectRatio": "1:1", "resolution": "1K",
                    "referenceImages": [.string(refPath)],
                    "ideation": ["count": 3, "model": "gemini-3.1-flash-image", "consistency": ["samples": 2]],
                    "selection": ["mode": "client"], "final": ["seed": 99, "preserve": ["rect": rect, "mode": "composite"]],
                ])
            var w = try await world.call("workflow.wait", ["workflowUUID": .string(id), "timeoutSeconds": 180])
            #expect(w["state"] == "awaiting_selection", "\(w["error"] ?? .null)")
            #expect(w["request"]?["ideation"]?["consistency"]?["samples"] == .int(2))
            #expect(w["request"]?["referenceImages"] == [.string(refPath)])
            // Three drafts of two candidates each.
            #expect(world.fakes.gemini.generateRequests.count == 6)
            let variants = try #require(w["stages"]?["ideation"]?["variants"]?.arrayValue)
            var scores: [Double] = []
            for v in variants {
                let job = try await world.wait(try #require(v["taskUUID"]?.stringValue))
                let report = try #require(job.results.first?.consistency)
                #expect(report.candidates.count == 2)
                #expect(job.task.seed == nil && job.task.referenceImages == [.file(path: refPath)])
                #expect(v["score"]?.doubleValue == report.score)
                scores.append(report.score)
            }
            let ranking = try #require(w["stages"]?["ideation"]?["ranking"]?.arrayValue)
            let order = ranking.compactMap { $0["index"]?.intValue }.map(Int.init)
            #expect(order.count == 3)
            #expect(order.map { scores[$0] } == scores.sorted(by: >))

            let best = try #require(order.first)
            let chosen = try #require(variants[best]["image"])
            _ = try await world.call("workflow.select", ["workflowUUID": .string(id), "imageUUID": chosen["imageUUID"]!])
            w = try await world.call("workflow.wait", ["workflowUUID": .string(id), "timeoutSeconds": 180])
            #expect(w["state"] == "succeeded", "\(w["error"] ?? .null)")
            let finalJob = try await world.wait(try #require(w["stages"]?["final"]?["taskUUID"]?.stringValue))
            #expect(finalJob.route?.provider == "bfl")
            let result = try #require(finalJob.results.first)
            let preserve = try #require(result.preserve)
            #expect(preserve.composited)
            // The selected draft's pixels, more than 8 px inside the rectangle, are in the final exactly.
            let draft = try ImageDecoder.decode(try Data(contentsOf: URL(fileURLWithPath: try #require(chosen["path"]?.stringValue))))
            let final = try ImageDecoder.decode(try Data(contentsOf: URL(fileURLWithPath: result.path)))
            #expect(draft.width == final.width && draft.height == final.height)
            var differs = 0
            for y in (120 + 8)..<(120 + 200 - 8) {
                for x in (100 + 8)..<(100 + 300 - 8) {
                    for c in 0..<3
                    where draft.pixels[(y * draft.width + x) * draft.channels + c] != final.pixels[(y * final.width + x) * final.channels + c] {
                        differs += 1
                    }
                }
            }
            #expect(differs == 0)
        }
    }
}
