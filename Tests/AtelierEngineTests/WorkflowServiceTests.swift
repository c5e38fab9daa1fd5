import AtelierCore
import AtelierEngine
import AtelierImaging
import AtelierProviders
import Foundation
import Synchronization
import Testing

/// A provider for workflow tests: a seed-honouring model draws a picture determined by (prompt, seed, size,
/// references), like a diffusion model with a fixed seed; a model that ignores seeds draws something new every call.
/// Charges the model's list price; records every call.
final class WorkflowTestProvider: Provider {
    let id = "wf"
    private let state = Mutex<(calls: [String], failing: Set<String>)>(([], []))

    /// Model ids whose calls fail with a non-retryable error.
    func fail(_ model: String) { state.withLock { _ = $0.failing.insert(model) } }
    var calls: [String] { state.withLock { $0.calls } }

    func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        let failing = state.withLock { s in
            s.calls.append(request.model.id)
            return s.failing.contains(request.model.id)
        }
        if failing { throw ProviderError(.invalidRequest, "scripted failure") }
        let m = request.model
        var key = "\(request.task.positivePrompt)|\(request.size.pixels)|" + request.references.map(\.sha256).joined(separator: ",")
        key += m.seedHonored ? "|seed \(request.seed ?? -1)" : "|\(request.attemptKey)"
        let h = StableHash.fnv1a64(key)
        let png = PNGEncoder.encode(
            RGBImage(width: 16, height: 16, color: RGBColor(r: UInt8(h & 0xFF), g: UInt8((h >> 8) & 0xFF), b: UInt8((h >> 16) & 0xFF))))
        let path = request.scratchDirectory + "/\(request.attemptKey).png"
        _ = FileManager.default.createFile(atPath: path, contents: Data(png))
        var sent: JSONObject = ["model": .string(m.upstreamID), "width": .int(Int64(request.size.pixels.width))]
        if let s = request.seed { sent.append("seed", .int(s)) }
        sent.append("prompt_upsampling", false)
        let cost = m.estimatedCost(request.task, size: request.size)
        return [GeneratedImage(path: path, mimeType: "image/png", seed: m.seedHonored ? request.seed : nil, costUSD: cost, sentParameters: sent)]
    }
}

func wfModel(_ id: String, seed: Bool, refs: Int, usd: Double, perRef: Double, quality: Int = 3) -> ModelCard {
    ModelCard(
        id: id, provider: "wf", kind: .runware, upstreamID: "\(id)-v1", displayName: id, seedHonored: seed, seedAccepted: true, textRendering: 3,
        quality: quality, latencySeconds: 1, maxReferenceImages: refs, maxPromptLength: 1000, numberResults: 1...4, outputFormats: [.png],
        sizes: .range(.init(minWidth: 64, maxWidth: 2048, minHeight: 64, maxHeight: 2048, multipleOf: 8, maxMegapixels: 4.2)),
        price: .perImage(usd: usd, perInputImageUSD: perRef), safetyPolicy: id)
}

/// An engine and a workflow service over one data directory, with a Gemini-like pair (fast, pro: no seeds, 14
/// references) and a seed-native model (flux-seed: seeds, 8 references).
struct WorkflowHarness {
    let fixture: EngineFixture<WorkflowTestProvider>
    let service: WorkflowService
    /// The workflow store (the engine's store is `fixture.store`).
    let store: WorkflowStore

    var engine: Engine { fixture.engine }
    var provider: WorkflowTestProvider { fixture.provider }
    var faults: StoreFaultInjection { fixture.faults }
    var dir: String { fixture.dir }

    /// - Parameter waits: `.instant` (retry waits take no time) or `.live` (real short store retries, for store faults).
    static func make(
        dir: String? = nil, fluxRefs: Int = 8, provider: WorkflowTestProvider = WorkflowTestProvider(),
        waits: EngineFixture<WorkflowTestProvider>.Waits = .instant
    ) async throws -> WorkflowHarness {
        let fixture = try await EngineFixture.make(
            "wf", provider: provider,
            models: [
                wfModel("gem-fast", seed: false, refs: 14, usd: 0.039, perRef: 0.0011, quality: 4),
                wfModel("gem-pro", seed: false, refs: 14, usd: 0.134, perRef: 0.0011, quality: 5),
                wfModel("flux-seed", seed: true, refs: fluxRefs, usd: 0.05, perRef: 0.01, quality: 4),
            ], dir: dir, waits: waits, shutdownGraceSeconds: 5, random: { 0.25 })
        let (service, store) = try await fixture.startWorkflows(random: { 0.5 })
        return WorkflowHarness(fixture: fixture, service: service, store: store)
    }

    func stop() async {
        faults.stop()
        await engine.shutdown()
        await service.stop()
    }

    func cleanup() { fixture.cleanup() }

    /// Submits a workflow request; the answer as the daemon renders it.
    func submit(_ json: String) async throws -> JSONValue {
        let view = try await service.submit(try WorkflowSpec(json: JSONParser.parse(json)))
        return view.workflow.json(jobs: view.jobs)
    }

    func wait(_ id: String) async throws -> Workflow {
        _ = try await service.wait(id, timeoutSeconds: 30)
        return try await service.workflow(id)
    }

    /// Waits until every stage job of the workflow is finished (late variants included); records an issue if that
    /// does not happen within 30 s and returns the workflow as it is then.
    func settle(_ id: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Workflow {
        let settled = try await eventuallyValue(timeout: .seconds(30), "every stage job of \(id) finished", sourceLocation: sourceLocation) {
            let w = try await service.workflow(id)
            return w.variants.allSatisfy(\.isFinished) && (w.final.isFinished || !w.final.isSubmitted) ? w : nil
        }
        if let settled { return settled }
        return try await service.workflow(id)
    }
}

/// Records workflow events.
final class EventLog: Sendable {
    let events = Mutex<[String]>([])
    var all: [String] { events.withLock { $0 } }
}

@Suite("workflows: engine", .serialized)
struct WorkflowServiceTests {
    static let uuid = "3f1e6a52-3c7e-4c7e-9a57-3f3d1b6b2a01"

    @Test func clientSelectionEndToEndWithRecipeAndCost() async throws {
        let h = try await WorkflowHarness.make()
        defer { h.cleanup() }
        let log = EventLog()
        _ = h.service.events.subscribe(workflowUUID: nil) { e in log.events.withLock { $0.append(e.event.rawValue) } }
        let submitted = try await h.submit(
            #"{"workflowUUID":"\#(Self.uuid)","positivePrompt":"SALE poster, red kite","width":1024,"height":1024,"ideation":{"count":4}}"#)
        #expect(submitted["state"] == "ideating")
        let variantsJSON = try #require(submitted["stages"]?["ideation"]?["variants"]?.arrayValue)
        #expect(variantsJSON.count == 4)
        #expect(variantsJSON.allSatisfy { $0["job"]?["taskUUID"] != nil }, "each variant comes with its job")

        var w = try await h.wait(Self.uuid)
        #expect(w.state == .awaitingSelection)
        #expect(log.all.contains("workflow.awaiting_selection"))
        #expect(w.variants.allSatisfy { $0.status == .succeeded && $0.model == "gem-fast" }, "ideation routed to the cheap Gemini-like model")
        #expect(w.variants.allSatisfy { $0.recipe == nil && $0.image?.seedHonored == false }, "no recipe from a model that ignores seeds")
        #expect(Set(w.variants.compactMap(\.image?.sha256)).count == 4, "four different drafts")

        // Variants are ordinary jobs, tagged, visible in job.list.
        let page = try await h.engine.list(status: nil, limit: 100, cursor: nil)
        #expect(page.jobs.filter { $0.task.tags["workflow"] == Self.uuid && $0.task.tags["stage"] == "ideation" }.count == 4)

        let chosen = try #require(w.variants[2].image)
        _ = try await h.service.select(Self.uuid, imageUUID: chosen.imageUUID)
        w = try await h.wait(Self.uuid)
        #expect(w.state == .succeeded)
        #expect(log.all.suffix(2) == ["workflow.finalizing", "workflow.succeeded"])

        let finalJob = try await h.engine.job(w.final.taskUUID)
        #expect(finalJob.route?.model == "flux-seed", "the only seed-honouring model that accepts references")
        #expect(finalJob.task.referenceImages == [.file(path: chosen.path)], "the job carries the chosen image as its reference")
        #expect(finalJob.task.seed == w.finalSeed && finalJob.task.requirements.reproducible)
        let recipe = try #require(w.final.recipe)
        #expect(recipe.model == "flux-seed" && recipe.modelVersion == "flux-seed-v1" && recipe.provider == "wf")
        #expect(recipe.seed == w.finalSeed)
        #expect(recipe.referenceSHA256 == [chosen.sha256])
        #expect(recipe.parameters["prompt_upsampling"] == false, "switches that were sent are recorded")
        #expect(recipe.sha256 == w.final.image?.sha256)

        // Cost, by hand: ideation 4 × $0.039 = $0.156; final $0.05 + $0.01 (one reference) = $0.06; total $0.216.
        // All on gem-pro (the most expensive candidate): 4 × $0.134 + ($0.134 + $0.0011) = $0.6711; saving $0.4551.
        let c = w.cost
        #expect(abs(c.ideationUSD - 0.156) < 1e-9)
        #expect(abs(c.finalUSD - 0.06) < 1e-9)
        #expect(abs(c.totalUSD - 0.216) < 1e-9)
        #expect(c.baseline?.model == "gem-pro")
        #expect(abs((c.baseline?.totalUSD ?? 0) - 0.6711) < 1e-9)
        #expect(abs((c.savingsUSD ?? 0) - 0.4551) < 1e-9)
        let view = try await h.service.get(Self.uuid)
        let json = view.workflow.json(jobs: view.jobs)
        #expect(json["cost"]?["savingsPercent"] == .double(67.8))
        #expect(json["stages"]?["final"]?["recipe"]?["seed"] == .int(w.finalSeed))

        // Reproducing the final gives the same bytes; reproducing a draft is refused with the reason.
        let r = try await h.engine.reproduce(w.final.taskUUID, timeoutSeconds: 30)
        #expect(r.identical == true)
        await #expect(throws: AtelierError.self) { _ = try await h.engine.reproduce(w.variants[0].taskUUID, timeoutSeconds: 30) }
        do {
            _ = try await h.engine.reproduce(w.variants[0].taskUUID, timeoutSeconds: 30)
        } catch {
            #expect(error.code == .notReproducible)
            #expect(error.message.contains("gem-fast does not reproduce images from a seed"))
        }
        // Idempotent resubmission of the same request returns the same workflow.
        let again = try await h.submit(
            #"{"workflowUUID":"\#(Self.uuid)","positivePrompt":"SALE poster, red kite","width":1024,"height":1024,"ideation":{"count":4}}"#)
        #expect(again["state"] == "succeeded")
        await #expect(throws: AtelierError.self) {
            _ = try await h.submit(#"{"workflowUUID":"\#(Self.uuid)","positivePrompt":"another"}"#)
        }
        await h.stop()
    }

    @Test func firstSelectionContinuesOnTheFirstSuccessfulVariant() async throws {
        let h = try await WorkflowHarness.make()
        defer { h.cleanup() }
        let json = try await h.submit(
            #"{"positivePrompt":"a kite","aspectRatio":"1:1","ideation":{"count":3},"selection":{"mode":"first"},"final":{"seed":99}}"#)
        let id = try #require(json["workflowUUID"]?.stringValue)
        let w = try await h.wait(id)
        #expect(w.state == .succeeded)
        let sel = try #require(w.selection)
        #expect(sel.by == .first)
        #expect(w.variants[sel.variantIndex].status == .succeeded)
        let finalJob = try await h.engine.job(w.final.taskUUID)
        #expect(finalJob.task.referenceImages == [.file(path: w.variants[sel.variantIndex].image!.path)])
        #expect(finalJob.task.seed == 99 && w.final.image?.seed == 99)
        let settled = try await h.settle(id)
        let allFinished = settled.variants.allSatisfy { $0.isFinished }
        #expect(allFinished, "the other variants still finish and are counted")
        await h.stop()
    }

    @Test func failedVariantsAreSkippedAndAllFailedFailsTheWorkflow() async throws {
        let provider = WorkflowTestProvider()
        provider.fail("gem-fast")
        let h = try await WorkflowHarness.make(provider: provider)
        defer { h.cleanup() }
        let json = try await h.submit(#"{"positivePrompt":"a kite","ideation":{"count":2,"model":"gem-fast"}}"#)
        let w = try await h.wait(json["workflowUUID"]!.stringValue!)
        #expect(w.state == .failed)
        #expect(w.error?.message.contains("every ideation variant failed") == true)
        #expect(w.final.isSubmitted == false)
        await h.stop()
    }

    @Test func finalRefusedWhenNoSeedHonouringModelTakesAReference() async throws {
        let h = try await WorkflowHarness.make(fluxRefs: 0)
        defer { h.cleanup() }
        do {
            _ = try await h.submit(#"{"workflowUUID":"\#(Self.uuid)","positivePrompt":"a kite","ideation":{"count":2}}"#)
            Issue.record("expected no_route")
        } catch let error as AtelierError {
            #expect(error.code == .noRoute)
            #expect(error.details["stage"] == "final")
            let rejections = try #require(error.details["rejections"]?.objectValue)
            #expect(rejections["flux-seed"]?.stringValue?.hasPrefix("too_many_references") == true)
            #expect(rejections["gem-fast"]?.stringValue?.hasPrefix("ignores_seed") == true)
            #expect(rejections["gem-pro"]?.stringValue?.hasPrefix("ignores_seed") == true)
        }
        // Nothing was stored or spent.
        #expect(try await h.engine.list(status: nil, limit: 10, cursor: nil).jobs.isEmpty)
        await #expect(throws: AtelierError.self) { _ = try await h.service.get(Self.uuid) }
        #expect(h.provider.calls.isEmpty)

        // Pinning a model that ignores seeds for the final names the field.
        do {
            _ = try await h.submit(#"{"positivePrompt":"a kite","final":{"model":"gem-pro"}}"#)
            Issue.record("expected requirement_unsatisfiable")
        } catch let error as AtelierError {
            #expect(error.code == .requirementUnsatisfiable)
            #expect(error.field == "/final/model")
        }
        // Without the reference, the seed model can take the final.
        let ok = try await h.submit(#"{"positivePrompt":"a kite","ideation":{"count":1},"final":{"useSelectedAsReference":false}}"#)
        #expect(ok["state"] == "ideating")
        await h.stop()
    }

    @Test func restartWhileAwaitingSelection() async throws {
        let dir = "/tmp/wf-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await WorkflowHarness.make(dir: dir)
        _ = try await first.submit(#"{"workflowUUID":"\#(Self.uuid)","positivePrompt":"a kite","ideation":{"count":2}}"#)
        let waiting = try await first.wait(Self.uuid)
        #expect(waiting.state == .awaitingSelection)
        await first.stop()

        let second = try await WorkflowHarness.make(dir: dir)
        var w = try await second.service.workflow(Self.uuid)
        #expect(w.state == .awaitingSelection)
        #expect(w == waiting, "the stored workflow is exactly what was there before the restart")
        _ = try await second.service.select(Self.uuid, imageUUID: w.variants[1].image!.imageUUID)
        w = try await second.wait(Self.uuid)
        #expect(w.state == .succeeded)
        #expect(second.provider.calls == ["flux-seed"], "no variant ran again")
        await second.stop()
    }

    @Test func restartAfterSelectionBeforeTheFinalWasSubmittedOrRecorded() async throws {
        let dir = "/tmp/wf-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await WorkflowHarness.make(dir: dir)
        let idA = "4a1e6a52-3c7e-4c7e-9a57-3f3d1b6b2a01"
        let idB = "5b1e6a52-3c7e-4c7e-9a57-3f3d1b6b2a01"
        for id in [idA, idB] { _ = try await first.submit(#"{"workflowUUID":"\#(id)","positivePrompt":"a kite \#(id)","ideation":{"count":1}}"#) }
        var a = try await first.wait(idA)
        var b = try await first.wait(idB)
        // From here on, play the daemon's part by hand (the service no longer listens).
        await first.service.stop()
        let store = WorkflowStore(jobs: try JobStore(path: dir + "/atelier.sqlite", durability: .normal))
        // A: the selection is committed, then the daemon dies before submitting the final.
        _ = try WorkflowMachine.apply(.select(imageUUID: a.variants[0].image!.imageUUID), to: &a, now: .now())
        try await store.update(a)
        // B: the selection and the final job are committed, then the daemon dies before the workflow records the job.
        _ = try WorkflowMachine.apply(.select(imageUUID: b.variants[0].image!.imageUUID), to: &b, now: .now())
        try await store.update(b)
        let early = try await first.engine.submit(b.finalTask!)
        _ = try await first.engine.wait(early.taskUUID, timeoutSeconds: 10)
        await first.engine.shutdown()

        let second = try await WorkflowHarness.make(dir: dir)
        let doneA = try await second.wait(idA)
        let doneB = try await second.wait(idB)
        #expect(doneA.state == .succeeded && doneB.state == .succeeded)
        #expect(doneB.final.taskUUID == early.taskUUID)
        let finals = try await second.engine.list(status: nil, limit: 100, cursor: nil).jobs.filter { $0.task.tags["stage"] == "final" }
        #expect(finals.count == 2, "one final per workflow, never two")
        #expect(second.provider.calls == ["flux-seed"], "only A's final ran after the restart")
        await second.stop()
    }

    @Test func cancelWhileAwaitingSelection() async throws {
        let h = try await WorkflowHarness.make()
        defer { h.cleanup() }
        _ = try await h.submit(#"{"workflowUUID":"\#(Self.uuid)","positivePrompt":"a kite","ideation":{"count":1}}"#)
        let w = try await h.wait(Self.uuid)
        let c = try await h.service.cancel(Self.uuid)
        #expect(c.workflow.state == .cancelled)
        do {
            _ = try await h.service.select(Self.uuid, imageUUID: w.variants[0].image!.imageUUID)
            Issue.record("expected invalid_state")
        } catch { #expect(error.code == .invalidState) }
        await #expect(throws: AtelierError.self) { _ = try await h.service.cancel(Self.uuid) }
        let list = try await h.service.list(state: .cancelled, limit: 10, cursor: nil)
        #expect(list.workflows.count == 1)
        await h.stop()
    }
}
