import AtelierCore
import Foundation
import Testing

/// A finished (or running) stage job, as the engine would report it.
func stageJob(
    _ task: ImageTask, _ status: JobStatus = .succeeded, model: String = "gem-fast", cost: Double? = 0.039, seedHonored: Bool = false,
    finishedAt: Int64 = 1_000, error: AtelierError? = nil, recipe: Recipe? = nil
) -> Job {
    var j = Job(
        task: task, status: status, createdAt: Timestamp(milliseconds: 500),
        route: RouteSummary(provider: "p", model: model, reasons: [], estimatedCostUSD: cost ?? 0))
    if status == .succeeded {
        let id = UUIDv4.derived(from: "image:" + task.taskUUID)
        j.results = [
            JobResult(
                imageUUID: id, path: "/data/images/\(task.taskUUID)/\(id).png", mimeType: "image/png", width: 1024, height: 1024, bytes: 10,
                sha256: String(repeating: "a", count: 64), seed: seedHonored ? task.seed : nil, seedHonored: seedHonored, costUSD: cost,
                recipe: recipe)
        ]
    }
    if status.isTerminal {
        j.costUSD = status == .succeeded ? cost : nil
        j.finishedAt = Timestamp(milliseconds: finishedAt)
        j.error = error ?? (status == .failed ? AtelierError(.unavailable, "down") : nil)
    }
    return j
}

let wfUUID = "0b1e6a52-3c7e-4c7e-9a57-3f3d1b6b2a01"

func spec(_ extra: String = "", count: Int = 3, mode: String = "client") throws -> WorkflowSpec {
    try WorkflowSpec(
        json: try JSONParser.parse(
            #"{"workflowUUID":"\#(wfUUID)","positivePrompt":"a red kite","aspectRatio":"1:1","ideation":{"count":\#(count)},"selection":{"mode":"\#(mode)"}\#(extra)}"#
        ))
}

@Suite("workflow: request")
struct WorkflowSpecTests {
    @Test func defaultsAndCanonicalForm() throws {
        let s = try WorkflowSpec(json: try JSONParser.parse(#"{"positivePrompt":"a kite"}"#))
        #expect(s.ideationCount == 4)
        #expect(s.ideationModel == "auto" && s.finalModel == "auto")
        #expect(s.selectionMode == .client)
        #expect(s.useSelectedAsReference)
        #expect(s.finalSeed == nil)
        let again = try WorkflowSpec(json: s.json)
        #expect(JSONWriter.string(again.json) == JSONWriter.string(s.json), "canonical JSON round-trips byte for byte")
    }

    @Test func strictFieldsAndRanges() throws {
        func code(_ text: String) -> (String?, String?) {
            do {
                _ = try WorkflowSpec(json: try JSONParser.parse(text))
                return (nil, nil)
            } catch let e as AtelierError { return (e.code.rawValue, e.field) } catch { return ("?", nil) }
        }
        #expect(code(#"{"positivePrompt":"x","ideation":{"count":0}}"#) == ("invalid_value", "/ideation/count"))
        #expect(code(#"{"positivePrompt":"x","ideation":{"count":17}}"#) == ("invalid_value", "/ideation/count"))
        #expect(code(#"{"positivePrompt":"x","ideation":{"cout":2}}"#) == ("unknown_field", "/ideation/cout"))
        #expect(code(#"{"positivePrompt":"x","selection":{"mode":"best"}}"#) == ("invalid_value", "/selection/mode"))
        #expect(code(#"{"positivePrompt":"x","final":{"seed":-1}}"#) == ("invalid_value", "/final/seed"))
        #expect(code(#"{"positivePrompt":"x","width":512}"#) == ("invalid_dimensions", "/height"))
        #expect(code(#"{"prompt":"x"}"#) == ("missing_field", "/positivePrompt"))
        #expect(code(#"{"positivePrompt":"x","ideation":{"tags":{"workflow":"w"}}}"#) == ("invalid_value", "/ideation/tags/workflow"))
        #expect(code(#"{"positivePrompt":"x","uploadEndpoint":["https://a/1","https://a/2"]}"#) == ("upload_count_mismatch", "/uploadEndpoint"))
        #expect(code(#"{"positivePrompt":"x","workflowUUID":"nope"}"#) == ("invalid_uuid", "/workflowUUID"))
        #expect(code(#"{"positivePrompt":"x","width":1001,"height":999,"final":{"resolution":"2K"}}"#) == ("invalid_dimensions", "/final/resolution"))
    }

    @Test func stageTasksAreDerivedAndTagged() throws {
        let s = try spec(#","negativePrompt":"blur","final":{"seed":77,"resolution":"2K","promptOverride":"a red kite, poster"}"#)
        let v0 = s.variantTask(0)
        let v1 = s.variantTask(1)
        #expect(v0.taskUUID == WorkflowSpec.variantTaskUUID(wfUUID, 0))
        #expect(v0.taskUUID != v1.taskUUID && v0.seed != v1.seed)
        #expect(v0.taskUUID == s.variantTask(0).taskUUID && v0.seed == s.variantTask(0).seed, "stable across calls")
        #expect(v0.phase == .ideation && !v0.requirements.reproducible)
        #expect(v0.tags == ["workflow": wfUUID, "stage": "ideation", "variant": "0"])
        let f = s.finalTask(seed: 77, reference: "/data/images/x/y.png")
        #expect(f.taskUUID == WorkflowSpec.finalTaskUUID(wfUUID))
        #expect(f.seed == 77 && f.requirements.reproducible && f.phase == .final)
        #expect(f.referenceImages == [.file(path: "/data/images/x/y.png")])
        #expect(f.positivePrompt == "a red kite, poster" && f.negativePrompt == "blur")
        #expect(f.size == .tier(aspectRatio: AspectRatio("1:1"), resolution: .r2K))
        #expect(f.tags == ["workflow": wfUUID, "stage": "final"])
        #expect(f.numberResults == 1)
    }

    @Test func finalResolutionKeepsTheRatioOfPixelSizes() throws {
        let s = try WorkflowSpec(json: try JSONParser.parse(#"{"positivePrompt":"x","width":1376,"height":768,"final":{"resolution":"2K"}}"#))
        #expect(s.finalSize == .tier(aspectRatio: AspectRatio(width: 43, height: 24), resolution: .r2K))
    }
}

@Suite("workflow: state machine")
struct WorkflowMachineTests {
    func make(_ s: WorkflowSpec, seed: Int64 = 4242) -> Workflow { Workflow(spec: s, finalSeed: seed, createdAt: Timestamp(milliseconds: 0)) }
    let now = Timestamp(milliseconds: 5_000)

    func submitted(_ actions: [WorkflowAction]) -> [ImageTask] {
        actions.compactMap { if case .submit(let t) = $0 { return t } else { return nil } }
    }
    func emitted(_ actions: [WorkflowAction]) -> [WorkflowEventKind] {
        actions.compactMap { if case .emit(let e) = $0 { return e } else { return nil } }
    }

    @Test func startSubmitsEveryVariant() throws {
        let w = make(try spec())
        let a = WorkflowMachine.start(w)
        #expect(submitted(a).map(\.taskUUID) == (0..<3).map { WorkflowSpec.variantTaskUUID(wfUUID, $0) })
        #expect(emitted(a) == [.created])
        #expect(w.state == .ideating)
    }

    @Test func clientSelectionWaitsThenFinalCarriesReferenceSeedAndReproducibility() throws {
        var w = make(try spec())
        // Submissions acknowledged: recorded, no transition.
        for i in 0..<3 {
            #expect(try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(i), .queued)), to: &w, now: now).isEmpty)
        }
        #expect(w.variants.allSatisfy { $0.status == .queued })
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0))), to: &w, now: now)
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(1), .failed)), to: &w, now: now)
        #expect(w.state == .ideating)
        let a = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(2))), to: &w, now: now)
        #expect(w.state == .awaitingSelection)
        #expect(emitted(a) == [.variantFinished, .awaitingSelection])
        #expect(submitted(a).isEmpty)

        // Selecting a failed variant or an unknown image is refused and changes nothing.
        let before = w
        #expect(throws: AtelierError.self) { try WorkflowMachine.apply(.select(imageUUID: UUIDv4.generate()), to: &w, now: now) }
        #expect(w == before)

        let chosen = try #require(w.variants[2].image)
        let s = try WorkflowMachine.apply(.select(imageUUID: chosen.imageUUID), to: &w, now: now)
        #expect(w.state == .finalizing)
        #expect(w.selection?.variantIndex == 2 && w.selection?.by == .client)
        let final = try #require(submitted(s).first)
        #expect(final.taskUUID == WorkflowSpec.finalTaskUUID(wfUUID))
        #expect(final.referenceImages == [.file(path: chosen.path)])
        #expect(final.seed == 4242)
        #expect(final.requirements.reproducible)
        #expect(emitted(s) == [.finalizing])
        // Selecting the same image again is a no-op; another one is refused.
        #expect(try WorkflowMachine.apply(.select(imageUUID: chosen.imageUUID), to: &w, now: now).isEmpty)
        #expect(throws: AtelierError.self) { try WorkflowMachine.apply(.select(imageUUID: w.variants[0].image!.imageUUID), to: &w, now: now) }

        let recipe = Recipe(
            provider: "bfl", model: "flux-seed", modelVersion: "flux-2-pro", seed: 4242, parameters: ["seed": 4242, "prompt_upsampling": false],
            referenceSHA256: [chosen.sha256], sha256: String(repeating: "b", count: 64), width: 1024, height: 1024, mimeType: "image/png")
        let done = try WorkflowMachine.apply(
            .job(stageJob(final, model: "flux-seed", cost: 0.03, seedHonored: true, recipe: recipe)), to: &w, now: now)
        #expect(w.state == .succeeded)
        #expect(emitted(done) == [.succeeded])
        #expect(w.final.recipe == recipe)
        #expect(w.final.image?.seed == 4242)
    }

    @Test func firstModeFinishesTheFirstVariantToSucceed() throws {
        var w = make(try spec(mode: "first"))
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(1), .failed)), to: &w, now: now)
        let a = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(2))), to: &w, now: now)
        #expect(w.state == .finalizing)
        #expect(w.selection?.variantIndex == 2 && w.selection?.by == .first)
        #expect(submitted(a).first?.referenceImages == [.file(path: w.variants[2].image!.path)])
        // A later variant is recorded (its cost counts) but changes nothing else.
        let late = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0))), to: &w, now: now)
        #expect(submitted(late).isEmpty)
        #expect(w.selection?.variantIndex == 2)
        #expect(w.variants[0].status == .succeeded)
    }

    @Test func everyVariantFailedFailsTheWorkflow() throws {
        var w = make(try spec(count: 2))
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0), .failed)), to: &w, now: now)
        let a = try WorkflowMachine.apply(
            .submitFailed(taskUUID: w.variants[1].taskUUID, error: AtelierError(.budgetExceeded, "over")), to: &w, now: now)
        #expect(w.state == .failed)
        #expect(emitted(a).last == .failed)
        #expect(w.error?.message.contains("every ideation variant failed") == true)
        #expect(throws: AtelierError.self) { try WorkflowMachine.apply(.cancel, to: &w, now: now) }
    }

    @Test func finalThatCannotBeRoutedFailsWithTheReasons() throws {
        var w = make(try spec(count: 1))
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0))), to: &w, now: now)
        _ = try WorkflowMachine.apply(.select(imageUUID: w.variants[0].image!.imageUUID), to: &w, now: now)
        let noRoute = AtelierError(
            .noRoute, "no model can serve this task (1 ignores_seed, 1 too_many_references)",
            details: ["rejections": ["gem-fast": "ignores_seed", "flux-seed": "too_many_references: 1 > 0"]])
        let a = try WorkflowMachine.apply(.submitFailed(taskUUID: w.final.taskUUID, error: noRoute), to: &w, now: now)
        #expect(w.state == .failed)
        #expect(w.error == noRoute)
        #expect(emitted(a) == [.failed])
    }

    @Test func cancelCancelsRunningStageJobs() throws {
        var w = make(try spec(count: 2))
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0), .running)), to: &w, now: now)
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(1))), to: &w, now: now)
        let a = try WorkflowMachine.apply(.cancel, to: &w, now: now)
        #expect(w.state == .cancelled)
        #expect(a.first == .cancelJobs([w.variants[0].taskUUID]))
        #expect(emitted(a) == [.cancelled])
        // The cancelled job's end is still recorded.
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0), .cancelled)), to: &w, now: now)
        #expect(w.variants[0].status == .cancelled && w.state == .cancelled)
    }

    @Test func reconciliationResubmitsMissingJobsIdempotently() throws {
        var w = make(try spec(count: 2))
        let a = try WorkflowMachine.apply(.jobMissing(taskUUID: w.variants[1].taskUUID), to: &w, now: now)
        #expect(submitted(a) == [w.spec.variantTask(1)])
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0))), to: &w, now: now)
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(1))), to: &w, now: now)
        _ = try WorkflowMachine.apply(.select(imageUUID: w.variants[1].image!.imageUUID), to: &w, now: now)
        // The daemon stopped after storing the selection but before the final job was stored.
        let b = try WorkflowMachine.apply(.jobMissing(taskUUID: w.final.taskUUID), to: &w, now: now)
        #expect(submitted(b) == [w.finalTask!])
        // Duplicate reports of a finished job change nothing.
        let copy = w
        #expect(try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0), .failed)), to: &w, now: now).isEmpty)
        #expect(w == copy)
    }

    @Test func finalFinishingBeforeItsAcknowledgementIsRecorded() throws {
        var w = make(try spec(count: 1, mode: "first"))
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0))), to: &w, now: now)
        let final = w.finalTask!
        _ = try WorkflowMachine.apply(.job(stageJob(final, model: "flux-seed", seedHonored: true)), to: &w, now: now)
        #expect(w.state == .succeeded)
        // The (late) submission answer says queued: ignored.
        #expect(try WorkflowMachine.apply(.job(stageJob(final, .queued)), to: &w, now: now).isEmpty)
        #expect(w.final.status == .succeeded)
    }

    @Test func storageRoundTrip() throws {
        var w = make(try spec(count: 2))
        w.baseline = CostBaseline(model: "gem-pro", ideationUSD: 0.268, finalUSD: 0.1351)
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(0))), to: &w, now: now)
        _ = try WorkflowMachine.apply(.job(stageJob(w.spec.variantTask(1))), to: &w, now: now)
        _ = try WorkflowMachine.apply(.select(imageUUID: w.variants[1].image!.imageUUID), to: &w, now: now)
        let back = try Workflow(storageJSON: try JSONParser.parse(JSONWriter.string(w.storageJSON)))
        #expect(back == w)
    }

    @Test func storedStageJobStatusIsNeverCoerced() throws {
        let pending = try StageJob(json: try JSONParser.parse(#"{"taskUUID": "t", "status": "pending"}"#))
        #expect(pending.status == nil)
        let done = try StageJob(json: try JSONParser.parse(#"{"taskUUID": "t", "status": "succeeded"}"#))
        #expect(done.status == .succeeded)
        // An unknown stored status is a corrupt row: it must not read back as "not submitted yet".
        let error = try #require(throws: AtelierError.self) {
            try StageJob(json: try JSONParser.parse(#"{"taskUUID": "t", "status": "exploded"}"#))
        }
        #expect(error.field == "/status")
        #expect(error.message.contains("exploded"))
    }
}

@Suite("workflow: cost")
struct WorkflowCostTests {
    func card(_ id: String, price: PriceRule, seed: Bool, refs: Int) -> ModelCard {
        ModelCard(
            id: id, provider: "p", kind: .runware, upstreamID: id, displayName: id, seedHonored: seed, seedAccepted: true, textRendering: 3,
            quality: 3, latencySeconds: 1, maxReferenceImages: refs, maxPromptLength: 1000, numberResults: 1...4, outputFormats: [.png],
            sizes: .range(.init(minWidth: 64, maxWidth: 2048, minHeight: 64, maxHeight: 2048, multipleOf: 8, maxMegapixels: 4.2)),
            price: price)
    }

    /// Checked by hand: 4 variants on gem-fast ($0.039) + a final on flux-seed ($0.03 + $0.01 per reference);
    /// all on gem-pro ($0.134 + $0.0011 per reference): 4 × 0.134 + 0.1351 = 0.6711; the hybrid projects
    /// 4 × 0.039 + 0.04 = 0.196, saving 0.4751 (70.8 %).
    @Test func costByStageTotalAndTheMostExpensiveCandidate() throws {
        let s = try WorkflowSpec(json: try JSONParser.parse(#"{"positivePrompt":"x","width":1024,"height":1024,"ideation":{"count":4}}"#))
        let fast = card("gem-fast", price: .perImage(usd: 0.039, perInputImageUSD: 0.0011), seed: false, refs: 14)
        let pro = card("gem-pro", price: .perImage(usd: 0.134, perInputImageUSD: 0.0011), seed: false, refs: 14)
        let flux = card("flux-seed", price: .perImage(usd: 0.03, perInputImageUSD: 0.01), seed: true, refs: 8)
        let textOnly = card("pricey-no-refs", price: .perImage(usd: 5, perInputImageUSD: 0), seed: true, refs: 0)
        let baseline = try #require(
            CostBaseline.mostExpensive(
                candidates: [fast, flux, pro, textOnly, fast], variant: s.variantTask(0), count: 4, final: s.finalProbeTask(seed: 1)))
        #expect(baseline.model == "gem-pro", "a model that cannot take the final's reference is not a candidate")
        #expect(abs(baseline.ideationUSD - 0.536) < 1e-12)
        #expect(abs(baseline.finalUSD - 0.1351) < 1e-12)

        var w = Workflow(spec: s, finalSeed: 1, createdAt: Timestamp(milliseconds: 0), baseline: baseline)
        for i in 0..<4 { w.variants[i].estimatedCostUSD = 0.039 }
        w.final.estimatedCostUSD = 0.04
        var c = w.cost
        #expect(c.totalUSD == 0)
        #expect(abs(c.projectedTotalUSD - 0.196) < 1e-12)
        let now = Timestamp(milliseconds: 1)
        for i in 0..<4 { _ = try WorkflowMachine.apply(.job(stageJob(s.variantTask(i), cost: 0.039)), to: &w, now: now) }
        _ = try WorkflowMachine.apply(.select(imageUUID: w.variants[0].image!.imageUUID), to: &w, now: now)
        _ = try WorkflowMachine.apply(.job(stageJob(w.finalTask!, model: "flux-seed", cost: 0.04, seedHonored: true)), to: &w, now: now)
        c = w.cost
        #expect(abs(c.ideationUSD - 0.156) < 1e-12)
        #expect(abs(c.finalUSD - 0.04) < 1e-12)
        #expect(abs(c.totalUSD - 0.196) < 1e-12)
        #expect(abs(c.savingsUSD! - 0.4751) < 1e-12)
        let json = c.json
        #expect(json["totalUSD"] == .double(0.196))
        #expect(json["allOnMostExpensive"]?["totalUSD"] == .double(0.6711))
        #expect(json["savingsUSD"] == .double(0.4751))
        #expect(json["savingsPercent"] == .double(70.8))
    }
}

@Suite("recipes")
struct RecipeTests {
    let recipe = Recipe(
        provider: "local", model: "local-render", modelVersion: "atelier-local-v1", seed: 42,
        parameters: ["renderer": "atelier-local-v1", "seed": 42, "width": 512, "height": 384, "outputFormat": "PNG"], referenceSHA256: [],
        sha256: String(repeating: "c", count: 64), width: 512, height: 384, mimeType: "image/png")

    func job(seedHonored: Bool = true, recipe: Recipe?) -> Job {
        var t = ImageTask(
            taskUUID: "5b0c1a52-1b7e-4c7e-9a57-3f3d1b6b2a01", positivePrompt: "a lighthouse", model: "local-render",
            size: .pixels(PixelSize(width: 512, height: 384)), seed: 42, tags: ["client": "acme", "workflow": wfUUID],
            webhookURL: "https://example.com/hook")
        t.phase = .final
        var j = Job(
            task: t, status: .succeeded, createdAt: Timestamp(milliseconds: 0),
            route: RouteSummary(provider: "local", model: "local-render", reasons: [], estimatedCostUSD: 0))
        j.results = [
            JobResult(
                imageUUID: "9d8c1a52-1b7e-4c7e-9a57-3f3d1b6b2a01", path: "/x.png", mimeType: "image/png", width: 512, height: 384, bytes: 1,
                sha256: recipe?.sha256 ?? "d", seed: seedHonored ? 42 : nil, seedHonored: seedHonored, costUSD: 0, recipe: recipe)
        ]
        return j
    }

    @Test func resultWithRecipeRoundTrips() throws {
        let r = job(recipe: recipe).results[0]
        let back = try JobResult(json: try JSONParser.parse(JSONWriter.string(r.json)))
        #expect(back == r)
        #expect(back.recipe?.parameters["seed"] == .int(42))
        let none = job(seedHonored: false, recipe: nil).results[0]
        #expect(none.json["recipe"] == .null)
        #expect(try JobResult(json: none.json).recipe == nil)
    }

    @Test func reproductionTaskPinsTheModelAndDropsDelivery() throws {
        let t = Reproduction.task(for: job(recipe: recipe), taskUUID: "1e2c1a52-1b7e-4c7e-9a57-3f3d1b6b2a01")
        #expect(t.model == "local-render" && t.seed == 42 && t.requirements.reproducible)
        #expect(t.size == .pixels(PixelSize(width: 512, height: 384)))
        #expect(t.webhookURL == nil && t.uploadEndpoint == nil && t.phase == nil)
        #expect(t.tags == ["client": "acme", "reproductionOf": "5b0c1a52-1b7e-4c7e-9a57-3f3d1b6b2a01"])
    }

    @Test func documentIsSubmittable() throws {
        let doc = try Reproduction.document(job: job(recipe: recipe)).json
        #expect(doc["seed"] == .int(42))
        #expect(doc["modelVersion"] == .string("atelier-local-v1"))
        #expect(doc["results"]?.arrayValue?.first?["sha256"] == .string(recipe.sha256))
        let params = try Reproduction.taskParams(fromDocument: doc)
        let task = try ImageTask(json: params)
        #expect(task.model == "local-render" && task.seed == 42 && task.requirements.reproducible && task.tags.isEmpty)
        #expect(throws: AtelierError.self) { try Reproduction.taskParams(fromDocument: ["task": [:]]) }
    }

    @Test func nonSeedResultsAreRefusedWithTheReason() throws {
        let e = try #require(Reproduction.refusal(job(seedHonored: false, recipe: nil)))
        #expect(e.code == .notReproducible)
        #expect(e.message.contains("does not reproduce images from a seed"))
        #expect(e.details["seedHonored"] == false)
        #expect(throws: AtelierError.self) { try Reproduction.document(job: job(seedHonored: false, recipe: nil)) }
    }

    @Test func comparisonExplainsDifferences() throws {
        let a = job(recipe: recipe)
        var b = job(recipe: recipe)
        b.taskUUID = "1e2c1a52-1b7e-4c7e-9a57-3f3d1b6b2a01"
        #expect(Reproduction.compare(original: a, reproduction: b).identical == true)
        var r2 = recipe
        r2.modelVersion = "atelier-local-v2"
        r2.sha256 = String(repeating: "e", count: 64)
        b.results[0].recipe = r2
        b.results[0].sha256 = r2.sha256
        let c = Reproduction.compare(original: a, reproduction: b)
        #expect(c.identical == false)
        #expect(c.images.map(\.identical) == [false])
        #expect(c.differences.first?.contains("model version") == true)
    }
}
