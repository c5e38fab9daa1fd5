import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierTestSupport
import AtelierTesting
import Foundation
import Testing

@testable import AtelierHTTP

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's HTTP face (`--http`): Prometheus metrics parsed by the Prometheus client library's own parser
/// (Tests/peers/metrics_peer.py) after jobs of several outcomes, the bearer token, the loopback rule, and the JSON
/// log lines written meanwhile.
@Suite("HTTP face", .serialized)
struct HTTPFaceTests {
    /// A parsed `/metrics`.
    struct Scrape {
        var samples: [(name: String, labels: [String: String], value: Double)]
        var types: [String: String]
        var contentType: String

        /// The sum of the samples called `name` whose labels include `labels`.
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
            samples.filter { s in s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
        }

        /// Label sets of the samples called `name`.
        func labels(_ name: String) -> [[String: String]] { samples.filter { $0.name == name }.map(\.labels) }
    }

    static func peer(_ arguments: [String]) async throws -> JSONValue {
        let python = try #require(PythonPeer.python, "python3 is required for the metrics peer")
        let r = try await runCommand(python, [PackagePaths.root + "/Tests/peers/metrics_peer.py"] + arguments)
        try #require(r.status == 0, "metrics_peer.py \(arguments.joined(separator: " ")) failed:\n\(r.stderr)")
        return try JSONParser.parse(Array(r.stdout.utf8))
    }

    static func scrape(_ base: String) async throws -> Scrape {
        let doc = try await peer(["scrape", base + "metrics"])
        var samples: [(String, [String: String], Double)] = []
        for s in doc["samples"]?.arrayValue ?? [] {
            var labels: [String: String] = [:]
            for (k, v) in s["labels"]?.objectValue ?? [:] { labels[k] = v.stringValue }
            samples.append((s["name"]?.stringValue ?? "", labels, s["value"]?.doubleValue ?? .nan))
        }
        var types: [String: String] = [:]
        for (k, v) in doc["types"]?.objectValue ?? [:] { types[k] = v.stringValue }
        return Scrape(samples: samples, types: types, contentType: doc["contentType"]?.stringValue ?? "")
    }

    static func get(_ url: String, token: String? = nil) async throws -> (status: Int, body: String) {
        let doc = try await peer(["get", url] + (token.map { [$0] } ?? []))
        return (Int(doc["status"]?.intValue ?? 0), doc["body"]?.stringValue ?? "")
    }

    /// The face's base URL (`http://127.0.0.1:PORT/`), from the file written next to the socket once it listens.
    static func baseURL(_ daemon: DaemonProcess) async throws -> String {
        await daemon.waitForLog("http: serving")
        let text = try String(contentsOfFile: BearerToken.urlPath(socketPath: daemon.socketPath), encoding: .utf8)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let routing = #"{"version": 1, "allowBuiltin": true, "fallbacks": {"max": 0}, "rules": []}"#

    @Test("after a succeeded, a failed and a cancelled job, /metrics parses and counts each; JSON logs parse and hold no key")
    func metricsAfterJobsOfSeveralOutcomes() async throws {
        try #require(PythonPeer.available, "python3 is required")
        let dir = TempDir("http-metrics")
        defer { dir.cleanup() }
        try await FakeProviders.with { fakes in
            let env = fakes.environment(for: ["runware"])
            let daemon = try await DaemonProcess.start(
                in: dir, routing: Self.routing, extraArguments: ["--http", "127.0.0.1:0", "--log-format", "json"], environment: env)
            let client = try await daemon.client()
            let base = try await Self.baseURL(daemon)

            let ok = try await client.submit(["positivePrompt": "a lighthouse at dusk", "model": "local-render"])
            let failed = try await client.submit([
                "positivePrompt": "refused [fake:blocked]", "model": "runware-flux-1-schnell", "width": 512, "height": 512,
            ])
            let held = try await client.submit(["positivePrompt": "slow [fake:hold]", "model": "runware-flux-1-schnell", "width": 512, "height": 512])
            #expect(try await client.wait(ok.taskUUID, timeoutSeconds: 60).status == .succeeded)
            let failedJob = try await client.wait(failed.taskUUID, timeoutSeconds: 60)
            #expect(failedJob.status == .failed)
            let running = try await eventually(timeout: .seconds(60), "the held job starts") {
                try await client.job(held.taskUUID).status == .running
            }
            try #require(running)
            _ = try await client.cancel(held.taskUUID)
            #expect(try await client.wait(held.taskUUID, timeoutSeconds: 60).status == .cancelled)
            fakes.runware.script.release()

            let m = try await Self.scrape(base)
            #expect(m.contentType.hasPrefix("text/plain"))
            #expect(m.types["atelier_jobs"] == "counter")
            #expect(m.value("atelier_jobs_total", ["status": "succeeded", "model": "local-render", "provider": "local", "arm": "none"]) == 1)
            #expect(m.value("atelier_jobs_total", ["status": "failed", "model": "runware-flux-1-schnell", "provider": "runware"]) == 1)
            #expect(m.value("atelier_jobs_total", ["status": "cancelled", "model": "runware-flux-1-schnell", "provider": "runware"]) == 1)
            #expect(m.value("atelier_jobs_total") == 3)
            // Histograms: one end-to-end observation per finished job, one provider call per attempt.
            #expect(m.types["atelier_job_duration_seconds"] == "histogram")
            #expect(m.value("atelier_job_duration_seconds_count") == 3)
            #expect(m.value("atelier_job_duration_seconds_bucket", ["status": "succeeded", "le": "+Inf"]) == 1)
            #expect(m.value("atelier_provider_call_duration_seconds_count", ["provider": "local", "outcome": "succeeded"]) == 1)
            #expect(m.value("atelier_provider_call_duration_seconds_count", ["provider": "runware", "outcome": "failed"]) >= 1)
            #expect(m.value("atelier_provider_call_duration_seconds_count", ["provider": "runware", "outcome": "cancelled"]) == 1)
            #expect(m.value("atelier_job_overhead_seconds_count") == 3)
            let errorClass = try #require(failedJob.attempts.last?.error?.code.rawValue)
            #expect(m.value("atelier_provider_errors_total", ["provider": "runware", "class": errorClass]) >= 1)
            // Gauges: nothing queued or running any more; the build is labelled with its version.
            #expect(m.value("atelier_jobs_queued", ["provider": "runware"]) == 0)
            #expect(m.value("atelier_jobs_running", ["provider": "runware"]) == 0)
            #expect(m.labels("atelier_jobs_queued").contains { $0["provider"] == "local" })
            #expect(m.value("atelier_build_info") == 1)
            #expect(m.value("atelier_delivery_outbox_backlog", ["state": "open"]) == 0)
            // No label carries a taskUUID.
            for id in [ok.taskUUID, failed.taskUUID, held.taskUUID] {
                #expect(!m.samples.contains { $0.labels.values.contains(id) })
            }

            try? await client.close()
            await daemon.terminate()

            // Every stderr line is one JSON object with time, level and message; no key, no token anywhere.
            let lines = daemon.log.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
            #expect(lines.count > 3)
            var sawTask = false
            for line in lines {
                guard let o = try? JSONParser.parse(Array(line.utf8)), o.objectValue != nil else {
                    Issue.record("not a JSON object: \(line)")
                    continue
                }
                #expect(o["time"]?.stringValue.flatMap(Timestamp.init(iso8601:)) != nil, "\(line)")
                #expect(o["level"]?.stringValue != nil && o["message"]?.stringValue != nil, "\(line)")
                if o["taskUUID"]?.stringValue == failed.taskUUID { sawTask = true }
            }
            #expect(sawTask, "the failed job's log lines carry its taskUUID")
            let token = try String(contentsOfFile: BearerToken.path(socketPath: daemon.socketPath), encoding: .utf8)
            for secret in fakes.keys.secretForms + [token.trimmingCharacters(in: .whitespacesAndNewlines)] {
                #expect(!daemon.log.contains(secret), "a secret reached the log")
            }
        }
    }

    @Test("deliveries are counted by kind: webhooks and uploads delivered, an upload given up")
    func deliveryMetricsByKind() async throws {
        try #require(PythonPeer.available, "python3 is required")
        let dir = TempDir("http-dlv")
        defer { dir.cleanup() }
        let daemon = try await DaemonProcess.start(in: dir, routing: Self.routing, extraArguments: ["--http", "127.0.0.1:0"])
        let client = try await daemon.client()
        let base = try await Self.baseURL(daemon)
        let secret = try #require(try await client.call("webhook.secret")["secret"]?.stringValue)
        let peer = try await ReceiverPeer.start(in: dir, secret: secret)
        defer { peer.stop() }
        func task(_ upload: String, seed: Int64) -> JSONValue {
            [
                "positivePrompt": "a lighthouse", "model": "local-render", "seed": .int(seed), "webhookURL": .string(peer.url("/ok/hook")),
                "uploadEndpoint": .string(upload),
            ]
        }
        // Two jobs, each with two webhooks (job.result, job.succeeded) and one upload; the second upload is refused
        // for good (an expired presigned URL: 403, no retry).
        let ok = try await client.submit(task(peer.url("/ok/plain.png"), seed: 1))
        let expired = try await client.submit(task(peer.url("/s3-expired/late.png"), seed: 2))
        for job in [ok, expired] {
            #expect(try await client.wait(job.taskUUID, timeoutSeconds: 60).status == .succeeded)
            let rows = try await waitForDeliveries(client, taskUUID: job.taskUUID) { rs in
                rs.count == 3 && rs.allSatisfy { $0["status"] == "delivered" || $0["status"] == "failed" }
            }
            #expect(rows.count == 3)
        }
        // The counters are read at scrape time from the delivery service, which counts once the outcome is stored.
        var m = try await Self.scrape(base)
        _ = try await eventually(timeout: .seconds(30), "delivery counters reach the settled rows") {
            m = try await Self.scrape(base)
            return m.value("atelier_delivery_outcomes_total") == 6
        }
        #expect(m.types["atelier_delivery_attempts"] == "counter")
        #expect(m.value("atelier_delivery_attempts_total", ["kind": "webhook"]) == 4)
        #expect(m.value("atelier_delivery_attempts_total", ["kind": "upload"]) == 2)
        #expect(m.value("atelier_delivery_outcomes_total", ["kind": "webhook", "outcome": "delivered"]) == 4)
        #expect(m.value("atelier_delivery_outcomes_total", ["kind": "upload", "outcome": "delivered"]) == 1)
        #expect(m.value("atelier_delivery_outcomes_total", ["kind": "upload", "outcome": "failed"]) == 1)
        #expect(m.value("atelier_delivery_outbox_backlog", ["state": "open"]) == 0)
        try? await client.close()
        await daemon.terminate()
    }

    @Test("spend by model and by the configured tag carries cost_source; store transactions are timed")
    func costAndCommitMetrics() async throws {
        try #require(PythonPeer.available, "python3 is required")
        let dir = TempDir("http-cost")
        defer { dir.cleanup() }
        try await FakeProviders.with { fakes in
            var env = fakes.environment(for: ["runware"])
            env["ATELIER_METRICS_COST_TAG"] = "client"
            let daemon = try await DaemonProcess.start(in: dir, routing: Self.routing, extraArguments: ["--http", "127.0.0.1:0"], environment: env)
            let client = try await daemon.client()
            let base = try await Self.baseURL(daemon)
            var jobs: [Job] = []
            for tags: JSONValue in [["client": "acme"], [:]] {
                let j = try await client.submit([
                    "positivePrompt": "a kite", "model": "runware-flux-1-schnell", "width": 512, "height": 512, "tags": tags,
                ])
                jobs.append(try await client.wait(j.taskUUID, timeoutSeconds: 60))
            }
            try? await client.close()
            let m = try await Self.scrape(base)
            await daemon.terminate()

            let tagged = try #require(jobs[0].costUSD)
            let untagged = try #require(jobs[1].costUSD)
            let source = try #require(jobs[0].costSource?.rawValue)
            #expect(tagged > 0 && source != "unknown")
            let model = ["model": "runware-flux-1-schnell", "cost_source": source]
            #expect(abs(m.value("atelier_cost_usd_total", model) - (tagged + untagged)) < 1e-9)
            #expect(abs(m.value("atelier_cost_by_tag_usd_total", ["tag": "client", "value": "acme", "cost_source": source]) - tagged) < 1e-9)
            #expect(abs(m.value("atelier_cost_by_tag_usd_total", ["tag": "client", "value": "none", "cost_source": source]) - untagged) < 1e-9)
            // Every job commits at least its insert and its end; the histogram saw them (and nothing failed).
            #expect(m.types["atelier_store_commit_duration_seconds"] == "histogram")
            #expect(m.value("atelier_store_commit_duration_seconds_count", ["outcome": "committed"]) >= 4)
            #expect(m.value("atelier_store_commit_duration_seconds_count", ["outcome": "failed"]) == 0)
            #expect(m.value("atelier_store_commit_duration_seconds_bucket", ["outcome": "committed", "le": "+Inf"]) >= 4)
        }
    }

    @Test("a job whose cost is unknown adds no USD and is counted as unpriced")
    func unknownCostIsCounted() throws {
        let metrics = AtelierMetrics()
        let task = try ImageTask(json: ["positivePrompt": "x", "model": "m", "width": 512, "height": 512])
        var job = Job(task: task, status: .succeeded, createdAt: Timestamp(milliseconds: 1_000), route: nil)
        job.finishedAt = Timestamp(milliseconds: 2_000)
        var attempt = Attempt(number: 1, provider: "p", model: "m", startedAt: Timestamp(milliseconds: 1_100), outcome: .succeeded)
        attempt.endedAt = Timestamp(milliseconds: 1_900)
        attempt.cost = CostFigure(usd: nil, source: .unknown)
        job.attempts = [attempt]
        #expect(job.costSource == .unknown)
        JobMetricsObserver.observe(JobEvent(.succeeded, job: job), into: metrics, costTag: CostTagLabel(tag: "client"))
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"atelier_jobs_unpriced_total{model="m"} 1"#), "\(text)")
        #expect(!text.contains("atelier_cost_usd_total{"))
        #expect(!text.contains("atelier_cost_by_tag_usd_total{"))
    }

    @Test("the token: /metrics and /healthz are open; the API answers 401 without it or with a wrong one, 200 with it")
    func tokenIsRequired() async throws {
        try #require(PythonPeer.available, "python3 is required")
        try await withDaemon("http-token", extraArguments: ["--http", "127.0.0.1:0"]) { daemon, client in
            let base = try await Self.baseURL(daemon)
            let tokenPath = BearerToken.path(socketPath: daemon.socketPath)
            let attributes = try FileManager.default.attributesOfItem(atPath: tokenPath)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let token = try String(contentsOfFile: tokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.count == 64)

            let job = try await client.submit(["positivePrompt": "a red kite", "model": "local-render"])
            _ = try await client.wait(job.taskUUID, timeoutSeconds: 60)

            #expect(try await Self.get(base + "healthz").status == 200)
            #expect(try await Self.get(base + "metrics").status == 200)
            #expect(try await Self.get(base + "api/jobs/\(job.taskUUID)").status == 401)
            #expect(try await Self.get(base + "api/jobs/\(job.taskUUID)", token: String(token.reversed())).status == 401)
            #expect(try await Self.get(base + "api/anything-else").status == 401)
            let ok = try await Self.get(base + "api/jobs/\(job.taskUUID)", token: token)
            #expect(ok.status == 200)
            #expect(try JSONParser.parse(Array(ok.body.utf8))["taskUUID"]?.stringValue == job.taskUUID)
            let health = try JSONParser.parse(Array(try await Self.get(base + "healthz").body.utf8))
            #expect(health["status"]?.stringValue == "ok")
        }
    }

    @Test("a non-loopback --http is refused at start unless --http-allow-remote", arguments: ["0.0.0.0:0", "192.0.2.1:8080", "[::]:0"])
    func nonLoopbackIsRefused(address: String) async throws {
        let dir = TempDir("http-remote")
        defer { dir.cleanup() }
        let r = try await runCommand(
            PackagePaths.atelierd, ["--socket", dir.path + "/s.sock", "--data-dir", dir.path + "/data", "--http", address])
        #expect(r.status == 64, "usage error expected, got \(r.status): \(r.stderr)")
        #expect(r.stderr.contains("--http-allow-remote"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/s.sock"))
    }

    @Test("bind addresses: loopback forms accepted, others need the flag, malformed ones are refused")
    func bindAddressParsing() throws {
        for text in ["127.0.0.1:0", "127.1.2.3:9", "[::1]:8080", "localhost:80"] {
            let a = try HTTPBindAddress(parsing: text)
            #expect(a.isLoopback, "\(text)")
            try HTTPFace.check(address: a, allowRemote: false)
        }
        for text in ["0.0.0.0:80", "10.0.0.1:1", "[::]:1", "[::ffff:10.0.0.1]:1"] {
            let a = try HTTPBindAddress(parsing: text)
            #expect(!a.isLoopback, "\(text)")
            #expect(throws: AtelierError.self) { try HTTPFace.check(address: a, allowRemote: false) }
            try HTTPFace.check(address: a, allowRemote: true)
        }
        for text in ["127.0.0.1", "example.com:80", "127.0.0.1:70000", ":80", "[::1]8080", "1.2.3:4"] {
            #expect(throws: AtelierError.self, "\(text)") { _ = try HTTPBindAddress(parsing: text) }
        }
    }

    @Test("bearer token comparison")
    func tokenComparison() {
        let t = BearerToken(value: "abc123")
        #expect(t.authorizes(header: "Bearer abc123"))
        #expect(t.authorizes(header: "bearer abc123"))
        #expect(!t.authorizes(header: "Bearer abc124"))
        #expect(!t.authorizes(header: "Bearer abc1234"))
        #expect(!t.authorizes(header: "Basic abc123"))
        #expect(!t.authorizes(header: nil))
        #expect(BearerToken().value.count == 64)
        #expect(BearerToken().value != BearerToken().value)
    }
}
