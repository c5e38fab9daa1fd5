import AtelierClient
import AtelierCore
import AtelierTestSupport
import AtelierTesting
import Foundation
import Testing

@testable import AtelierEngine

/// `atelier store migrate` through the real CLI binary: a lone SQLite daemon's jobs move into PostgreSQL, a second run
/// copies nothing new, bad arguments exit 64, the password is never printed, and a cluster daemon started on the
/// migrated store (the same data directory) serves the migrated jobs.
@Suite(.serialized) struct StoreMigrateCommandTests {
    /// What a CLI run printed and how it ended.
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + "\n" + stderr }
    }

    /// Runs `atelier` with `arguments` (no ATELIER_STORE in its environment unless given) and collects its output.
    static func atelier(_ arguments: [String], in dir: String, environment extra: [String: String] = [:]) async throws -> Run {
        var env = ProcessInfo.processInfo.environment
        env["ATELIER_STORE"] = nil
        for (k, v) in extra { env[k] = v }
        let out = dir + "/cli.out"
        let err = dir + "/cli.err"
        let child = try ChildProcess.spawn([PackagePaths.atelier] + arguments, environment: env, stdout: .file(out), stderr: .file(err))
        let status = await child.exitStatus()
        return Run(
            status: status, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    @Test func atelierdRefusedByTheServerExits69WithTheServersReasonAndNoPassword() async throws {
        try await withPostgres { cluster in
            let root = try PostgresHarness.makeTemporaryDirectory(prefix: "atl-pw")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let wrong = cluster.url().replacingOccurrences(of: cluster.password, with: "not-the-password-42")
            var env = ProcessInfo.processInfo.environment
            env["ATELIER_STORE"] = wrong
            let err = root + "/atelierd.err"
            let child = try ChildProcess.spawn(
                [
                    PackagePaths.atelierd, "--socket", root + "/s.sock", "--data-dir", root + "/data", "--providers",
                    PackagePaths.root + "/providers",
                    "--routing", PackagePaths.root + "/routing.json",
                ],
                environment: env, stdout: .file(root + "/atelierd.out"), stderr: .file(err))
            let status = await child.exitStatus()
            let stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            #expect(status == 69, "\(status) \(stderr)")
            #expect(stderr.contains("cannot open the PostgreSQL store"), "\(stderr)")
            #expect(stderr.contains("password authentication failed") && stderr.contains("28P01"), "the server's reason: \(stderr)")
            #expect(!stderr.contains("not-the-password-42") && stderr.contains("***"), "\(stderr)")
        }
    }

    @Test func migratesALoneDaemonsStoreAndAClusterDaemonServesItsJobs() async throws {
        try await withPostgres(timeout: .seconds(300)) { cluster in
            try await FakeProviders.with { fakes in
                let root = try PostgresHarness.makeTemporaryDirectory(prefix: "atl-mig")
                defer { try? FileManager.default.removeItem(atPath: root) }
                let routingPath = root + "/routing.json"
                try DaemonCluster.routing().write(toFile: routingPath, atomically: true, encoding: .utf8)
                let providers = try DaemonCluster.fastProviderFiles(in: root)
                let dataDir = root + "/data"
                let sqlite = "sqlite:" + dataDir + "/atelier.sqlite"

                // A lone SQLite daemon runs three jobs and stops.
                let lone = try await ClusterDaemon.start(
                    id: "lone", storeURL: "sqlite:", dataDir: dataDir, socketPath: root + "/lone.sock", routingPath: routingPath,
                    providersDir: providers, leaseSeconds: 2, environment: fakes.environment(for: ["runware"]))
                var finished: [Job] = []
                do {
                    let client = try await lone.client()
                    for i in 0..<3 {
                        let job = try await client.submit(ThreeDaemonTests.localTask("migrated \(i)", seed: Int64(i)))
                        finished.append(try await client.wait(job.taskUUID, timeoutSeconds: 60))
                    }
                    try? await client.close()
                } catch {
                    await lone.terminate()
                    throw error
                }
                #expect(await lone.terminate() == 0, "the lone daemon stops cleanly:\n\(lone.log)")
                #expect(finished.allSatisfy { $0.status == .succeeded })

                // Bad arguments: 64, and the password shows nowhere.
                let url = cluster.url()
                let bad: [[String]] = [
                    ["store", "migrate", "--to", url],
                    ["store", "migrate", "--from", url, "--to", url],
                    ["store", "migrate", "--from", sqlite, "--to", sqlite],
                    ["store", "migrate", "--from", sqlite, "--to", url.replacingOccurrences(of: "sslmode=disable", with: "sslmode=bogus")],
                    ["store", "migrate", "--from", sqlite],
                ]
                for arguments in bad {
                    let run = try await Self.atelier(arguments, in: root)
                    #expect(
                        run.status == 64,
                        "\(arguments.dropFirst(2).map { $0.replacingOccurrences(of: cluster.password, with: "***") }): \(run.status) \(run.stderr)")
                    #expect(!run.all.contains(cluster.password), "the password is never printed")
                }
                // A server that refuses the password: 1, the target shown redacted.
                let wrong = url.replacingOccurrences(of: cluster.password, with: "not-the-password-42")
                let refused = try await Self.atelier(["store", "migrate", "--from", sqlite, "--to", wrong], in: root)
                #expect(refused.status == 1, "\(refused.status) \(refused.stderr)")
                #expect(!refused.all.contains("not-the-password-42") && refused.stderr.contains("***"), "\(refused.stderr)")

                // The migration, then a second run that finds everything there (the target from ATELIER_STORE).
                let first = try await Self.atelier(["store", "migrate", "--from", sqlite, "--to", url], in: root)
                #expect(first.status == 0, "\(first.stderr)")
                #expect(!first.all.contains(cluster.password) && first.stdout.contains("***"), "\(first.stdout)")
                #expect(first.stdout.contains("jobs: 3 copied, 0 already there"), "\(first.stdout)")
                let second = try await Self.atelier(["store", "migrate", "--from", sqlite, "--json"], in: root, environment: ["ATELIER_STORE": url])
                #expect(second.status == 0, "\(second.stderr)")
                #expect(!second.all.contains(cluster.password))
                let report = try JSONParser.parse(Array(second.stdout.utf8))
                #expect(report["jobsCopied"]?.intValue == 0 && report["jobsPresent"]?.intValue == 3, "\(second.stdout)")
                #expect(
                    report["workflowsCopied"]?.intValue == 0 && report["deliveriesCopied"]?.intValue == 0 && report["budgetCounters"]?.intValue == 0)

                // A cluster daemon on the migrated store and the same data directory serves the jobs and their files.
                try await DaemonCluster.with(cluster, count: 1, fakes: fakes, routing: DaemonCluster.routing(), dataDir: dataDir) { c in
                    let client = try await c.daemons[0].client()
                    for before in finished {
                        let job = try await client.job(before.taskUUID)
                        #expect(job.status == .succeeded && job.results.map(\.imageUUID) == before.results.map(\.imageUUID))
                        #expect(job.createdAt == before.createdAt && job.finishedAt == before.finishedAt)
                        if let r = job.results.first {
                            let (sha, size) = try ResultFiles.sha256(ofFileAt: r.path)
                            #expect(sha == r.sha256 && size == r.bytes, "the migrated result file is readable")
                        }
                    }
                    // Its taskUUIDs stay taken: the same task is the same job, another task a conflict.
                    let again = try await client.submit(ThreeDaemonTests.localTask("migrated 0", seed: 0, uuid: finished[0].taskUUID))
                    #expect(again.status == .succeeded && again.createdAt == finished[0].createdAt)
                    try? await client.close()
                }
            }
        }
    }
}
