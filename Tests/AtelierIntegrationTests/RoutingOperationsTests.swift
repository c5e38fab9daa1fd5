import AtelierClient
import AtelierCore
import AtelierRPC
import AtelierTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("routing operations: reload, simulate, check", .serialized)
struct RoutingOperationsTests {
    static let builtinPolicy = #"{"version": 1, "allowBuiltin": true, "rules": []}"#
    static let noBuiltinPolicy = #"{"version": 1, "allowBuiltin": false, "rules": []}"#

    @Test func reloadSwapsAValidPolicyAndRejectsABadOneUntouched() async throws {
        try await withDaemon("reload", routing: Self.builtinPolicy) { daemon, client in
            let auto: JSONValue = ["positivePrompt": "x", "width": 256, "height": 256]
            #expect(try await client.explain(auto).chosen?.model == "local-render")

            // A broken policy: unknown field, unknown model, zero weight. Rejected with every issue; nothing changes.
            try #"""
            {"version": 1, "allowBuiltin": false, "colour": "red",
             "rules": [{"name": "r1", "prefer": ["no-such-model"]},
                       {"name": "r2", "split": {"key": "taskUUID", "arms": [{"name": "a", "weight": 0}, {"name": "b", "weight": 1}]}}]}
            """#.write(toFile: daemon.routingPath, atomically: true, encoding: .utf8)
            let bad = await rpcError { _ = try await client.call(RPCMethod.configReload) }
            #expect(bad?.code == -32011)
            #expect(bad?.stableCode == "config_invalid")
            let issues = bad?.data?["issues"]?.arrayValue ?? []
            #expect(issues.count >= 3, "every problem is reported: \(issues)")
            #expect(issues.allSatisfy { $0["file"]?.stringValue == daemon.routingPath && $0["pointer"]?.stringValue != nil })
            #expect(issues.contains { $0["pointer"]?.stringValue == "/colour" })
            #expect(try await client.explain(auto).chosen?.model == "local-render", "the running policy is untouched")

            // A valid policy over RPC: swapped in at once.
            try Self.noBuiltinPolicy.write(toFile: daemon.routingPath, atomically: true, encoding: .utf8)
            let ok = try await client.call(RPCMethod.configReload)
            #expect(ok["reloaded"] == .bool(true))
            let noRoute = await rpcError { _ = try await client.submit(auto) }
            #expect(noRoute?.stableCode == "no_route")

            // And back again through SIGHUP.
            try Self.builtinPolicy.write(toFile: daemon.routingPath, atomically: true, encoding: .utf8)
            let mark = daemon.logLineCount
            daemon.signal(SIGHUP)
            await daemon.waitForLog("configuration reloaded", after: mark)
            #expect(try await client.explain(auto).chosen?.model == "local-render")
        }
    }

    @Test func simulateTotalsAndRoutingCheckOffline() async throws {
        let dir = TempDir("sim")
        defer { dir.cleanup() }
        // Two tasks on pinned models, priced by hand from providers/gemini.json and providers/bfl.json:
        //  - gemini-3-pro-image, 1K 16:9, 2 results: $0.134 (1K tier) × 2 = $0.268
        //  - flux-2-pro 1024x1024: 1.048576 MP → $0.03 first MP + 0.048576 × $0.015 = $0.03072864
        let workload = dir.path + "/w.jsonl"
        try """
        {"positivePrompt": "SALE 50% banner", "model": "gemini-3-pro-image", "aspectRatio": "16:9", "resolution": "1K", "numberResults": 2}
        {"positivePrompt": "product final", "model": "flux-2-pro", "width": 1024, "height": 1024, "seed": 9, "requirements": {"reproducible": true}}
        """.write(toFile: workload, atomically: true, encoding: .utf8)
        let policy = dir.path + "/p.json"
        try #"{"version": 1, "rules": [], "objective": "cheapest"}"#.write(toFile: policy, atomically: true, encoding: .utf8)
        let r = try await runCommand(
            PackagePaths.atelier,
            ["simulate", workload, "--routing", policy, "--providers", PackagePaths.root + "/providers", "--json"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let report = try JSONParser.parse(r.stdout)
        let p = try #require(report["policies"]?.arrayValue?.first)
        #expect(p["routed"] == .int(2))
        #expect(p["violations"] == .int(0))
        let mix = p["modelMix"]?.arrayValue ?? []
        func usd(_ m: String) -> Double { mix.first { $0["model"]?.stringValue == m }?["totalUSD"]?.doubleValue ?? -1 }
        #expect(abs(usd("gemini-3-pro-image") - 0.268) < 1e-6, "\(mix)")
        #expect(abs(usd("flux-2-pro") - 0.03072864) < 1e-6, "\(mix)")
        #expect(abs((p["totalUSD"]?.doubleValue ?? 0) - 0.29872864) < 1e-6)

        // routing check: valid file → 0; invalid → every problem with its pointer.
        let good = try await runCommand(
            PackagePaths.atelier, ["routing", "check", PackagePaths.root + "/routing.json", "--providers", PackagePaths.root + "/providers"])
        #expect(good.status == 0, "\(good.stderr)")
        try #"{"version": 1, "rules": [{"name": "x", "when": {"tags.user": {"min": 3, "max": 1}}, "prefer": ["nope"]}], "extra": 1}"#
            .write(toFile: policy, atomically: true, encoding: .utf8)
        let bad = try await runCommand(PackagePaths.atelier, ["routing", "check", policy, "--providers", PackagePaths.root + "/providers", "--json"])
        #expect(bad.status == 1)
        let issues = try JSONParser.parse(bad.stdout)["issues"]?.arrayValue ?? []
        #expect(issues.contains { $0["pointer"]?.stringValue == "/extra" })
        #expect(issues.contains { ($0["pointer"]?.stringValue ?? "").hasPrefix("/rules/0/prefer") })
    }
}
