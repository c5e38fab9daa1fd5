import AtelierClient
import AtelierCore
import AtelierTestSupport
import Foundation
import Testing

/// The client reads the daemon's answers into typed values (what the CLI prints its tables from), and the CLI's
/// list commands page through one table printer.
@Suite("typed client answers", .serialized)
struct ClientTypedAnswerTests {
    @Test func theDaemonsAnswersReadAsTypedValues() async throws {
        try await withDaemon("typed") { daemon, client in
            let job = try await client.wait(try await client.submit(localTask("typed answers", seed: 3)).taskUUID, timeoutSeconds: 30)
            #expect(job.status == .succeeded)
            _ = try await client.submit(localTask("a second job", seed: 4))

            let health = try await client.health()
            #expect(health.isOK && health.reasons.isEmpty && health.store.ok && health.breakers.isEmpty, "\(health.json)")
            #expect(health.delivery?.overdue == 0 && health.json["version"] == .string(health.version))

            let models = try await client.models()
            let local = try #require(models.first { $0.id == "local-render" })
            #expect(local.isAvailable && local.unavailableReason == nil && local.provider == "local")
            #expect(local.json["id"] == "local-render")

            let (stats, statsJSON) = try await client.stats(by: "model", sinceHours: 1)
            let group = try #require(stats.groups.first { $0.group == "local-render" })
            #expect(group.jobs == 2 && group.succeeded >= 1)
            #expect(statsJSON["by"] == "model")

            let explained = try await client.explain(localTask("explain me"))
            #expect(explained.chosen?.model == "local-render")
            #expect(explained.json["chosen"]?["model"] == "local-render")

            let (report, answer) = try await client.reproduce(job.taskUUID, timeoutSeconds: 30)
            #expect(report.identical == true && report.reproduction.status == .succeeded)
            #expect(report.images.map(\.identical) == Array(repeating: true, count: job.results.count))
            #expect(answer["reproductionTaskUUID"] == .string(report.reproduction.taskUUID))

            let page = try await client.list(limit: 1)
            #expect(page.jobs.count == 1)
            let cursor = try #require(page.nextCursor)
            let human = try await runCommand(PackagePaths.atelier, ["list", "--limit", "1", "--socket", daemon.socketPath])
            #expect(human.status == 0, "\(human.stderr)")
            #expect(human.stdout.hasPrefix("TASK UUID"), "\(human.stdout)")
            #expect(human.stdout.contains("more: atelier list --cursor \(cursor)"), "\(human.stdout)")
            let json = try await runCommand(PackagePaths.atelier, ["list", "--limit", "1", "--json", "--socket", daemon.socketPath])
            let listed = try JSONParser.parse(json.stdout)
            #expect(listed["jobs"]?.arrayValue?.count == 1)
            #expect(listed["nextCursor"] == .string(cursor))
            let statsText = try await runCommand(PackagePaths.atelier, ["stats", "--since-hours", "1", "--socket", daemon.socketPath])
            #expect(statsText.status == 0 && statsText.stdout.contains("local-render"), "\(statsText.stdout) \(statsText.stderr)")

            let (reloaded, reloadJSON) = try await client.reloadConfiguration()
            #expect(reloaded.models >= 1 && reloaded.available >= 1 && reloadJSON["reloaded"] == true)
            #expect(reloadJSON["rules"] == .int(Int64(reloaded.rules)))
        }
    }

    @Test func anAnswerWithoutAMemberTheClientNeedsIsABadResponse() throws {
        let full: JSONValue = [
            "id": "msg_1", "kind": "webhook", "event": "job.succeeded", "taskUUID": "t", "url": "http://127.0.0.1/h", "status": "pending",
            "attempts": 2, "nextAttemptAt": .null, "lastError": ["code": "receiver_error", "message": "503"], "deliveredAt": .null,
            "waitingFor": "uploads",
        ]
        let d = try DeliverySummary(full)
        #expect(d.waitsForUploads && d.attempts == 2 && d.lastError?.code == "receiver_error" && d.nextAttemptAt == nil)
        guard case .object(var partial) = full else { return }
        partial["kind"] = nil
        let error = #expect(throws: AtelierClientError.self) { try DeliverySummary(.object(partial)) }
        #expect(error?.code == .badResponse && error?.message.contains("kind") == true, "\(String(describing: error))")
    }

    @Test func aWorkflowDocumentReadsItsSelectionCostAndError() throws {
        let image: JSONValue = ["imageUUID": "img-2", "path": "/tmp/2.png", "sha256": "ab", "width": 256, "height": 192]
        let doc: JSONValue = [
            "workflowUUID": "w", "state": "failed",
            "stages": [
                "ideation": [
                    "variants": [["status": "failed", "model": .null], ["status": "succeeded", "model": "m", "costUSD": 0.5, "image": image]]
                ],
                "selection": ["mode": "client", "imageUUID": "img-2", "variantIndex": 1, "selectedBy": "client"],
                "final": ["status": "failed", "model": .null, "seed": 9, "recipe": .null],
            ],
            "cost": ["ideationUSD": 0.5, "finalUSD": 0, "totalUSD": 0.5, "allOnMostExpensive": ["model": "big", "totalUSD": 2], "savingsUSD": 1.5],
            "error": ["code": "no_route", "message": "no model", "rejections": ["a": "ignores_seed", "b": "too_many_references"]],
        ]
        let w = try WorkflowDocument(doc)
        #expect(w.variants.map(\.status) == ["failed", "succeeded"] && w.variants[1].image?.height == 192 && w.variants[1].costUSD == 0.5)
        #expect(w.variantImage(2) == "img-2" && w.variantImage(1) == nil)
        #expect(w.selection?.variantIndex == 1 && w.selectedImageUUID == "img-2")
        #expect(w.final.seed == 9 && w.final.recipe == Optional<JSONValue>.none && w.final.image == nil)
        #expect(w.cost?.baselineModel == "big" && w.cost?.savingsUSD == 1.5 && w.cost?.savingsPercent == nil)
        #expect(w.error?.rejections.map(\.model) == ["a", "b"] && w.error?.code == "no_route")
    }
}
