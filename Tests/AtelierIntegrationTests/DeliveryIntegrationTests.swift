import AtelierClient
import AtelierCore
import AtelierRPC
import AtelierTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Webhooks and uploads end to end: the real daemon, real receivers (Python peers in Tests/peers/, signatures checked
/// by the independent `standardwebhooks` package, S3 by moto), kill -9 in the middle.
@Suite("delivery against real receivers", .serialized, .enabled(if: PythonPeer.available, "python3 is not installed"))
struct DeliveryIntegrationTests {
    func task(webhook: String? = nil, uploads: [String]? = nil, n: Int = 1, seed: Int64 = 3) -> JSONValue {
        var o: JSONObject = [
            "positivePrompt": "a kite over dunes", "model": "local-render", "width": 128, "height": 96, "seed": .int(seed),
            "numberResults": .int(Int64(n)),
        ]
        o.append("webhookURL", ifPresent: webhook.map(JSONValue.string))
        if let uploads { o.append("uploadEndpoint", uploads.count == 1 ? .string(uploads[0]) : .array(uploads.map(JSONValue.string))) }
        return .object(o)
    }

    func secret(_ client: AtelierClient) async throws -> String {
        try #require(try await client.call("webhook.secret")["secret"]?.stringValue)
    }

    // MARK: Webhooks

    @Test func webhooksAreSignedAndVerifiedByStandardWebhooks() async throws {
        let dir = TempDir("dlv-sign")
        defer { dir.cleanup() }
        try await withDaemon(in: dir) { daemon, client in
            let secret = try await secret(client)
            #expect(secret.hasPrefix("whsec_"))

            // Generated on first start into the data directory, private, and shown by the CLI.
            let file = daemon.dataDir + "/webhook-secret"
            let attrs = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attrs[.posixPermissions] as? Int) == 0o600)
            #expect(try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == secret)
            let cli = try await runCommand(PackagePaths.atelier, ["webhook-secret", "--socket", daemon.socketPath])
            #expect(cli.status == 0)
            #expect(cli.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == secret)

            let peer = try await ReceiverPeer.start(in: dir, secret: secret)
            defer { peer.stop() }
            let hook = peer.url("/ok/hook?token=t0ps3cret")
            let job = try await client.submit(task(webhook: hook, n: 2))
            let done = try await client.wait(job.taskUUID, timeoutSeconds: 60)
            #expect(done.status == .succeeded)

            let records = await peer.waitFor { $0.count >= 3 }
            #expect(records.count == 3)
            for r in records {
                #expect(r["verified"] == true, "standardwebhooks verification: \(r["verifyError"] ?? "-")")
                #expect(r["id"]?.stringValue?.hasPrefix("msg_") == true)
                #expect(r["contentType"] == "application/json")
                #expect(r["body"]?.stringValue?.contains("t0ps3cret") == false, "no query strings in bodies")
            }
            #expect(Set(records.compactMap { $0["id"]?.stringValue }).count == 3)
            let types = records.compactMap { $0["type"]?.stringValue }.sorted()
            #expect(types == ["job.result", "job.result", "job.succeeded"])
            let resultBodies = records.compactMap(\.webhookBody).filter { $0["type"] == "job.result" }
            #expect(Set(resultBodies.compactMap { $0["data"]?["sha256"]?.stringValue }) == Set(done.results.map(\.sha256)))
            #expect(Set(resultBodies.compactMap { $0["data"]?["path"]?.stringValue }) == Set(done.results.map(\.path)))
            let succeeded = try #require(records.compactMap(\.webhookBody).first { $0["type"] == "job.succeeded" })
            #expect(succeeded["data"]?["taskUUID"]?.stringValue == job.taskUUID)
            #expect(succeeded["data"]?["task"]?["webhookURL"]?.stringValue == peer.url("/ok/hook"))
            #expect(succeeded["timestamp"]?.stringValue != nil)

            // The job shows its delivery state; the list agrees; the ids are the webhook-ids.
            let rows = try await waitForDeliveries(client, taskUUID: job.taskUUID) { rs in
                rs.count == 3 && rs.allSatisfy { $0["status"] == "delivered" }
            }
            #expect(Set(rows.compactMap { $0["id"]?.stringValue }) == Set(records.compactMap { $0["id"]?.stringValue }))
            #expect(rows.allSatisfy { $0["url"]?.stringValue == peer.url("/ok/hook") && $0["attempts"] == 1 })
            var shown: [JSONValue] = []
            try await eventually(every: .milliseconds(50), "job.get shows three delivered messages") {
                shown = try await client.job(job.taskUUID).deliveries
                return shown.count == 3 && shown.allSatisfy({ $0["status"] == "delivered" })
            }
            #expect(shown.count == 3)
            #expect(shown.allSatisfy { $0["status"] == "delivered" })
            #expect(!daemon.log.contains("t0ps3cret"), "query strings never reach the log")
            #expect(!daemon.log.contains(String(secret.dropFirst(6).prefix(12))), "the secret never reaches the log")
        }
    }

    @Test func goneStopsAtOnceAndTheEnvironmentSecretSigns() async throws {
        let dir = TempDir("dlv-gone")
        defer { dir.cleanup() }
        let envSecret = "whsec_" + Data((0..<24).map { UInt8($0 * 7 % 256) }).base64EncodedString()
        try await withDaemon(
            in: dir, extraArguments: ["--webhook-retry-schedule", "0,200ms,200ms"], environment: ["ATELIER_WEBHOOK_SECRET": envSecret]
        ) { daemon, client in
            let shown = try await client.call("webhook.secret")
            #expect(shown["secret"]?.stringValue == envSecret)
            #expect(shown["source"] == "environment")
            #expect(!FileManager.default.fileExists(atPath: daemon.dataDir + "/webhook-secret"))

            let peer = try await ReceiverPeer.start(in: dir, secret: envSecret)
            defer { peer.stop() }
            let job = try await client.submit(task(webhook: peer.url("/status/410/hook")))
            _ = try await client.wait(job.taskUUID, timeoutSeconds: 60)
            let rows = try await waitForDeliveries(client, taskUUID: job.taskUUID) { rs in rs.count == 2 && rs.allSatisfy { $0["status"] == "failed" }
            }
            #expect(rows.count == 2)
            for r in rows {
                #expect(r["attempts"] == 1)
                #expect(r["lastHTTPStatus"] == 410)
                #expect(r["lastError"]?["code"] == "receiver_rejected")
                #expect(r["nextAttemptAt"] == .null)
            }
            // Failed with no next attempt: nothing more is scheduled. The receiver logged each request before answering.
            let records = peer.records()
            #expect(records.count == 2, "410 means no retry")
            #expect(records.allSatisfy { $0["verified"] == true })
        }
    }

    @Test func retriesFollowTheScheduleThenRetryOverRPCAndCLI() async throws {
        let dir = TempDir("dlv-retry")
        defer { dir.cleanup() }
        try await withDaemon(in: dir, extraArguments: ["--webhook-retry-schedule", "0,100ms,100ms", "--delivery-jitter", "0"]) { daemon, client in
            let peer = try await ReceiverPeer.start(in: dir, secret: try await secret(client))
            defer { peer.stop() }
            // Per message: 500, 503, 500 (schedule spent: failed), then 200 after a manual retry.
            let job = try await client.submit(task(webhook: peer.url("/seq/500,503,500,200/hook")))
            _ = try await client.wait(job.taskUUID, timeoutSeconds: 60)
            let failed = try await waitForDeliveries(client, taskUUID: job.taskUUID) { rs in
                rs.count == 2 && rs.allSatisfy { $0["status"] == "failed" }
            }
            for r in failed {
                #expect(r["attempts"] == 3)
                #expect(r["lastError"]?["message"]?.stringValue?.hasPrefix("gave up after 3 attempts") == true)
            }
            // Exhausted messages stay listed.
            let listed = try await client.call("delivery.list", params: ["status": "failed"])
            #expect(
                Set(listed["deliveries"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []) == Set(failed.compactMap { $0["id"]?.stringValue }))
            let times = peer.records().compactMap { $0["t"]?.doubleValue }
            #expect(times.count == 6)

            // Retry one by id over RPC, the other with the CLI (by job).
            let first = try #require(failed.first?["id"]?.stringValue)
            let again = try await client.call("delivery.retry", params: ["id": .string(first)])
            #expect(again["id"]?.stringValue == first)
            #expect(again["status"] == "pending")
            let cli = try await runCommand(
                PackagePaths.atelier, ["delivery", "retry", "--task", job.taskUUID, "--socket", daemon.socketPath, "--json"])
            #expect(cli.status == 0, "\(cli.stderr)")
            let rows = try await waitForDeliveries(client, taskUUID: job.taskUUID) { rs in
                rs.count == 2 && rs.allSatisfy { $0["status"] == "delivered" }
            }
            #expect(rows.count == 2)
            #expect(rows.allSatisfy { $0["status"] == "delivered" && $0["attempts"] == 4 })
            let records = peer.records()
            #expect(records.count == 8)
            for id in rows.compactMap({ $0["id"]?.stringValue }) {
                let mine = records.filter { $0["id"]?.stringValue == id }
                #expect(mine.compactMap { $0["status"]?.intValue } == [500, 503, 500, 200], "one webhook-id across every attempt")
                #expect(mine.allSatisfy { $0["verified"] == true })
            }
            // A delivered message is not retried; bad params name the field.
            let e1 = await rpcError { _ = try await client.call("delivery.retry", params: ["id": .string(first)]) }
            #expect(e1?.stableCode == "already_delivered")
            let e2 = await rpcError {
                _ = try await client.call("delivery.retry", params: ["id": .string(first), "taskUUID": .string(job.taskUUID)])
            }
            #expect(e2?.stableCode == "missing_field")
            let e3 = await rpcError { _ = try await client.call("delivery.retry", params: ["id": "msg_doesnotexist"]) }
            #expect(e3?.stableCode == "not_found")
            let e4 = await rpcError { _ = try await client.call("delivery.list", params: ["status": "sending"]) }
            #expect(e4?.stableCode == "invalid_value")
            #expect(e4?.field == "/status")
            let e5 = await rpcError { _ = try await client.call("delivery.list", params: ["statu": "failed"]) }
            #expect(e5?.stableCode == "unknown_field")

            let table = try await runCommand(PackagePaths.atelier, ["delivery", "list", "--task", job.taskUUID, "--socket", daemon.socketPath])
            #expect(table.status == 0)
            #expect(table.stdout.contains("delivered"))
            #expect(table.stdout.contains(first))
        }
    }

    /// The receiver is down while the job completes; the daemon is killed with the message in its outbox; the
    /// receiver comes up; the restarted daemon delivers the message with the webhook-id it had been assigned.
    @Test func theOutboxSurvivesSIGKILLBetweenStoreAndSend() async throws {
        let dir = TempDir("dlv-kill")
        defer { dir.cleanup() }
        let port = unusedLocalPort()
        let daemon = try await DaemonProcess.start(in: dir, extraArguments: ["--webhook-retry-schedule", "0,4s,4s,4s"])
        let client = try await daemon.client()
        let secret = try await secret(client)
        let job = try await client.submit(task(webhook: "http://127.0.0.1:\(port)/ok/hook"))
        _ = try await client.wait(job.taskUUID, timeoutSeconds: 60)
        // Attempt 1 was refused (nothing listens); the messages wait in the outbox. (On a loaded machine attempt 2,
        // due 3 s later, may have been refused too before this look: at least one attempt, still pending.)
        let before = try await waitForDeliveries(client, taskUUID: job.taskUUID) { rs in
            rs.count == 2 && rs.allSatisfy { ($0["attempts"]?.intValue ?? 0) >= 1 && $0["status"] == "pending" && $0["nextAttemptAt"] != .null }
        }
        #expect(before.count == 2)
        #expect(before.allSatisfy { $0["lastError"]?["code"] == "unavailable" })
        let ids = Set(before.compactMap { $0["id"]?.stringValue })
        await daemon.kill9()

        let peer = try await ReceiverPeer.start(in: dir, secret: secret, port: port)
        defer { peer.stop() }
        try await withDaemon(in: dir, extraArguments: ["--webhook-retry-schedule", "0,4s,4s,4s"]) { restarted, client2 in
            let records = await peer.waitFor(30) { $0.count >= 2 }
            #expect(Set(records.compactMap { $0["id"]?.stringValue }) == ids, "delivered after restart with the ids assigned before the crash")
            #expect(records.allSatisfy { $0["verified"] == true })
            let after = try await waitForDeliveries(client2, taskUUID: job.taskUUID) { rs in
                rs.count == 2 && rs.allSatisfy { $0["status"] == "delivered" }
            }
            #expect(after.count == 2)
            // One more attempt than were made before the crash (refused ones), the last one delivered.
            #expect(after.allSatisfy { ($0["attempts"]?.intValue ?? 0) >= 2 })
        }
    }

    /// kill -9 while the receiver holds an attempt open: the restarted daemon sends the message again with the same
    /// webhook-id (at-least-once; receivers dedupe on it).
    @Test func aCrashMidSendResendsWithTheSameWebhookID() async throws {
        let dir = TempDir("dlv-mid")
        defer { dir.cleanup() }
        let daemon = try await DaemonProcess.start(in: dir, extraArguments: ["--webhook-timeout", "120"])
        let client = try await daemon.client()
        let peer = try await ReceiverPeer.start(in: dir, secret: try await secret(client))
        defer { peer.stop() }
        let job = try await client.submit(task(webhook: peer.url("/hang-once/hook")))
        _ = try await client.wait(job.taskUUID, timeoutSeconds: 60)
        let hung = await peer.waitFor { rs in rs.filter { $0["status"] == "hang" }.count == 2 }
        #expect(hung.count == 2)
        let ids = Set(hung.compactMap { $0["id"]?.stringValue })
        let inFlight = try await waitForDeliveries(client, taskUUID: job.taskUUID) { rs in rs.count == 2 && rs.allSatisfy { $0["inFlight"] == true } }
        #expect(inFlight.count == 2)
        #expect(inFlight.allSatisfy { $0["status"] == "pending" && $0["inFlight"] == true })
        await daemon.kill9()

        try await withDaemon(in: dir) { restarted, client2 in
            let records = await peer.waitFor { rs in rs.filter { $0["status"] == 200 }.count == 2 }
            let answered = records.filter { $0["status"] == 200 }
            #expect(Set(answered.compactMap { $0["id"]?.stringValue }) == ids)
            #expect(answered.allSatisfy { $0["verified"] == true })
            let after = try await waitForDeliveries(client2, taskUUID: job.taskUUID) { rs in
                rs.count == 2 && rs.allSatisfy { $0["status"] == "delivered" }
            }
            #expect(after.count == 2)
            // One more attempt than were made before the crash (refused ones), the last one delivered.
            #expect(after.allSatisfy { ($0["attempts"]?.intValue ?? 0) >= 2 })
        }
    }

    // MARK: Uploads

    @Test func presignedUploadsToMotoArriveByteForByte() async throws {
        let dir = TempDir("dlv-s3")
        defer { dir.cleanup() }
        let moto = try await PythonPeer.start("moto_peer.py", [], logDir: dir.path)
        defer { moto.stop() }
        try await withDaemon(in: dir) { daemon, client in
            let peer = try await ReceiverPeer.start(in: dir, secret: try await secret(client))
            defer { peer.stop() }
            var urls: [String] = []
            for key in ["renders/one.png", "renders/two.png"] {
                let r = try await moto.command(["op": "presign", "bucket": "atelier-uploads", "key": .string(key), "contentType": "image/png"])
                urls.append(try #require(r["url"]?.stringValue, "\(r)"))
            }
            #expect(urls.allSatisfy { $0.contains("X-Amz-Signature=") })
            let job = try await client.submit(task(webhook: peer.url("/ok/hook"), uploads: urls, n: 2))
            let done = try await client.wait(job.taskUUID, timeoutSeconds: 60)
            #expect(done.status == .succeeded, "the job is final once its images are stored")
            let rows = try await waitForDeliveries(client, taskUUID: job.taskUUID) { rs in
                rs.count == 5 && rs.allSatisfy { $0["status"] == "delivered" }
            }
            #expect(rows.filter { $0["kind"] == "upload" }.count == 2)
            for (i, key) in ["renders/one.png", "renders/two.png"].enumerated() {
                let obj = try await moto.command(["op": "get", "bucket": "atelier-uploads", "key": .string(key)])
                #expect(obj["sha256"]?.stringValue == done.results[i].sha256, "\(obj)")
                #expect(obj["size"]?.intValue == Int64(done.results[i].bytes))
                #expect(obj["contentType"] == "image/png")
            }
            // The webhooks waited for the uploads and say where each image went (no query string).
            let records = await peer.waitFor { $0.count >= 3 }
            let bodies = records.compactMap(\.webhookBody)
            for b in bodies where b["type"] == "job.result" {
                let i = Int(b["data"]?["index"]?.intValue ?? -1)
                #expect(b["data"]?["uploadURL"]?.stringValue == URLCheck.redacted(urls[i]))
                #expect(b["data"]?["uploadURL"]?.stringValue?.contains("?") == false)
            }
            #expect(!records.contains { ($0["body"]?.stringValue ?? "").contains("X-Amz-Signature") })
            #expect(!daemon.log.contains("X-Amz-Signature"))
        }
    }

    @Test func plainPutReceiverForbiddenURLAndRetriedUpload() async throws {
        let dir = TempDir("dlv-put")
        defer { dir.cleanup() }
        try await withDaemon(in: dir, extraArguments: ["--upload-retry-schedule", "0,100ms,100ms"]) { daemon, client in
            let peer = try await ReceiverPeer.start(in: dir, secret: try await secret(client))
            defer { peer.stop() }

            // A plain HTTP PUT receiver: raw bytes, Content-Type and Content-Length from the stored file.
            let ok = try await client.submit(task(uploads: [peer.url("/ok/plain.png")]))
            let okDone = try await client.wait(ok.taskUUID, timeoutSeconds: 60)
            _ = try await waitForDeliveries(client, taskUUID: ok.taskUUID) { rs in rs.first?["status"] == "delivered" }
            let put = try #require(peer.records().first { $0["method"] == "PUT" })
            #expect(put["sha256"]?.stringValue == okDone.results[0].sha256)
            #expect(put["contentType"] == "image/png")
            #expect(put["contentLength"]?.stringValue == String(okDone.results[0].bytes))
            let stored = try #require(FileManager.default.contents(atPath: peer.storeDir + "/plain.png"))
            #expect(stored == FileManager.default.contents(atPath: okDone.results[0].path))

            // An expired presigned URL (403 with S3's XML): terminal after one attempt, the receiver's words in the error.
            let signature = "deadbeefcafef00d1234"
            let expired = try await client.submit(
                task(
                    webhook: peer.url("/ok/hook"), uploads: [peer.url("/s3-expired/late.png?X-Amz-Expires=900&X-Amz-Signature=\(signature)")], seed: 4
                ))
            let expiredDone = try await client.wait(expired.taskUUID, timeoutSeconds: 60)
            #expect(expiredDone.status == .succeeded, "a failed upload never changes the job's own status")
            let rows = try await waitForDeliveries(client, taskUUID: expired.taskUUID) { rs in
                rs.count == 3 && rs.allSatisfy { $0["status"] != "pending" }
            }
            let upload = try #require(rows.first { $0["kind"] == "upload" })
            #expect(upload["status"] == "failed")
            #expect(upload["attempts"] == 1)
            #expect(upload["lastHTTPStatus"] == 403)
            let message = upload["lastError"]?["message"]?.stringValue ?? ""
            #expect(message.contains("403"))
            #expect(message.contains("AccessDenied: Request has expired"))
            #expect(!JSONWriter.string(.array(rows)).contains(signature), "no presigned signature in listings or errors")
            #expect(!daemon.log.contains(signature))
            // The webhook still went out, telling why the image did not get there.
            let result = await peer.waitFor { rs in rs.contains { $0.webhookBody?["data"]?["uploadError"] != nil } }
            let body = try #require(
                result.compactMap(\.webhookBody).first { $0["type"] == "job.result" && $0["data"]?["taskUUID"]?.stringValue == expired.taskUUID })
            #expect(body["data"]?["uploadError"]?["httpStatus"] == 403)
            #expect(body["data"]?["uploadURL"] == nil)

            // 503 then 200: retried with backoff and delivered.
            let flaky = try await client.submit(task(uploads: [peer.url("/seq/503,200/flaky.png")], seed: 5))
            _ = try await client.wait(flaky.taskUUID, timeoutSeconds: 60)
            let f = try await waitForDeliveries(client, taskUUID: flaky.taskUUID) { rs in rs.first?["status"] == "delivered" }
            #expect(f.first?["attempts"] == 2)
        }
    }

    // MARK: Safety

    @Test func forbiddenAddressesAreRefusedAtSubmitAndAfterResolution() async throws {
        let dir = TempDir("dlv-ssrf")
        defer { dir.cleanup() }
        let daemon = try await DaemonProcess.start(in: dir)
        let client = try await daemon.client()
        let cases: [(JSONValue, String)] = [
            (task(webhook: "http://169.254.169.254/latest/meta-data/"), "/webhookURL"),
            (task(webhook: "http://2852039166/"), "/webhookURL"),
            (task(webhook: "http://[::ffff:169.254.169.254]/"), "/webhookURL"),
            (task(uploads: ["http://[fe80::1]/x.png", "http://127.0.0.1:9/y.png"], n: 2), "/uploadEndpoint/0"),
            (task(uploads: ["http://169.254.170.2/creds"]), "/uploadEndpoint"),
            (task(webhook: "ftp://example.com/hook"), "/webhookURL"),
        ]
        for (t, field) in cases {
            let e = await rpcError { _ = try await client.submit(t) }
            #expect(e?.stableCode == "invalid_url", "\(t)")
            #expect(e?.field == field)
        }
        let mismatch = await rpcError { _ = try await client.submit(task(uploads: ["http://127.0.0.1:9/a.png"], n: 2)) }
        #expect(mismatch?.stableCode == "upload_count_mismatch")
        let list = try await client.call("job.list", params: ["limit": 10])
        #expect(list["jobs"]?.arrayValue?.isEmpty == true, "nothing refused was stored")
        await daemon.terminate()

        // A configured deny list applies to literal addresses at submit and to resolved names at send time.
        try await withDaemon(
            in: dir, extraArguments: ["--delivery-deny", "127.0.0.0/8", "--delivery-deny", "::1", "--webhook-retry-schedule", "0,100ms"]
        ) { strict, c2 in
            let peer = try await ReceiverPeer.start(in: dir, secret: nil)
            defer { peer.stop() }
            let literal = await rpcError { _ = try await c2.submit(task(webhook: peer.url("/ok/hook"))) }
            #expect(literal?.stableCode == "invalid_url")
            let job = try await c2.submit(task(webhook: "http://localhost:\(peer.port)/ok/hook"))
            _ = try await c2.wait(job.taskUUID, timeoutSeconds: 60)
            let rows = try await waitForDeliveries(c2, taskUUID: job.taskUUID) { rs in rs.count == 2 && rs.allSatisfy { $0["status"] == "failed" } }
            #expect(rows.count == 2)
            #expect(rows.allSatisfy { $0["lastError"]?["code"] == "forbidden_address" && $0["attempts"] == 1 })
            // Refused before connecting (attempts 1, forbidden_address, no next attempt): the receiver saw nothing.
            #expect(peer.records().isEmpty, "nothing reached the forbidden address")
        }
    }
}
