import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierTestSupport
import Foundation
import Testing

@Suite("crash recovery", .serialized)
struct CrashRecoveryTests {
    /// Jobs acknowledged before a SIGKILL are all there after a restart, and all finish exactly once.
    @Test func killNineWhileQueuedAndRunning() async throws {
        let dir = TempDir("crash")
        defer { dir.cleanup() }
        let first = try await DaemonProcess.start(in: dir)
        let client = try await first.client()
        // Subscribed before submitting, so the first "running" event cannot be missed and the wait below ends.
        try await client.subscribe()
        // Submitted together (one group commit): two run, the rest are still queued when the first starts. Enough of
        // them that some are still running or queued when this (possibly busy) test process hears the first start.
        let ids = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<24 {
                group.addTask { (i, try await client.submit(localTask("crash test \(i)", seed: Int64(100 + i), width: 1024, height: 1024)).taskUUID) }
            }
            var out: [(Int, String)] = []
            for try await x in group { out.append(x) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
        // Killed as soon as a job is running.
        for await n in client.notifications where n.params["event"]?.stringValue == "running" { break }
        await first.kill9()

        try await withDaemon(in: dir, dataDir: first.dataDir, socketPath: first.socketPath) { _, c2 in
            var interrupted = 0
            for id in ids {
                let j = try await c2.wait(id, timeoutSeconds: 300)
                #expect(j.status == .succeeded, "job \(id) after restart: \(j.status)")
                #expect(j.results.count == 1)
                if j.attempts.contains(where: { $0.outcome == .interrupted }) { interrupted += 1 }
                let r = try #require(j.results.first)
                let (sha, size) = try ResultFiles.sha256(ofFileAt: r.path)
                #expect(sha == r.sha256 && size == r.bytes, "stored file matches its recorded hash")
            }
            #expect(interrupted >= 1, "the job running at the kill is recorded as interrupted and re-run")
            let all = try await c2.list(limit: 100)
            #expect(Set(all.jobs.map(\.taskUUID)) == Set(ids), "no job lost, none duplicated")
        }
        // The restarted daemon has exited: the store is checked at rest.
        let store = try JobStore(path: first.dataDir + "/atelier.sqlite")
        #expect(try await store.integrityCheck() == "ok")
    }
}

@Suite("atelier CLI", .serialized)
struct CLITests {
    @Test func submitWaitJSONAndHumanOutput() async throws {
        let dir = TempDir("cli")
        defer { dir.cleanup() }
        try await withDaemon(in: dir) { daemon, _ in
            let out = dir.path + "/out.png"
            let r = try await runCommand(
                PackagePaths.atelier,
                [
                    "submit", "--socket", daemon.socketPath, "a small boat", "--model", "local-render", "--width", "320", "--height", "240",
                    "--seed", "3", "--out", out, "--json",
                ])
            #expect(r.status == 0, "stderr: \(r.stderr)")
            let job = try Job(json: try JSONParser.parse(r.stdout))
            #expect(job.status == .succeeded)
            #expect(job.results.first?.width == 320)
            let copied = try #require(FileManager.default.contents(atPath: out))
            #expect(copied.count == job.results.first?.bytes)

            let human = try await runCommand(PackagePaths.atelier, ["get", "--socket", daemon.socketPath, job.taskUUID])
            #expect(human.status == 0)
            #expect(human.stdout.contains("succeeded"))
            #expect(human.stdout.contains(job.results.first!.path))

            let list = try await runCommand(PackagePaths.atelier, ["list", "--socket", daemon.socketPath])
            #expect(list.stdout.contains("TASK UUID"))
            #expect(list.stdout.contains(job.taskUUID))

            let models = try await runCommand(PackagePaths.atelier, ["models", "--socket", daemon.socketPath])
            #expect(models.stdout.contains("local-render"))
            #expect(models.stdout.contains("GEMINI_API_KEY"), "models without keys say why they are unavailable")

            let bad = try await runCommand(
                PackagePaths.atelier,
                ["submit", "--socket", daemon.socketPath, "x", "--model", "local-render", "--width", "1001", "--height", "1001"])
            #expect(bad.status == 1)
            #expect(bad.stderr.contains("invalid_dimensions"))
            #expect(bad.stderr.contains("nearest valid: 1000x1000"))

            let health = try await runCommand(PackagePaths.atelier, ["health", "--socket", daemon.socketPath])
            #expect(health.stdout.contains("atelierd"))
        }
    }

    @Test func daemonNotRunningIsExplained() async throws {
        let r = try await runCommand(PackagePaths.atelier, ["health", "--socket", "/tmp/atelier-none/none.sock"])
        #expect(r.status == 3)
        #expect(r.stderr.contains("not running"))
        #expect(r.stderr.contains("start it with"))
    }
}
