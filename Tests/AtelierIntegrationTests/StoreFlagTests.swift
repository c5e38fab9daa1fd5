import AtelierCore
import AtelierTestSupport
import Foundation
import Testing

/// `atelierd --store` / `ATELIER_STORE`: SQLite as before (optionally at a named file), a clear exit when PostgreSQL
/// cannot be reached, and a clear error for a bad URL — never showing the password. (Daemons on PostgreSQL are
/// tested in AtelierPostgresTests.)
@Suite("atelierd --store")
struct StoreFlagTests {
    static let secret = "Sup3r-s3cret-pw"

    func start(_ dir: TempDir, arguments: [String] = [], environment: [String: String] = [:]) async throws -> CommandResult {
        let routing = dir.path + "/routing.json"
        try #"{"version": 1, "allowBuiltin": true, "rules": []}"#.write(toFile: routing, atomically: true, encoding: .utf8)
        return try await runCommand(
            PackagePaths.atelierd,
            [
                "--socket", dir.path + "/s.sock", "--data-dir", dir.path + "/data", "--providers", PackagePaths.root + "/providers", "--routing",
                routing, "--log-level", "warning",
            ] + arguments,
            environment: environment)
    }

    @Test func aBadStoreURLExits64NamingTheProblem() async throws {
        let dir = TempDir("store-flag")
        defer { dir.cleanup() }
        let r = try await start(dir, arguments: ["--store", "postgres://atelier:\(Self.secret)@db.internal/"])
        #expect(r.status == 64, "stderr: \(r.stderr)")
        #expect(r.stderr.contains("names no database"), "\(r.stderr)")
        #expect(r.stderr.contains("postgres://atelier:***@db.internal/"), "\(r.stderr)")
        #expect(!(r.stderr + r.stdout).contains(Self.secret))
    }

    @Test func anUnreachablePostgresExits69WithoutShowingThePassword() async throws {
        let dir = TempDir("store-flag")
        defer { dir.cleanup() }
        // Nothing listens on port 9 of the loopback: the connection is refused at once.
        let url = "postgres://atelier:\(Self.secret)@127.0.0.1:9/atelier?sslmode=disable"
        for r in [
            try await start(dir, arguments: ["--store", url]),
            try await start(dir, environment: ["ATELIER_STORE": url]),
        ] {
            #expect(r.status == 69, "stderr: \(r.stderr)")
            #expect(r.stderr.contains("cannot open the PostgreSQL store"), "\(r.stderr)")
            #expect(r.stderr.contains("postgres://atelier:***@127.0.0.1:9/atelier"), "\(r.stderr)")
            #expect(!(r.stderr + r.stdout).contains(Self.secret))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/data/atelier.sqlite"), "no SQLite store was opened")
    }

    @Test func sqliteAtANamedFileKeepsJobsThere() async throws {
        let dir = TempDir("store-flag")
        defer { dir.cleanup() }
        let file = dir.path + "/jobs.sqlite"
        try await withDaemon(in: dir, extraArguments: ["--store", "sqlite:" + file]) { _, client in
            let job = try await client.submit(localTask())
            #expect(try await client.wait(job.taskUUID, timeoutSeconds: 30).status == .succeeded)
        }
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/data/atelier.sqlite"))
    }
}
