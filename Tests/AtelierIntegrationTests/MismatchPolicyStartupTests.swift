import AtelierTestSupport
import Foundation
import Testing

/// An unknown `verification.onMismatch` in routing.json stops `atelierd` at start-up with a configuration error that
/// names the field.
@Suite("atelierd start-up: the mismatch policy")
struct MismatchPolicyStartupTests {
    @Test func anUnknownMismatchPolicyIsAConfigurationErrorNamingTheField() async throws {
        let dir = TempDir("start-mismatch")
        defer { dir.cleanup() }
        let routing = dir.path + "/routing.json"
        try #"{"version": 1, "rules": [], "verification": {"onMismatch": "ignore"}}"#.write(toFile: routing, atomically: true, encoding: .utf8)
        let r = try await runCommand(
            PackagePaths.atelierd,
            [
                "--socket", dir.path + "/s.sock", "--data-dir", dir.path + "/data", "--providers", PackagePaths.root + "/providers",
                "--routing", routing, "--log-level", "warning",
            ],
            environment: [:])
        #expect(r.status == 78, "stderr: \(r.stderr)")
        #expect(r.stderr.contains("/verification/onMismatch"), "\(r.stderr)")
        #expect(r.stderr.contains("flag, fail, retry"), "\(r.stderr)")
    }
}
