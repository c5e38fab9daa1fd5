import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierTestSupport
import AtelierTesting
import Foundation
import Testing

/// `models.verify` and `atelier models verify` against the Gemini model list and Runware `modelSearch` fakes.
@Suite("models.verify end to end", .serialized)
struct ProviderVerifyE2ETests {
    @Test func verifyReportsMissingRetiredAndSkipped() async throws {
        try await FakeWorld.run("verify", providers: ["gemini", "runware", "bfl", "openai"]) { w in
            let r = try await w.call("models.verify")
            var status: [String: String] = [:]
            for p in r["providers"]?.arrayValue ?? [] { status[p["provider"]?.stringValue ?? ""] = p["status"]?.stringValue }
            #expect(
                status == [
                    "gemini": "checked", "runware": "checked", "bfl": "unsupported", "a1111": "skipped", "local": "skipped", "openai": "checked",
                ])
            func ids(_ key: String) -> Set<String> { Set((r[key]?.arrayValue ?? []).compactMap(\.stringValue)) }
            // The fakes list neither gemini-2.5-flash-image (shut down) nor Runware's bytedance:5@0.
            #expect(ids("missing") == ["gemini-2.5-flash-image", "runware-seedream-4"])
            #expect(ids("retired") == ["gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview", "gemini-2.5-flash-image-preview"])
            #expect(ids("deprecated").contains("gemini-2.5-flash-image"))
            #expect(ids("skipped") == ["a1111", "local"])
            let models = r["models"]?.arrayValue ?? []
            let pro = try #require(models.first { $0["id"] == "gemini-3-pro-image" })
            #expect(pro["upstream"] == "present")
            let seedream = try #require(models.first { $0["id"] == "runware-seedream-4" })
            #expect(seedream["upstream"] == "missing" && seedream["upstreamId"] == "bytedance:5@0")
            #expect(models.first { $0["id"] == "flux-2-pro" }?["upstream"] == "unsupported")
            #expect(models.first { $0["id"] == "gpt-image-2-low" }?["upstream"] == "present", "GET /v1/models lists gpt-image-2")

            // Gemini: the list is paged and every page is followed, with the key in the header.
            let lists = w.fakes.gemini.log.filter { $0.path == "/v1beta/models" }
            #expect(lists.count == 2)
            #expect(lists.first?.query["pageSize"] == "1000")
            #expect(lists.last?.query["pageToken"] == "page-5")
            #expect(lists.allSatisfy { E2E.header($0, "x-goog-api-key", is: w.fakes.keys[.gemini]!) && $0.query["key"] == nil })
            // Runware: one modelSearch per AIR, at most 10 per request.
            let searches = w.fakes.runware.tasks(ofType: "modelSearch")
            let airs = Set(searches.compactMap { $0["search"]?.stringValue })
            #expect(airs.count == 11 && searches.count == 11)
            #expect(airs.contains("bytedance:5@0"))
            #expect(searches.allSatisfy { $0["limit"] == 20 })
            #expect(w.fakes.runware.log.all.count == 2)
            #expect(w.fakes.bfl.log.all.isEmpty && w.fakes.a1111.log.all.isEmpty)

            // One provider only; an unknown provider is an input error.
            let only = try await w.call("models.verify", ["providers": ["gemini"]])
            #expect((only["providers"]?.arrayValue ?? []).count == 1)
            do {
                _ = try await w.call("models.verify", ["providers": ["nope"]])
                Issue.record("an unknown provider was accepted")
            } catch {
                #expect(E2E.rpcError(error)?.stableCode == "invalid_value")
                #expect(E2E.rpcError(error)?.field == "/providers")
            }

            // The CLI.
            let cli = try await runCommand(PackagePaths.atelier, ["models", "verify", "--socket", w.daemon.socketPath])
            #expect(cli.status == 0, "stderr: \(cli.stderr)")
            #expect(cli.stdout.contains("MISSING upstream"))
            #expect(cli.stdout.contains("missing: gemini-2.5-flash-image, runware-seedream-4"))
            #expect(cli.stdout.contains("skipped providers: a1111, local"))
            let strict = try await runCommand(
                PackagePaths.atelier, ["models", "verify", "--strict", "--provider", "runware", "--socket", w.daemon.socketPath])
            #expect(strict.status == 1, "--strict fails when a routable model is missing")
            let list = try await runCommand(PackagePaths.atelier, ["models", "--socket", w.daemon.socketPath])
            #expect(list.status == 0 && list.stdout.contains("gemini-3-pro-image"), "`atelier models` still lists the catalog")
            let list2 = try await runCommand(PackagePaths.atelier, ["models", "list", "--json", "--socket", w.daemon.socketPath])
            #expect(list2.status == 0 && list2.stdout.contains("\"id\""))
            let leaked = w.fakes.keys.secretForms.contains { cli.stdout.contains($0) || cli.stderr.contains($0) }
            #expect(!leaked)
        }
    }

    /// A provider failing its list call is reported as failed, with the key redacted.
    @Test func failingProviderIsReportedNotFatal() async throws {
        try await FakeWorld.run("verify-f", providers: ["gemini"], echoKeysInErrors: true, keyOverrides: ["gemini": "AQ.bad-" + UUID().uuidString]) {
            w in
            let r = try await w.call("models.verify")
            let gemini = try #require((r["providers"]?.arrayValue ?? []).first { $0["provider"] == "gemini" })
            let errorCode = gemini["error"]?["code"]?.stringValue
            #expect(gemini["status"] == "failed")
            #expect(errorCode == "auth")
            let missing = r["missing"]?.arrayValue ?? []
            #expect(missing.isEmpty, "nothing is called missing when the provider could not be asked")
        }
    }
}
