import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierTestSupport
import Foundation
import Testing

@testable import AtelierHTTP

/// The console's HTTP side without a browser: static files open and every API call, image and event stream behind
/// the token; changes only as JSON POSTs; images by id only, from the data directory only; the event stream; the job
/// list's filters; `atelier console`.
@Suite("console: API", .serialized)
struct ConsoleAPITests {
    struct Answer {
        var status: Int
        var contentType: String
        var headers: [String: String]
        var body: String
        var bytes: Int
        var json: JSONValue? { try? JSONParser.parse(Array(body.utf8)) }
    }

    static func request(_ method: String, _ url: String, token: String?, contentType: String? = nil, body: String? = nil) async throws -> Answer {
        let doc = try await HTTPFaceTests.peer(["request", method, url, token ?? "-", contentType ?? "-", body ?? "-"])
        var headers: [String: String] = [:]
        for (k, v) in doc["headers"]?.objectValue ?? [:] { headers[k] = v.stringValue }
        return Answer(
            status: Int(doc["status"]?.intValue ?? 0), contentType: doc["contentType"]?.stringValue ?? "", headers: headers,
            body: doc["body"]?.stringValue ?? "", bytes: Int(doc["bytes"]?.intValue ?? 0))
    }

    static func token(_ daemon: DaemonProcess) throws -> String {
        try String(contentsOfFile: BearerToken.path(socketPath: daemon.socketPath), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("static files open with a strict policy; API, images and events need the token; changes need a JSON POST")
    func tokenAndMethods() async throws {
        try #require(PythonPeer.available, "python3 is required")
        try await withDaemon("console-api", extraArguments: ["--http", "127.0.0.1:0"]) { daemon, client in
            let base = try await HTTPFaceTests.baseURL(daemon)
            let token = try Self.token(daemon)
            let job = try await client.submit(["positivePrompt": "a red kite", "model": "local-render", "tags": ["client": "acme"]])
            let done = try await client.wait(job.taskUUID, timeoutSeconds: 60)
            let image = try #require(done.results.first)

            // The console's files: no token, a policy that allows nothing from elsewhere and no inline script.
            #expect(try await Self.request("GET", base, token: nil).status == 303)
            let page = try await Self.request("GET", base + "console/", token: nil)
            #expect(page.status == 200 && page.contentType.hasPrefix("text/html"))
            #expect(page.body.contains("app.js") && !page.body.contains(token))
            let policy = page.headers["content-security-policy"] ?? ""
            #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"))
            let script = try await Self.request("GET", base + "console/app.js", token: nil)
            #expect(script.status == 200 && script.contentType.hasPrefix("text/javascript"))
            #expect(try await Self.request("GET", base + "console/../api/jobs", token: nil).status != 200)
            #expect(try await Self.request("GET", base + "console/nothing.js", token: nil).status == 404)

            // Everything else: 401 without the token.
            let imageURL = base + "api/images/\(job.taskUUID)/\(image.imageUUID)"
            for path in ["api/jobs", "api/events", "api/spend", imageURL.replacingOccurrences(of: base, with: "")] {
                #expect(try await Self.request("GET", base + path, token: nil).status == 401, "\(path)")
            }
            #expect(
                try await Self.request("POST", base + "api/rpc/workflow.select", token: nil, contentType: "application/json", body: "{}").status
                    == 401)

            // The image by id: its bytes, its type; unknown or malformed ids are 404, never a path.
            let got = try await Self.request("GET", imageURL, token: token)
            #expect(got.status == 200)
            #expect(got.contentType == image.mimeType)
            #expect(got.bytes == image.bytes)
            #expect(try await Self.request("GET", base + "api/images/\(job.taskUUID)/\(UUIDv4.generate())", token: token).status == 404)
            #expect(try await Self.request("GET", base + "api/images/..%2F..%2Fetc/passwd", token: token).status == 404)
            #expect(try await Self.request("GET", base + "api/images/\(job.taskUUID)/not-a-uuid", token: token).status == 404)

            // Methods: a read answers as over the socket; a change needs Content-Type: application/json; methods
            // outside the console's list (the webhook secret, submit, reload) are not there.
            let health = try await Self.request("POST", base + "api/rpc/daemon.health", token: token, contentType: "application/json", body: "{}")
            #expect(health.status == 200 && health.json?["result"]?["status"] == "ok")
            let form = try await Self.request(
                "POST", base + "api/rpc/job.cancel", token: token, contentType: "application/x-www-form-urlencoded", body: "taskUUID=\(job.taskUUID)")
            #expect(form.status == 415)
            for method in [RPCMethod.webhookSecret, RPCMethod.jobSubmit, RPCMethod.configReload, RPCMethod.modelsVerify] {
                let r = try await Self.request("POST", base + "api/rpc/\(method)", token: token, contentType: "application/json", body: "{}")
                #expect(r.status == 404, "\(method)")
                #expect(!r.body.contains("secret\":"), "\(method)")
            }
            #expect(try await Self.request("GET", base + "api/rpc/daemon.health", token: token).status != 200)
            let bad = try await Self.request(
                "POST", base + "api/rpc/job.get", token: token, contentType: "application/json", body: #"{"taskUUID": 5}"#)
            #expect(bad.status == 400)
            #expect(bad.json?["error"]?["data"]?["field"] == "/taskUUID")
            let finished = try await Self.request(
                "POST", base + "api/rpc/job.cancel", token: token, contentType: "application/json", body: #"{"taskUUID": "\#(job.taskUUID)"}"#)
            #expect(finished.status == 409 || finished.status == 400, "cancelling a finished job: \(finished.body)")

            // The job list: summaries with the thumbnail's ids; filters by status, model and tag.
            let other = try await client.submit(["positivePrompt": "a blue kite", "model": "local-render"])
            _ = try await client.wait(other.taskUUID, timeoutSeconds: 60)
            let all = try await Self.request("GET", base + "api/jobs", token: token).json
            #expect(all?["jobs"]?.arrayValue?.count == 2)
            #expect(all?["jobs"]?.arrayValue?.first?["taskUUID"]?.stringValue == other.taskUUID, "newest first")
            let tagged = try await Self.request("GET", base + "api/jobs?tag=client%3Dacme", token: token).json
            #expect(tagged?["jobs"]?.arrayValue?.map { $0["taskUUID"]?.stringValue } == [job.taskUUID])
            #expect(tagged?["jobs"]?.arrayValue?.first?["thumbnail"]?["imageUUID"]?.stringValue == image.imageUUID)
            #expect(tagged?["jobs"]?.arrayValue?.first?["costSource"] != nil)
            #expect(try await Self.request("GET", base + "api/jobs?model=sketch", token: token).json?["jobs"]?.arrayValue?.isEmpty == true)
            #expect(try await Self.request("GET", base + "api/jobs?status=failed", token: token).json?["jobs"]?.arrayValue?.isEmpty == true)
            let page1 = try await Self.request("GET", base + "api/jobs?limit=1", token: token).json
            let cursor = try #require(page1?["nextCursor"]?.stringValue)
            let page2 = try await Self.request("GET", base + "api/jobs?limit=1&cursor=\(cursor)", token: token).json
            #expect(page2?["jobs"]?.arrayValue?.first?["taskUUID"]?.stringValue == job.taskUUID)
            let wrong = try await Self.request("GET", base + "api/jobs?status=done", token: token)
            #expect(wrong.status == 400 && wrong.json?["error"]?["data"]?["field"] == "status")

            // Spend over time: buckets of an hour over a day.
            let spend = try await Self.request("GET", base + "api/spend?hours=24&by=model", token: token).json
            #expect(spend?["buckets"]?.arrayValue?.count == 24)
            #expect(spend?["bucketSeconds"] == 3600)
            #expect(try await Self.request("GET", base + "api/spend?by=tag", token: token).status == 400)
        }
    }

    @Test("the event stream: a hello, then a job's events as they commit, with its summary")
    func eventStream() async throws {
        try #require(PythonPeer.available, "python3 is required")
        try await withDaemon("console-sse", extraArguments: ["--http", "127.0.0.1:0"]) { daemon, _ in
            let base = try await HTTPFaceTests.baseURL(daemon)
            let doc = try await HTTPFaceTests.peer(["events", base + "api/events", try Self.token(daemon), daemon.socketPath])
            #expect(doc["hello"]?["version"]?.stringValue == AtelierVersion.current)
            let events = doc["events"]?.arrayValue?.compactMap { $0.arrayValue?.last?.stringValue } ?? []
            #expect(events.first == "queued")
            #expect(events.last == "succeeded")
            #expect(doc["summary"]?["taskUUID"] == doc["taskUUID"])
            #expect(doc["summary"]?["thumbnail"]?["imageUUID"]?.stringValue != nil)
        }
    }

    @Test("atelier console prints the URL with the token in the fragment; exits 3 without an HTTP face")
    func consoleCommand() async throws {
        try await withDaemon("console-cmd", extraArguments: ["--http", "127.0.0.1:0"]) { daemon, _ in
            let base = try await HTTPFaceTests.baseURL(daemon)
            let r = try await runCommand(PackagePaths.atelier, ["console", "--socket", daemon.socketPath])
            #expect(r.status == 0, "\(r.stderr)")
            let url = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(url == base + "console/#token=" + (try Self.token(daemon)))
            #expect(!url.contains("?"))
        }
        try await withDaemon("console-none") { daemon, _ in
            let r = try await runCommand(PackagePaths.atelier, ["console", "--socket", daemon.socketPath])
            #expect(r.status == 3)
            #expect(r.stderr.contains("--http"))
        }
    }

    @Test("job filters parse; bad values name the parameter")
    func jobFilters() throws {
        for (name, value) in [
            ("status", "done"), ("tag", "novalue"), ("tag", "=x"), ("limit", "0"), ("limit", "201"), ("cursor", "-1"), ("token", "x"),
        ] {
            do {
                _ = try JobFilter(query: [(name, value)])
                Issue.record("\(name)=\(value) accepted")
            } catch {
                #expect(error.field == name, "\(name)=\(value)")
            }
        }
        let f = try JobFilter(query: [("status", "succeeded"), ("model", "m"), ("tag", "a=b=c"), ("limit", "7"), ("cursor", "12"), ("model", "")])
        #expect(f.status == .succeeded && f.model == "m" && f.tag?.key == "a" && f.tag?.value == "b=c" && f.limit == 7 && f.cursor == 12)
    }

    @Test("cost tag label values are bounded: the first 50 distinct values, then other; none without the tag")
    func costTagBounded() {
        let label = CostTagLabel(tag: "client")
        #expect(label.value(for: [:]) == "none")
        for i in 0..<CostTagLabel.limit { #expect(label.value(for: ["client": "c\(i)"]) == "c\(i)") }
        #expect(label.value(for: ["client": "one-more"]) == "other")
        #expect(label.value(for: ["client": "c3"]) == "c3")
        #expect(label.value(for: ["client": String(repeating: "x", count: 300)]).count <= 64)
    }

    @Test("console files: only flat names of known types are served")
    func consoleFileNames() {
        let assets = ConsoleAssets(files: ["index.html": .init(bytes: [1], contentType: "text/html"), "app.js": .init(bytes: [2], contentType: "x")])
        #expect(assets.file(forPath: "/console/")?.bytes == [1])
        #expect(assets.file(forPath: "/console/app.js")?.bytes == [2])
        #expect(assets.file(forPath: "/console/../app.js") == nil)
        #expect(assets.file(forPath: "/other/app.js") == nil)
    }
}
