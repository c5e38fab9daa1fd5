import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierTestSupport
import AtelierTesting
import Foundation
import Testing

/// Provider files for offline workflow tests: the built-in renderer, plus local-kind models that stand in for an
/// ideation-only model (`sketch`: does not honour seeds) and a seed model that takes no reference (`seedy`).
enum WorkflowFixtures {
    static func localModel(_ id: String, seedHonored: Bool, refs: Int) -> String {
        """
        {"id": "\(id)", "upstreamId": "\(id)-v1", "displayName": "\(id)", "seedHonored": \(seedHonored), "seedAccepted": true,
         "textRendering": 4, "quality": 2, "latencySeconds": 0.2, "maxReferenceImages": \(refs), "maxReferenceImageMB": 20,
         "maxPromptLength": 4000, "numberResults": {"min": 1, "max": 4}, "outputFormats": ["PNG"],
         "sizes": {"range": {"minWidth": 64, "maxWidth": 2048, "minHeight": 64, "maxHeight": 2048, "multipleOf": 8, "maxMegapixels": 4.2}},
         "price": {"kind": "free"}, "safetyPolicy": "\(id)"}
        """
    }

    /// A providers directory with `local.json` and a `sketchy` provider holding the given extra models.
    static func providers(in dir: TempDir, extra: [String]) throws -> String {
        let d = dir.path + "/providers"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: PackagePaths.root + "/providers/local.json", toPath: d + "/local.json")
        let text = """
            {"id": "sketchy", "kind": "local", "displayName": "stand-in models", "concurrency": 4, "requestTimeoutSeconds": 60,
             "totalTimeoutSeconds": 120, "retry": {"maxAttempts": 1, "baseDelaySeconds": 0.1, "maxDelaySeconds": 1},
             "models": [\(extra.joined(separator: ","))]}
            """
        try text.write(toFile: d + "/sketchy.json", atomically: true, encoding: .utf8)
        return d
    }

    static func call(_ c: AtelierClient, _ method: String, _ params: JSONValue) async throws -> JSONValue {
        try await c.call(method, params: params)
    }

    /// The JSON-RPC error of a call that must fail.
    static func error(_ c: AtelierClient, _ method: String, _ params: JSONValue) async -> RPCError? {
        do {
            _ = try await c.call(method, params: params)
            return nil
        } catch let e as RPCError { return e } catch { return nil }
    }
}

@Suite("workflows: daemon", .serialized)
struct WorkflowIntegrationTests {
    /// Ideation on the Gemini fake, final on the BFL fake (seed-native), selection by the client; the final carries
    /// the chosen image, the seed and the reproducibility requirement; recipe, reproduction and cost summary.
    @Test func geminiIdeationThenSeedNativeFinalAgainstTheFakes() async throws {
        try await FakeWorld.run("wf-fakes", providers: ["gemini", "bfl"]) { world in
            let c = world.client
            let id = "6c1e6a52-3c7e-4c7e-9a57-3f3d1b6b2a01"
            let submitted = try await world.call(
                "workflow.submit",
                [
                    "workflowUUID": .string(id), "positivePrompt": "a red kite over the dunes, poster", "aspectRatio": "1:1", "resolution": "1K",
                    "ideation": ["count": 2, "model": "gemini-3.1-flash-image"], "selection": ["mode": "client"], "final": ["seed": 1234],
                ])
            #expect(submitted["stages"]?["ideation"]?["variants"]?.arrayValue?.count == 2)
            var w = try await world.call("workflow.wait", ["workflowUUID": .string(id), "timeoutSeconds": 120])
            #expect(w["state"] == "awaiting_selection")
            let variants = try #require(w["stages"]?["ideation"]?["variants"]?.arrayValue)
            for v in variants {
                #expect(v["status"] == "succeeded")
                #expect(v["model"] == "gemini-3.1-flash-image")
                #expect(v["image"]?["seedHonored"] == false)
                #expect(v["recipe"] == .null)
            }
            let chosen = try #require(variants[1]["image"])
            w = try await world.call("workflow.select", ["workflowUUID": .string(id), "imageUUID": chosen["imageUUID"]!])
            w = try await world.call("workflow.wait", ["workflowUUID": .string(id), "timeoutSeconds": 120])
            #expect(w["state"] == "succeeded", "\(w["error"] ?? .null)")

            let final = try #require(w["stages"]?["final"])
            let finalJob = try await world.wait(try #require(final["taskUUID"]?.stringValue))
            #expect(finalJob.route?.provider == "bfl")
            #expect(finalJob.task.referenceImages == [.file(path: chosen["path"]!.stringValue!)])
            #expect(finalJob.task.seed == 1234 && finalJob.task.requirements.reproducible && finalJob.task.phase == .final)
            #expect(finalJob.task.tags == ["workflow": id, "stage": "final"])
            let result = try #require(finalJob.results.first)
            #expect(result.seed == 1234 && result.seedHonored)
            let recipe = try #require(result.recipe)
            #expect(recipe.provider == "bfl" && recipe.model == finalJob.route?.model && recipe.seed == 1234)
            #expect(recipe.referenceSHA256 == [chosen["sha256"]!.stringValue!])
            #expect(recipe.sha256 == result.sha256)
            #expect(recipe.parameters["seed"] == 1234)
            #expect(recipe.parameters["prompt"] == nil, "prompts live in the task, not in the parameters")

            // Cost: stages are what the jobs cost; the baseline is every stage priced on the catalog's most
            // expensive candidate, gemini-3-pro-image at 1K: 2 × $0.134 + ($0.134 + $0.0011 per reference) = $0.4031.
            var ideation = 0.0
            for v in variants { ideation += try await world.wait(v["taskUUID"]!.stringValue!).costUSD ?? 0 }
            let cost = try #require(w["cost"])
            #expect(abs((cost["ideationUSD"]?.doubleValue ?? -1) - ideation) < 1e-6)
            #expect(abs((cost["finalUSD"]?.doubleValue ?? -1) - (finalJob.costUSD ?? 0)) < 1e-6)
            #expect(abs((cost["totalUSD"]?.doubleValue ?? -1) - ideation - (finalJob.costUSD ?? 0)) < 1e-6)
            #expect(cost["allOnMostExpensive"]?["model"] == "gemini-3-pro-image")
            #expect(cost["allOnMostExpensive"]?["totalUSD"]?.doubleValue == 0.4031)
            #expect(cost["savingsUSD"]?.doubleValue != nil)

            // The final reproduces byte for byte on the seed-native fake; a Gemini draft is refused, with the reason.
            let r = try await world.call("job.reproduce", ["taskUUID": .string(finalJob.taskUUID), "timeoutSeconds": 120])
            #expect(r["identical"] == true, "\(r["differences"] ?? .null)")
            let refused = await WorkflowFixtures.error(c, "job.reproduce", ["taskUUID": variants[0]["taskUUID"]!])
            #expect(refused?.stableCode == "not_reproducible")
            #expect(refused?.message.contains("gemini-3.1-flash-image does not reproduce images from a seed") == true)
            let noRecipe = await WorkflowFixtures.error(c, "job.recipe", ["taskUUID": variants[0]["taskUUID"]!])
            #expect(noRecipe?.stableCode == "not_reproducible")
        }
    }

    /// An AUTOMATIC1111 result reproduces byte for byte from its recipe.
    @Test func a1111ResultReproducesExactly() async throws {
        try await FakeWorld.run("wf-a1111", providers: ["a1111"]) { world in
            let job = try await world.run([
                "positivePrompt": "a lighthouse, oil painting", "model": "sd-webui", "width": 512, "height": 512, "seed": 31,
            ])
            #expect(job.status == .succeeded)
            let recipe = try #require(job.results.first?.recipe)
            #expect(recipe.provider == "a1111" && recipe.seed == 31 && recipe.parameters["seed"] == 31)
            let r = try await world.call("job.reproduce", ["taskUUID": .string(job.taskUUID), "timeoutSeconds": 120])
            #expect(r["identical"] == true)
            #expect(r["job"]?["task"]?["tags"]?["reproductionOf"] == .string(job.taskUUID))
        }
    }

    /// State survives `kill -9` while the workflow awaits a selection; the selection then finishes it; the final
    /// reproduces exactly on the built-in renderer; a draft of a model that ignores seeds is refused.
    @Test func killNineWhileAwaitingSelection() async throws {
        let dir = TempDir("wf-kill")
        defer { dir.cleanup() }
        let providers = try WorkflowFixtures.providers(in: dir, extra: [WorkflowFixtures.localModel("sketch", seedHonored: false, refs: 4)])
        let first = try await DaemonProcess.start(in: dir, allowBuiltin: true, extraArguments: ["--providers", providers])
        let c1 = try await first.client()
        let id = "7d1e6a52-3c7e-4c7e-9a57-3f3d1b6b2a01"
        _ = try await c1.call(
            "workflow.submit",
            params: [
                "workflowUUID": .string(id), "positivePrompt": "a paper boat", "width": 320, "height": 240,
                "ideation": ["count": 3, "model": "sketch"],
            ])
        let waiting = try await c1.call("workflow.wait", params: ["workflowUUID": .string(id), "timeoutSeconds": 60])
        #expect(waiting["state"] == "awaiting_selection")
        await first.kill9()

        try await withDaemon(in: dir, extraArguments: ["--providers", providers], dataDir: first.dataDir, socketPath: first.socketPath) { second, c in
            var w = try await c.call("workflow.get", params: ["workflowUUID": .string(id)])
            #expect(w["state"] == "awaiting_selection")
            let variants = try #require(w["stages"]?["ideation"]?["variants"]?.arrayValue)
            let before = waiting["stages"]?["ideation"]?["variants"]?.arrayValue ?? []
            #expect(variants.map { $0["image"] } == before.map { $0["image"] }, "the same variants after the restart")
            let bad = await WorkflowFixtures.error(c, "workflow.select", ["workflowUUID": .string(id), "imageUUID": .string(UUIDv4.generate())])
            #expect(bad?.code == -32602 && bad?.field == "/imageUUID")
            w = try await c.call("workflow.select", params: ["workflowUUID": .string(id), "imageUUID": variants[0]["image"]!["imageUUID"]!])
            w = try await c.call("workflow.wait", params: ["workflowUUID": .string(id), "timeoutSeconds": 60])
            #expect(w["state"] == "succeeded")
            #expect(w["stages"]?["final"]?["model"] == "local-render")
            let finalID = try #require(w["stages"]?["final"]?["taskUUID"]?.stringValue)

            let r = try await c.call("job.reproduce", params: ["taskUUID": .string(finalID)])
            #expect(r["identical"] == true)
            #expect(r["images"]?.arrayValue?.first?["sha256"] == r["images"]?.arrayValue?.first?["reproducedSHA256"])
            let refused = await WorkflowFixtures.error(c, "job.reproduce", ["taskUUID": variants[2]["taskUUID"]!])
            #expect(refused?.stableCode == "not_reproducible")
            #expect(refused?.message.contains("sketch does not reproduce images from a seed") == true)

            let listed = try await c.call("workflow.list", params: ["state": "succeeded"])
            #expect(listed["workflows"]?.arrayValue?.first?["workflowUUID"] == .string(id))
        }
    }

    /// When no seed-honouring model can take a reference, the workflow is refused with no_route and every model's
    /// reason; nothing runs.
    @Test func finalRefusedWithoutASeedModelThatTakesReferences() async throws {
        let dir = TempDir("wf-noroute")
        defer { dir.cleanup() }
        let providers = try WorkflowFixtures.providers(
            in: dir,
            extra: [
                WorkflowFixtures.localModel("sketch", seedHonored: false, refs: 4), WorkflowFixtures.localModel("seedy", seedHonored: true, refs: 0),
            ])
        // The built-in renderer (which takes references) is not allowed for "auto".
        try await withDaemon(in: dir, allowBuiltin: false, extraArguments: ["--providers", providers]) { daemon, c in
            let e = await WorkflowFixtures.error(
                c, "workflow.submit", ["positivePrompt": "a paper boat", "ideation": ["count": 2, "model": "sketch"]])
            #expect(e?.code == -32003)
            #expect(e?.stableCode == "no_route")
            #expect(e?.data?["stage"] == "final")
            let rejections = try #require(e?.data?["rejections"]?.objectValue)
            #expect(rejections["sketch"]?.stringValue?.hasPrefix("ignores_seed") == true)
            #expect(rejections["seedy"]?.stringValue == "too_many_references: 1 > 0")
            #expect(rejections["local-render"]?.stringValue?.hasPrefix("builtin_not_allowed") == true)
            let jobs = try await c.list(limit: 10)
            #expect(jobs.jobs.isEmpty, "nothing was submitted")
        }
    }

    /// `atelier ideate --pick`, `atelier recipe`, `atelier submit --recipe`, `atelier reproduce`.
    @Test func cliIdeateRecipeSubmitRecipeReproduce() async throws {
        let dir = TempDir("wf-cli")
        defer { dir.cleanup() }
        try await withDaemon(in: dir) { daemon, _ in
            let sock = ["--socket", daemon.socketPath]
            let out = dir.path + "/final.png"
            let r = try await runCommand(
                PackagePaths.atelier,
                [
                    "ideate", "a tin robot", "--variants", "2", "--pick", "2", "--width", "256", "--height", "256", "--seed", "5", "--out", out,
                    "--json",
                ]
                    + sock)
            #expect(r.status == 0, "stderr: \(r.stderr)")
            let w = try JSONParser.parse(r.stdout)
            #expect(w["state"] == "succeeded")
            #expect(w["stages"]?["selection"]?["variantIndex"] == 1)
            let finalID = try #require(w["stages"]?["final"]?["taskUUID"]?.stringValue)
            #expect(FileManager.default.fileExists(atPath: out))

            let human = try await runCommand(
                PackagePaths.atelier, ["ideate", "a tin robot", "--variants", "2", "--pick", "first", "--width", "256", "--height", "256"] + sock)
            #expect(human.status == 0, "stderr: \(human.stderr)")
            #expect(human.stderr.contains("variant 1/2"))
            #expect(human.stdout.contains("recipe"))
            #expect(human.stdout.contains("cost"))

            let recipePath = dir.path + "/recipe.json"
            let rec = try await runCommand(PackagePaths.atelier, ["recipe", finalID, "--out", recipePath] + sock)
            #expect(rec.status == 0, "stderr: \(rec.stderr)")
            let doc = try JSONParser.parse(try String(contentsOfFile: recipePath, encoding: .utf8))
            #expect(doc["seed"] == 5 && doc["model"] == "local-render")
            let sub = try await runCommand(PackagePaths.atelier, ["submit", "--recipe", recipePath, "--wait", "--json"] + sock)
            #expect(sub.status == 0, "stderr: \(sub.stderr)")
            let job = try Job(json: try JSONParser.parse(sub.stdout))
            #expect(job.results.first?.sha256 == doc["results"]?.arrayValue?.first?["sha256"]?.stringValue, "the recipe makes the same image")

            let rep = try await runCommand(PackagePaths.atelier, ["reproduce", finalID] + sock)
            #expect(rep.status == 0, "stdout: \(rep.stdout) stderr: \(rep.stderr)")
            #expect(rep.stdout.contains("identical: true"))
        }
    }
}
