import AtelierCore
import AtelierTestSupport
import Foundation
import Testing

/// `daemon.health` over the socket and `atelier health`: the full report, and the exit status scripts rely on.
@Suite("health command", .serialized)
struct HealthCommandTests {
    @Test func healthyDaemonReportsOkAndTheCommandExitsZero() async throws {
        let dir = TempDir("health")
        defer { dir.cleanup() }
        let daemon = try await DaemonProcess.start(in: dir, extraArguments: ["--hold"])
        let client = try await daemon.client()
        for i in 0..<3 { _ = try await client.submit(localTask("held \(i)", seed: Int64(i))) }
        let h = try await client.health().json
        let listed = try await client.list(status: .queued, limit: 100).jobs.count
        try? await client.close()
        let human = try await runCommand(PackagePaths.atelier, ["health", "--socket", daemon.socketPath])
        let json = try await runCommand(PackagePaths.atelier, ["health", "--json", "--socket", daemon.socketPath])
        await daemon.terminate()

        #expect(h["status"] == "ok", "\(h)")
        #expect(h["queued"] == .int(Int64(listed)) && listed == 3)
        #expect(h["running"] == .int(0))
        #expect(h["store"]?["ok"] == .bool(true))
        #expect(h["delivery"]?["overdue"] == .int(0))
        #expect(human.status == 0, "\(human.status): \(human.stdout) \(human.stderr)")
        #expect(human.stdout.contains(": ok,") && human.stdout.contains("3 queued") && human.stdout.contains("store: ok"), "\(human.stdout)")
        #expect(json.status == 0)
        #expect(try JSONParser.parse(json.stdout)["status"] == "ok")
    }

    @Test func theCommandExitsThreeWhenNoDaemonRuns() async throws {
        let dir = TempDir("nohealth")
        defer { dir.cleanup() }
        let r = try await runCommand(PackagePaths.atelier, ["health", "--socket", dir.path + "/none.sock"])
        #expect(r.status == 3, "\(r.status): \(r.stderr)")
    }
}
