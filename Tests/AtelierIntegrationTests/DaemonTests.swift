import AtelierClient
import AtelierCore
import AtelierRPC
import AtelierTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

func localTask(_ prompt: String = "a quiet harbour", seed: Int64? = 7, width: Int = 256, height: Int = 192, uuid: String? = nil) -> JSONValue {
    var o: JSONObject = ["positivePrompt": .string(prompt), "model": "local-render", "width": .int(Int64(width)), "height": .int(Int64(height))]
    o.append("seed", ifPresent: seed.map(JSONValue.int))
    o.append("taskUUID", ifPresent: uuid.map(JSONValue.string))
    return .object(o)
}

func rpcError(_ body: () async throws -> Void) async -> RPCError? {
    do {
        try await body()
        return nil
    } catch let e as RPCError {
        return e
    } catch {
        return nil
    }
}

@Suite("atelierd over its socket", .serialized)
struct DaemonTests {
    @Test func socketIsPrivateAndStaleFileIsReplaced() async throws {
        let dir = TempDir("perm")
        defer { dir.cleanup() }
        // A stale socket file (nothing listening) must not block the start.
        let sock = dir.path + "/s/atelierd.sock"
        try FileManager.default.createDirectory(atPath: dir.path + "/s", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: sock, contents: Data("stale".utf8))
        let daemon = try await DaemonProcess.start(in: dir, socketPath: sock)
        var st = stat()
        #expect(stat(sock, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600, "socket mode \(String(st.st_mode & 0o777, radix: 8))")
        #expect((st.st_mode & S_IFMT) == S_IFSOCK)
        #expect(stat(dir.path + "/s", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)

        // A second daemon on the same live socket refuses to start.
        let second = try await runCommand(
            PackagePaths.atelierd,
            ["--socket", sock, "--data-dir", dir.path + "/data2", "--providers", PackagePaths.root + "/providers", "--routing", daemon.routingPath])
        #expect(second.status != 0)
        #expect(second.stderr.contains("already listening"))

        // SIGTERM: exit 0 and the socket file is gone.
        let status = await daemon.terminate()
        #expect(status == 0)
        #expect(!FileManager.default.fileExists(atPath: sock))
    }

    @Test func submitWaitAndDeterministicRender() async throws {
        try await withDaemon("det") { daemon, client in
            let a = try await client.submit(localTask("a red fox in snow", seed: 11))
            let b = try await client.submit(localTask("a red fox in snow", seed: 11))
            let c = try await client.submit(localTask("a red fox in snow", seed: 12))
            #expect(a.status == .queued)
            #expect(a.route?.model == "local-render")
            let ja = try await client.wait(a.taskUUID, timeoutSeconds: 60)
            let jb = try await client.wait(b.taskUUID, timeoutSeconds: 60)
            let jc = try await client.wait(c.taskUUID, timeoutSeconds: 60)
            for j in [ja, jb, jc] {
                #expect(j.status == .succeeded)
                #expect(j.results.count == 1)
            }
            let ra = try #require(ja.results.first)
            let rb = try #require(jb.results.first)
            let rc = try #require(jc.results.first)
            #expect(ra.sha256 == rb.sha256, "same prompt, seed and size must give the same bytes")
            #expect(ra.sha256 != rc.sha256, "a different seed must give a different image")
            #expect(ra.width == 256 && ra.height == 192 && ra.mimeType == "image/png")
            #expect(ra.seed == 11 && ra.seedHonored)
            // The file is where the job says, with the recorded hash.
            let data = try #require(FileManager.default.contents(atPath: ra.path))
            #expect(data.count == ra.bytes)
            #expect(ra.path.hasPrefix(daemon.dataDir + "/images/" + ja.taskUUID.prefix(2) + "/" + ja.taskUUID + "-"))
        }
    }

    @Test func submitWithWaitSecondsAnswersWithTheFinishedJobInOneRoundTrip() async throws {
        try await withDaemon("submitwait") { daemon, client in
            let task = try ImageTask(json: localTask("a green door", seed: 5))
            let done = try await client.submit(task, waitSeconds: 60)
            #expect(done.status == .succeeded)
            let result = try #require(done.results.first)
            #expect(FileManager.default.contents(atPath: result.path)?.count == result.bytes)
            // waitSeconds is not part of the task: the same task without it is the same job, not a conflict.
            let again = try await client.submit(task)
            #expect(again.taskUUID == done.taskUUID && again.createdAt == done.createdAt && again.status == .succeeded)
            #expect(try await client.list(limit: 100).jobs.filter { $0.taskUUID == done.taskUUID }.count == 1)
            // A wait that ends first answers with the job as it is; the job goes on and finishes.
            let slow = try await client.submit(try ImageTask(json: localTask("a slow render", seed: 6, width: 1024, height: 1024)), waitSeconds: 0)
            #expect(!slow.status.isTerminal)
            #expect(try await client.wait(slow.taskUUID, timeoutSeconds: 120).status == .succeeded)
            // A wait out of range is refused before anything is stored.
            let refused = await rpcError { _ = try await client.submit(try ImageTask(json: localTask("never stored")), waitSeconds: 3601) }
            #expect(refused?.code == -32602)
            #expect(refused?.stableCode == "invalid_value")
            #expect(refused?.field == "/waitSeconds")
            #expect(try await client.list(limit: 100).jobs.count == 2, "the refused submit stored no job")
        }
    }

    @Test func seedIsGeneratedAndRecordedWhenAbsent() async throws {
        try await withDaemon("seed") { daemon, client in
            let j = try await client.submit(localTask(seed: nil))
            let done = try await client.wait(j.taskUUID, timeoutSeconds: 60)
            let seed = try #require(done.task.seed)
            #expect(done.results.first?.seed == seed)
        }
    }

    @Test func idempotentResubmitAndConflict() async throws {
        try await withDaemon("idem") { daemon, client in
            let id = UUIDv4.generate()
            let first = try await client.submit(localTask(uuid: id))
            // Concurrent duplicates land in one group commit: all must resolve to the same job.
            let again = try await withThrowingTaskGroup(of: Job.self) { g in
                for _ in 0..<8 { g.addTask { try await client.submit(localTask(uuid: id)) } }
                var out: [Job] = []
                for try await j in g { out.append(j) }
                return out
            }
            #expect(again.allSatisfy { $0.taskUUID == id && $0.createdAt == first.createdAt })
            let conflict = await rpcError { _ = try await client.submit(localTask("something else", uuid: id)) }
            #expect(conflict?.code == -32002)
            #expect(conflict?.stableCode == "conflict_task_uuid")
            #expect(conflict?.field == "/taskUUID")
            _ = try await client.wait(id, timeoutSeconds: 60)
            let page = try await client.list(limit: 100)
            #expect(page.jobs.filter { $0.taskUUID == id }.count == 1, "exactly one job for the taskUUID")
        }
    }

    @Test func everyErrorCodeIsReachable() async throws {
        // Default policy (no builtin for auto) and no API keys: auto has no route.
        try await withDaemon("errs", allowBuiltin: false, extraArguments: ["--max-frame-bytes", "4096"]) { daemon, client in

            let noRoute = await rpcError { _ = try await client.submit(["positivePrompt": "x"]) }
            #expect(noRoute?.code == -32003)
            #expect(noRoute?.stableCode == "no_route")
            #expect(noRoute?.data?["rejections"]?.objectValue?.isEmpty == false, "no_route lists each model's reason")

            let cases: [(JSONValue, String, String)] = [
                (["positivePrompt": .int(3)], "invalid_type", "/positivePrompt"),
                ([:], "missing_field", "/positivePrompt"),
                (["positivePrompt": "x", "colour": "red"], "unknown_field", "/colour"),
                (["positivePrompt": "   "], "prompt_empty", "/positivePrompt"),
                (["positivePrompt": "x", "taskUUID": "123"], "invalid_uuid", "/taskUUID"),
                (["positivePrompt": "x", "width": 10, "height": 10], "invalid_dimensions", "/width"),
                (["positivePrompt": "x", "numberResults": 99], "invalid_number_results", "/numberResults"),
                (["positivePrompt": "x", "outputFormat": "BMP"], "unsupported_output_format", "/outputFormat"),
                (["positivePrompt": "x", "webhookURL": "ftp://example.com/x"], "invalid_url", "/webhookURL"),
                (["positivePrompt": "x", "numberResults": 2, "uploadEndpoint": "https://example.com/a"], "upload_count_mismatch", "/uploadEndpoint"),
                (["positivePrompt": "x", "referenceImages": ["relative/path.png"]], "invalid_reference_image", "/referenceImages/0"),
                (
                    ["positivePrompt": "x", "model": "local-render", "referenceImages": ["/nonexistent/ref.png"]], "invalid_reference_image",
                    "/referenceImages/0"
                ),
                (["positivePrompt": "x", "model": "local-render", "width": 1001, "height": 1001], "invalid_dimensions", "/width"),
                (["positivePrompt": "x", "model": "gemini-3-pro-image", "outputFormat": "WEBP"], "unsupported_output_format", "/outputFormat"),
                (["positivePrompt": "x", "model": "nope"], "unknown_model", "/model"),
                (
                    ["positivePrompt": "x", "referenceImages": ["https://example.com/ref.png"], "consistency": ["samples": 2], "numberResults": 2],
                    "invalid_value", "/numberResults"
                ),
                (
                    [
                        "positivePrompt": "x", "referenceImages": ["https://example.com/ref.png"],
                        "preserve": ["mask": "data:image/png;base64,aGVsbG8gd29ybGQ=", "mode": "composite"],
                    ], "invalid_reference_image", "/preserve/mask"
                ),
                (
                    ["positivePrompt": "x", "model": "gemini-3-pro-image", "requirements": ["reproducible": true]], "requirement_unsatisfiable",
                    "/requirements/reproducible"
                ),
            ]
            for (params, code, field) in cases {
                let e = await rpcError { _ = try await client.call(RPCMethod.jobSubmit, params: params) }
                #expect(e?.code == -32602, "\(params) → \(String(describing: e))")
                #expect(e?.stableCode == code, "\(params) → \(String(describing: e))")
                #expect(e?.field == field, "\(params) → \(String(describing: e))")
            }

            let notFound = await rpcError { _ = try await client.job(UUIDv4.generate()) }
            #expect(notFound?.code == -32001)

            let done = try await client.submit(localTask())
            _ = try await client.wait(done.taskUUID, timeoutSeconds: 60)
            let notCancellable = await rpcError { _ = try await client.cancel(done.taskUUID) }
            #expect(notCancellable?.code == -32005)
            #expect(notCancellable?.stableCode == "not_cancellable")

            let method = await rpcError { _ = try await client.call("job.explode") }
            #expect(method?.code == -32601)

            // Raw protocol errors.
            let raw = try RawConnection(socketPath: daemon.socketPath)
            raw.send("{not json")
            #expect(try JSONParser.parse(#require(await raw.nextLine()))["error"]?["code"] == .int(-32700))
            raw.send(
                Array("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.get\",\"params\":{\"taskUUID\":\"\u{22}".utf8) + [0xC3, 0x28]
                    + Array("\"}}\n".utf8))
            #expect(try JSONParser.parse(#require(await raw.nextLine()))["error"]?["code"] == .int(-32700), "invalid UTF-8 is a parse error")
            raw.send("[]")
            #expect(try JSONParser.parse(#require(await raw.nextLine()))["error"]?["code"] == .int(-32600))
            raw.send(#"{"jsonrpc":"2.0","id":[1],"method":"daemon.health"}"#)
            #expect(try JSONParser.parse(#require(await raw.nextLine()))["error"]?["code"] == .int(-32600))
            // A notification gets no answer: the next answer is for id 99.
            raw.send(#"{"jsonrpc":"2.0","method":"daemon.health"}"#)
            raw.send(#"{"jsonrpc":"2.0","id":99,"method":"daemon.health"}"#)
            #expect(try JSONParser.parse(#require(await raw.nextLine()))["id"] == .int(99))

            // Oversized frame: an error, then the connection closes; the daemon stays up for others.
            let big = try RawConnection(socketPath: daemon.socketPath)
            big.send(Array(repeating: UInt8(ascii: "a"), count: 10_000))
            let tooBig = try JSONParser.parse(#require(await big.nextLine()))
            #expect(tooBig["error"]?["code"] == .int(-32007))
            #expect(tooBig["error"]?["data"]?["code"] == .string("frame_too_large"))
            #expect(await big.isClosedByPeer())
            #expect(try await client.health().json["status"] == .string("ok"))
        }
    }

    @Test func abusiveClientsDoNotHurtOthers() async throws {
        let dir = TempDir("abuse")
        defer { dir.cleanup() }
        try await withDaemon(in: dir) { daemon, _ in
            // Disconnect mid-frame.
            for _ in 0..<20 {
                let c = try RawConnection(socketPath: daemon.socketPath)
                c.send(Array(#"{"jsonrpc":"2.0","id":1,"method":"job.sub"#.utf8))
            }
            // A flood of pipelined requests on one connection, without reading answers.
            let flood = try RawConnection(socketPath: daemon.socketPath)
            var burstBytes: [UInt8] = []
            for i in 0..<5000 { burstBytes += Array(#"{"jsonrpc":"2.0","id":\#(i),"method":"daemon.health"}"#.utf8) + [0x0A] }
            let burst = burstBytes
            Thread.detachNewThread { flood.send(burst) }
            // Meanwhile another client is served.
            let client = try await daemon.client()
            let h = try await client.health().json
            #expect(h["status"] == .string("ok"))
            let j = try await client.submit(localTask())
            #expect(try await client.wait(j.taskUUID, timeoutSeconds: 60).status == .succeeded)
            // The flooding connection eventually gets all its answers.
            var answered = Set<Int64>()
            while answered.count < 5000, let line = await flood.nextLine() {
                if let id = try JSONParser.parse(line)["id"]?.intValue { answered.insert(id) }
            }
            #expect(answered.count == 5000)
            try await client.close()
        }
    }

    @Test func subscriptionPushesEvents() async throws {
        try await withDaemon("sub") { daemon, client in
            try await client.subscribe()
            let job = try await client.submit(localTask(seed: 5))
            var seen: [String] = []
            for await n in client.notifications where n.method == "job.event" && n.params["taskUUID"]?.stringValue == job.taskUUID {
                seen.append(n.params["event"]?.stringValue ?? "")
                if n.params["status"]?.stringValue == "succeeded" && seen.last == "succeeded" { break }
            }
            #expect(seen.first == "queued")
            #expect(seen.contains("running"))
            #expect(seen.contains("result"))
            #expect(seen.last == "succeeded")
        }
    }

    @Test func cancelQueuedJob() async throws {
        try await withDaemon("cancel") { daemon, client in
            // Fill both local slots with large renders, then cancel one that must still be queued.
            var jobs: [Job] = []
            for i in 0..<4 { jobs.append(try await client.submit(localTask("slow \(i)", seed: Int64(i), width: 1024, height: 1024))) }
            let last = try #require(jobs.last)
            let cancelled = try await client.cancel(last.taskUUID)
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.error?.code == .cancelled)
            for j in jobs.dropLast() { _ = try await client.wait(j.taskUUID, timeoutSeconds: 120) }
            #expect(try await client.job(last.taskUUID).status == .cancelled, "a cancelled job never runs")
        }
    }
}
