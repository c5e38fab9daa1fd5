import Testing

@testable import AtelierCore

/// `workflow.submit`'s `ideation.consistency` and `final.preserve` (docs/consistency.md, "In workflows").
@Suite("Workflow: consistency and preserve")
struct WorkflowConsistencyTests {
    static func spec(_ extra: JSONObject) throws -> WorkflowSpec {
        var o: JSONObject = ["positivePrompt": "the same mug, on a beach", "aspectRatio": "1:1", "resolution": "1K"]
        for (k, v) in extra { o[k] = v }
        return try WorkflowSpec(json: .object(o))
    }

    @Test func draftsAreBestOfNAgainstTheReferencesWithoutASeed() throws {
        let s = try Self.spec([
            "referenceImages": ["/srv/shots/mug.png"], "ideation": ["count": 3, "consistency": ["samples": 2, "minScore": 0.8]],
        ])
        #expect(s.referenceImages == [.file(path: "/srv/shots/mug.png")])
        #expect(s.ideationConsistency == ConsistencyRequest(samples: 2, minScore: 0.8))
        let draft = s.variantTask(1)
        #expect(draft.consistency == s.ideationConsistency)
        #expect(draft.referenceImages == s.referenceImages)
        #expect(draft.seed == nil)
        #expect(draft.pricedImages == 2)
        // The canonical form reads back equal.
        #expect(try WorkflowSpec(json: s.json) == s)
        // Without consistency the drafts keep their seeds.
        #expect(try Self.spec([:]).variantTask(1).seed != nil)
    }

    @Test func finalPreserveGoesOnTheFinalTask() throws {
        let s = try Self.spec(["final": ["preserve": ["rect": ["x": 10, "y": 10, "width": 100, "height": 80], "mode": "composite"]]])
        let region = try #require(s.finalPreserve)
        #expect(region.mode == .composite)
        let final = s.finalTask(seed: 7, reference: "/data/images/draft.png")
        #expect(final.preserve == region)
        #expect(final.referenceImages == [.file(path: "/data/images/draft.png")])
        #expect(try WorkflowSpec(json: s.json) == s)
    }

    @Test func badMembersAreRefusedWithTheField() throws {
        func field(_ extra: JSONObject) -> String? {
            do {
                _ = try Self.spec(extra)
                return nil
            } catch { return (error as? AtelierError)?.field }
        }
        #expect(field(["ideation": ["consistency": ["samples": 2]]]) == "/ideation/consistency/against")
        #expect(field(["referenceImages": ["/a.png"], "ideation": ["consistency": ["samples": 1]]]) == "/ideation/consistency/samples")
        #expect(
            field(["final": ["useSelectedAsReference": false, "preserve": ["rect": ["x": 0, "y": 0, "width": 8, "height": 8], "mode": "measure"]]])
                == "/final/preserve")
        #expect(field(["final": ["preserve": ["mode": "measure"]]]) == "/final/preserve/mask")
    }

    @Test func theWorkflowRanksScoredDraftsBestFirst() throws {
        let s = try Self.spec(["referenceImages": ["/srv/shots/mug.png"], "ideation": ["count": 3, "consistency": ["samples": 2]]])
        var w = Workflow(spec: s, finalSeed: 1, createdAt: .now())
        w.variants[0].score = 0.7
        w.variants[2].score = 0.9
        #expect(w.ranking == [2, 0])
        let ideation = w.json()["stages"]?["ideation"]
        #expect(ideation?["ranking"]?.arrayValue?.map { $0["index"] } == [.int(2), .int(0)])
        #expect(ideation?["variants"]?.arrayValue?[2]["score"] == .number(0.9))
    }
}
