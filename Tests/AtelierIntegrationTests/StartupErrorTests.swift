import AtelierTestSupport
import Foundation
import Testing

/// `atelierd` refuses to start with a clear message and a stable exit status when its configuration, data directory
/// or webhook secret is unusable — and exits cleanly: the HTTP clients it created first are shut down on that path
/// too (a debug build stops with "Client not shut down before the deinit" otherwise).
@Suite("atelierd start-up errors")
struct StartupErrorTests {
    func start(
        _ dir: TempDir, providers: String = PackagePaths.root + "/providers", dataDir: String? = nil, environment: [String: String] = [:]
    )
        async throws -> CommandResult
    {
        let routing = dir.path + "/routing.json"
        try #"{"version": 1, "allowBuiltin": true, "rules": []}"#.write(toFile: routing, atomically: true, encoding: .utf8)
        return try await runCommand(
            PackagePaths.atelierd,
            [
                "--socket", dir.path + "/s.sock", "--data-dir", dataDir ?? dir.path + "/data", "--providers", providers, "--routing", routing,
                "--log-level", "warning",
            ],
            environment: environment)
    }

    @Test func aBadWebhookSecretExits78() async throws {
        let dir = TempDir("start-err")
        defer { dir.cleanup() }
        let r = try await start(dir, environment: ["ATELIER_WEBHOOK_SECRET": "whsec_short"])
        #expect(r.status == 78, "stderr: \(r.stderr)")
        #expect(r.stderr.contains("webhook secret"), "\(r.stderr)")
        #expect(!r.stderr.contains("not shut down"), "\(r.stderr)")
    }

    @Test func anUnreadableConfigurationExits78() async throws {
        let dir = TempDir("start-err")
        defer { dir.cleanup() }
        let r = try await start(dir, providers: dir.path + "/missing")
        #expect(r.status == 78, "stderr: \(r.stderr)")
        #expect(r.stderr.contains("configuration error"), "\(r.stderr)")
    }

    @Test func anUnusableDataDirectoryExits73() async throws {
        let dir = TempDir("start-err")
        defer { dir.cleanup() }
        // A regular file where the data directory should be.
        let file = dir.path + "/not-a-dir"
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let r = try await start(dir, dataDir: file + "/data")
        #expect(r.status == 73, "stderr: \(r.stderr)")
        #expect(r.stderr.contains("cannot open the data directory"), "\(r.stderr)")
    }
}
