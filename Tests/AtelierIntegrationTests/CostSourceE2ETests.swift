import AtelierClient
import AtelierCore
import AtelierTestSupport
import AtelierTesting
import Foundation
import Testing

/// Honest costs through a real daemon and the loopback fakes: where each cost comes from, an unknown price shown as
/// null (never $0) and counted by budgets at its ceiling or refused, and `models.verify` in both directions.
@Suite("costs and models.verify end to end", .serialized)
struct CostSourceE2ETests {
    /// `gemini-nano-banana-2.1` has no published price: its job runs, its cost is `null` with `costSource: unknown`,
    /// the route says the estimate is a ceiling; 512 is refused before anything is paid. A Gemini model with token
    /// prices is `computed` from the answer's usage, a Runware answer with `cost` is `provider`.
    @Test func sourcesOnResultsAndJobs() async throws {
        try await FakeWorld.run("cost-src", providers: ["gemini", "runware"]) { w in
            let job = try await w.run(
                E2E.task("a harbour \(E2E.marker())", model: "gemini-nano-banana-2.1", ["aspectRatio": "16:9", "resolution": "1K"]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            #expect(w.fakes.gemini.generateRequests.last?.uri == "/v1beta/models/gemini-nano-banana-2.1:generateContent")
            #expect(job.costUSD == nil)
            #expect(job.costSource == .unknown)
            #expect(job.json["costUSD"] == .null && job.json["costSource"] == "unknown")
            #expect(job.results.first?.costUSD == nil && job.results.first?.costSource == .unknown)
            #expect(job.route?.priceKnown == false)
            #expect(job.route?.estimatedCostUSD == 0.067, "routed at its ceiling")
            do {
                _ = try await w.submit(E2E.task("a tier \(E2E.marker())", model: "gemini-nano-banana-2.1", ["resolution": "512"]))
                Issue.record("512 was accepted")
            } catch {
                let e = try #require(E2E.rpcError(error))
                #expect(e.code == -32602 && e.field == "/resolution")
            }

            let flash = try await w.run(E2E.task("a lighthouse \(E2E.marker())", model: "gemini-3.1-flash-image", ["aspectRatio": "1:1"]))
            #expect(flash.status == .succeeded)
            #expect(flash.costSource == .computed, "usage × the card's dated token prices")
            #expect((flash.costUSD ?? 0) > 0)
            #expect(flash.route?.priceKnown == true && flash.route?.json["priceKnown"] == nil)

            let runware = try await w.run(E2E.task("a fox \(E2E.marker())", model: "runware-flux-2-dev", ["width": 512, "height": 512]))
            #expect(runware.status == .succeeded, "\(runware.error?.description ?? "")")
            #expect(runware.results.first?.costSource == .provider, "Runware's includeCost answer")
            #expect(runware.costSource == .provider)

            // `atelier get` says so instead of printing $0.
            let get = try await runCommand(PackagePaths.atelier, ["get", job.taskUUID, "--socket", w.daemon.socketPath])
            #expect(get.status == 0, "stderr: \(get.stderr)")
            #expect(get.stdout.contains("cost     unknown") && get.stdout.contains("(ceiling: price unknown)"), "\(get.stdout)")
            let getFlash = try await runCommand(PackagePaths.atelier, ["get", flash.taskUUID, "--socket", w.daemon.socketPath])
            #expect(getFlash.stdout.contains("(computed)"), "\(getFlash.stdout)")

            // stats.get keeps the unknown cost out of the total and counts the job apart.
            let stats = try await w.call("stats.get", ["by": "model"])
            let nbStats = try #require((stats["groups"]?.arrayValue ?? []).first { $0["group"] == "gemini-nano-banana-2.1" })
            #expect(nbStats["unknownCostJobs"] == 1 && nbStats["costUSD"] == 0)
            let flashStats = try #require((stats["groups"]?.arrayValue ?? []).first { $0["group"] == "gemini-3.1-flash-image" })
            #expect(flashStats["unknownCostJobs"] == 0)

            let list = try await w.call("models.list")
            let nb = try #require((list["models"]?.arrayValue ?? []).first { $0["id"] == "gemini-nano-banana-2.1" })
            #expect(nb["price"]?["kind"] == "unknown" && nb["price"]?["asOf"] == "2026-12-04")
            #expect(nb["price"]?["usd"] == nil, "no price shown for an unknown price")
        }
    }

    /// Budgets count an unknown cost at the model's ceiling: with $0.10 a day, one 1K job (ceiling $0.067) fits and
    /// stays counted after it finishes with an unknown cost, so a second one is refused.
    @Test func budgetsCountUnknownAtTheCeiling() async throws {
        let routing = #"{"version": 1, "budgets": [{"tag": "client", "dailyUSD": 0.1}]}"#
        try await FakeWorld.run("cost-ceil", providers: ["gemini"], routing: routing) { w in
            let first = try await w.run(
                E2E.task("a barn \(E2E.marker())", model: "gemini-nano-banana-2.1", ["resolution": "1K", "tags": ["client": "acme"]]))
            #expect(first.status == .succeeded && first.costSource == .unknown)
            do {
                _ = try await w.submit(
                    E2E.task("a second barn \(E2E.marker())", model: "gemini-nano-banana-2.1", ["resolution": "1K", "tags": ["client": "acme"]]))
                Issue.record("the second job was accepted: the unknown cost counted as $0")
            } catch {
                #expect(E2E.rpcError(error)?.stableCode == "budget_exceeded")
            }
        }
    }

    /// `costs.unknownPrice: refuse`: a task under a budget is never routed to a model without a price.
    @Test func theRefusePolicyNamesTheField() async throws {
        let routing = #"{"version": 1, "costs": {"unknownPrice": "refuse"}, "budgets": [{"tag": "client", "dailyUSD": 5}]}"#
        try await FakeWorld.run("cost-refuse", providers: ["gemini"], routing: routing) { w in
            do {
                _ = try await w.submit(E2E.task("a mill \(E2E.marker())", model: "gemini-nano-banana-2.1", ["tags": ["client": "acme"]]))
                Issue.record("an unknown-price model was accepted under a budget")
            } catch {
                let e = try #require(E2E.rpcError(error))
                #expect(e.code == -32602)
                #expect(e.stableCode == "requirement_unsatisfiable")
                #expect(e.field == "/tags")
            }
            // Without a budget tag it runs.
            let free = try await w.run(E2E.task("a mill \(E2E.marker())", model: "gemini-nano-banana-2.1"))
            #expect(free.status == .succeeded)
            #expect(w.fakes.gemini.generateRequests.count == 1)
        }
    }

    /// `models.verify` both ways: configured ids the provider no longer lists (as before), and image models the
    /// provider lists that no card uses — for every provider with a complete listing (Gemini: none left over; OpenAI:
    /// its other image models, not its text model). Runware looks ids up one by one, so it says nothing the other way.
    @Test func verifyFlagsBothDirections() async throws {
        try await FakeWorld.run("cost-verify", providers: ["gemini", "runware", "openai"]) { w in
            let r = try await w.call("models.verify")
            var byProvider: [String: JSONValue] = [:]
            for p in r["providers"]?.arrayValue ?? [] { byProvider[p["provider"]?.stringValue ?? ""] = p }
            #expect(byProvider["gemini"]?["uncatalogued"] == [], "every Gemini image model the fake lists is catalogued")
            let openai = Set((byProvider["openai"]?["uncatalogued"]?.arrayValue ?? []).compactMap(\.stringValue))
            #expect(openai.contains("gpt-image-1.5") && openai.contains("gpt-image-2.5-flare") && openai.contains("chatgpt-image-latest"))
            #expect(!openai.contains("gpt-5"), "text models are not image models")
            #expect(!openai.contains("gpt-image-2"), "catalogued")
            #expect(byProvider["runware"]?["uncatalogued"] == nil, "no complete listing")
            let top = (r["uncatalogued"]?.arrayValue ?? []).map { "\($0["provider"]?.stringValue ?? "")/\($0["upstreamId"]?.stringValue ?? "")" }
            #expect(top.contains("openai/gpt-image-1.5"))
            #expect(Set((r["missing"]?.arrayValue ?? []).compactMap(\.stringValue)) == ["gemini-2.5-flash-image", "runware-seedream-4"])
            // One listing walk per provider (Gemini's two pages), not one per direction.
            #expect(w.fakes.gemini.log.filter { $0.path == "/v1beta/models" }.count == 2)

            // Gemini stops listing a catalogued model and starts listing a new one: both are flagged.
            w.fakes.gemini.setModels([
                "gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-3.1-flash-lite-image", "gemini-4-image", "gemini-3-pro",
            ])
            let again = try await w.call("models.verify", ["providers": ["gemini"]])
            let missingNow = Set((again["missing"]?.arrayValue ?? []).compactMap(\.stringValue))
            #expect(missingNow.contains("gemini-nano-banana-2.1"))
            #expect(again["uncatalogued"] == [["provider": "gemini", "upstreamId": "gemini-4-image"]])

            let cli = try await runCommand(PackagePaths.atelier, ["models", "verify", "--socket", w.daemon.socketPath])
            #expect(cli.status == 0, "stderr: \(cli.stderr)")
            #expect(cli.stdout.contains("NOT IN CATALOG"))
            #expect(cli.stdout.contains("openai/gpt-image-1.5"))
        }
    }
}
