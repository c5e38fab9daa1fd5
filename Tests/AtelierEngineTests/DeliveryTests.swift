import AtelierCore
import AtelierEngine
import AtelierImaging
import Crypto
import Foundation
import GRDB
import Logging
import Synchronization
import Testing

// MARK: - Test doubles

/// Answers attempts with a script and records every request.
final class FakeDeliveryTransport: DeliveryTransport {
    struct Sent: Sendable {
        var method: String
        var url: String
        var headers: [String: String]
        var body: DeliveryRequest.Body
        var target: VettedTarget
        var atMs: Int64
    }
    typealias Responder = @Sendable (DeliveryRequest) async -> AttemptResult
    private let sentBox = Mutex<[Sent]>([])
    private let responder: Responder
    let clock: AtelierClock

    init(clock: AtelierClock, _ responder: @escaping Responder = { _ in .http(status: 200, excerpt: "") }) {
        self.clock = clock
        self.responder = responder
    }

    var sent: [Sent] { sentBox.withLock { $0 } }

    func send(_ request: DeliveryRequest, target: VettedTarget) async -> AttemptResult {
        var h: [String: String] = [:]
        for (k, v) in request.headers { h[k] = v }
        let s = Sent(method: request.method, url: request.url, headers: h, body: request.body, target: target, atMs: clock.timestamp.milliseconds)
        sentBox.withLock { $0.append(s) }
        return await responder(request)
    }

    func shutdown() async {}
}

extension DeliveryRequest.Body {
    var bytes: [UInt8]? {
        if case .bytes(let b) = self { return b }
        return nil
    }
}

/// A store with the outbox hook, a manual clock, a scripted transport and a job cache.
struct DeliveryHarness {
    let dir: String
    let store: JobStore
    let outbox: DeliveryOutbox
    let service: DeliveryService
    let clock: AtelierClock
    let transport: FakeDeliveryTransport
    let cache: JobCache
    let secret: WebhookSecret

    static func make(
        configuration: DeliveryConfiguration = DeliveryConfiguration(random: { 0.5 }), extraHooks: [any StoreWriteHook] = [],
        resolvesTo: [IPAddress]? = nil, dir: String? = nil, clock: AtelierClock? = nil,
        _ responder: @escaping FakeDeliveryTransport.Responder = { _ in .http(status: 200, excerpt: "") }
    ) throws -> DeliveryHarness {
        let dir = dir ?? "/tmp/delivery-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        let clock = clock ?? AtelierClock.manual()
        let outbox = DeliveryOutbox(configuration: configuration, clock: clock)
        let store = try JobStore(path: dir + "/atelier.sqlite", durability: .normal, hooks: [outbox] + extraHooks)
        let transport = FakeDeliveryTransport(clock: clock, responder)
        let cache = JobCache()
        let secret = WebhookSecret(key: Array(0..<32))
        let service = DeliveryService(
            outbox: outbox, jobStore: store, secret: secret, transport: transport,
            resolver: { _ in resolvesTo ?? [IPAddress("127.0.0.1")!] }, cache: cache, logger: Logger(label: "delivery-test"))
        return DeliveryHarness(
            dir: dir, store: store, outbox: outbox, service: service, clock: clock, transport: transport, cache: cache, secret: secret)
    }

    /// Stores a job and finishes it (`succeeded` with `results` images, or `failed`/`cancelled`) through the store,
    /// exactly as the engine does.
    @discardableResult
    func finish(
        webhook: String? = "http://127.0.0.1:9/hook", uploads: [String]? = nil, results n: Int = 1, status: JobStatus = .succeeded
    ) async throws -> Job {
        let task = ImageTask(positivePrompt: "a lighthouse", model: "local-render", numberResults: n, webhookURL: webhook, uploadEndpoint: uploads)
        var job = Job(task: task, createdAt: .now(), route: RouteSummary(provider: "local", model: "local-render", reasons: [], estimatedCostUSD: 0))
        _ = try await store.insert([job])
        var results: [JobResult] = []
        if status == .succeeded {
            for i in 0..<n {
                let id = UUIDv4.generate()
                let png = PNGEncoder.encode(RGBImage(width: 8 + i, height: 8, color: RGBColor(r: 200, g: UInt8(i * 40), b: 10)))
                let path = dir + "/images/\(id).png"
                _ = FileManager.default.createFile(atPath: path, contents: Data(png))
                results.append(
                    JobResult(
                        imageUUID: id, path: path, mimeType: "image/png", width: 8 + i, height: 8, bytes: png.count, sha256: ResultFiles.sha256(png),
                        seed: 1, seedHonored: true, costUSD: 0))
            }
        }
        job.status = status
        job.results = results
        job.finishedAt = Timestamp(milliseconds: clock.timestamp.milliseconds)
        if status != .succeeded { job.error = AtelierError(status == .failed ? .unavailable : .cancelled, "it did not work") }
        try await store.update(job, change: StateChange(try #require(JobEventKind(rawValue: status.rawValue)), job: job, newResults: results))
        cache.put(job)
        return job
    }

    func rows(_ job: Job) async throws -> [DeliveryRecord] { try await service.store.rows(forTasks: [job.taskUUID]) }

    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }
}

private func http(_ s: Int, _ excerpt: String = "") -> AttemptResult { .http(status: s, excerpt: excerpt) }

/// A value behind a lock, shareable by reference.
final class Locked<T: Sendable>: Sendable {
    private let m: Mutex<T>
    init(_ v: T) { m = Mutex(v) }
    @discardableResult
    func withLock<R: Sendable>(_ body: (inout T) -> R) -> R { m.withLock { body(&$0) } }
}

// MARK: - The state machine (pure)

@Suite("delivery state machine")
struct DeliveryStateMachineTests {
    let start: Int64 = 1_000_000

    @Test func webhookScheduleIsFollowedExactlyThenExhausts() {
        let schedule = RetrySchedule.webhookDefault
        var m = DeliveryStateMachine(
            state: DeliveryStateMachine.initial(nowMs: start, held: false, schedule: schedule, unitRandom: 0.5), schedule: schedule)
        #expect(m.state.nextAttemptMs == start, "the first attempt is immediate")
        var now = start
        var waits: [Double] = []
        let fail = AttemptVerdict.retry(AtelierError(.receiverError, "503", retryable: true))
        for attempt in 1...8 {
            #expect(m.handle(.claim(nowMs: now - 1)) == .ignore, "attempt \(attempt) is not due early")
            #expect(m.handle(.claim(nowMs: now)) == .send)
            #expect(m.state.status == .sending)
            let action = m.handle(.attempted(fail, httpStatus: 503, nowMs: now, unitRandom: 0.5))
            if attempt < 8 {
                guard case .schedule(let at) = action else {
                    Issue.record("attempt \(attempt): \(action)")
                    return
                }
                waits.append(Double(at - now) / 1000)
                now = at
            } else {
                guard case .failed(let e, exhausted: true) = action else {
                    Issue.record("expected exhaustion, got \(action)")
                    return
                }
                #expect(e.message.hasPrefix("gave up after 8 attempts"))
            }
        }
        #expect(waits == [5, 300, 1800, 7200, 18_000, 36_000, 36_000])
        #expect(m.state.status == .failed)
        #expect(m.state.attempts == 8)
        #expect(m.state.nextAttemptMs == nil)
    }

    @Test func jitterSpreadsWaitsWithinBounds() {
        let s = RetrySchedule(delays: [0, 100], jitter: 0.1)
        #expect(s.delay(beforeAttempt: 2, unitRandom: 0) == 90)
        #expect(abs(s.delay(beforeAttempt: 2, unitRandom: 0.999_999) - 110) < 0.001)
        #expect(s.delay(beforeAttempt: 2, unitRandom: 0.5) == 100)
        #expect(s.delay(beforeAttempt: 1, unitRandom: 0) == 0, "immediately stays immediate")
    }

    @Test func verdicts() {
        // Webhooks: 2xx delivered, 410 stops, everything else (including 4xx and 3xx) retries.
        #expect(DeliveryClassifier.verdict(.webhook, http(204)) == .delivered)
        guard case .stop(let gone) = DeliveryClassifier.verdict(.webhook, http(410)) else {
            Issue.record("410 must stop")
            return
        }
        #expect(gone.code == .receiverRejected)
        #expect(gone.details["httpStatus"] == 410)
        for s in [301, 400, 401, 404, 429, 500, 503] {
            guard case .retry = DeliveryClassifier.verdict(.webhook, http(s)) else {
                Issue.record("webhook \(s) must retry")
                continue
            }
        }
        // Uploads: 5xx/408/429 retry; other 4xx and 3xx are terminal with the status and body.
        for s in [500, 502, 503, 408, 429] {
            guard case .retry = DeliveryClassifier.verdict(.upload, http(s)) else {
                Issue.record("upload \(s) must retry")
                continue
            }
        }
        guard case .stop(let denied) = DeliveryClassifier.verdict(.upload, http(403, "AccessDenied: Request has expired")) else {
            Issue.record("upload 403 must stop")
            return
        }
        #expect(denied.message.contains("403"))
        #expect(denied.message.contains("Request has expired"))
        #expect(denied.details["body"] == "AccessDenied: Request has expired")
        guard case .stop = DeliveryClassifier.verdict(.upload, http(302)) else {
            Issue.record("redirects are not followed")
            return
        }
        // Transport failures.
        guard case .retry(let t) = DeliveryClassifier.verdict(.webhook, .failure(.timeout)) else { return }
        #expect(t.code == .timeout)
        guard case .retry = DeliveryClassifier.verdict(.upload, .failure(.network("reset"))) else { return }
        guard case .stop(let f) = DeliveryClassifier.verdict(.webhook, .failure(.forbiddenAddress("169.254.169.254"))) else { return }
        #expect(f.code == .forbiddenAddress)
    }

    @Test func goneStopsAfterOneAttempt() {
        var m = DeliveryStateMachine(state: DeliveryState(nextAttemptMs: start), schedule: .webhookDefault)
        #expect(m.handle(.claim(nowMs: start)) == .send)
        guard
            case .failed(_, exhausted: false) = m.handle(
                .attempted(DeliveryClassifier.verdict(.webhook, http(410)), httpStatus: 410, nowMs: start, unitRandom: 0.5))
        else {
            Issue.record("410 must fail at once")
            return
        }
        #expect(m.state.attempts == 1)
        #expect(m.state.lastHTTPStatus == 410)
        #expect(m.handle(.claim(nowMs: start + 10_000_000)) == .ignore)
    }

    @Test func manualRetryRecoveryAndRelease() {
        let schedule = RetrySchedule(delays: [0, 1])
        var m = DeliveryStateMachine(state: DeliveryState(status: .failed, attempts: 2, cycleAttempts: 2), schedule: schedule)
        #expect(m.handle(.retryRequested(nowMs: start)) == .schedule(atMs: start))
        #expect(m.state.cycleAttempts == 0, "a manual retry starts a new cycle")
        #expect(m.state.attempts == 2, "the total is kept")
        #expect(m.handle(.claim(nowMs: start)) == .send)
        #expect(m.handle(.retryRequested(nowMs: start)) == .ignore, "not while an attempt is in flight")
        // A crash mid-send: sent again now.
        #expect(m.handle(.recovered(nowMs: start + 5)) == .schedule(atMs: start + 5))
        #expect(m.state.status == .pending)
        #expect(m.handle(.claim(nowMs: start + 5)) == .send)
        #expect(m.handle(.attempted(.delivered, httpStatus: 200, nowMs: start + 6, unitRandom: 0.5)) == .delivered)
        #expect(m.handle(.retryRequested(nowMs: start + 7)) == .ignore, "delivered stays delivered")
        // Held rows wait for release and cannot be claimed before.
        var h = DeliveryStateMachine(
            state: DeliveryStateMachine.initial(nowMs: start, held: true, schedule: schedule, unitRandom: 0.5), schedule: schedule)
        #expect(h.handle(.claim(nowMs: start + 1_000_000)) == .ignore)
        #expect(h.handle(.release(nowMs: start + 9)) == .schedule(atMs: start + 9))
        #expect(h.handle(.claim(nowMs: start + 9)) == .send)
    }

    @Test func scheduleParsing() {
        #expect(RetrySchedule.parse("0,5s,5m,30m,2h,5h,10h,10h")?.delays == RetrySchedule.webhookDefault.delays)
        #expect(RetrySchedule.parse("0, 250ms, 1.5")?.delays == [0, 0.25, 1.5])
        #expect(RetrySchedule.parse("") == nil)
        #expect(RetrySchedule.parse("1,x") == nil)
        #expect(RetrySchedule.parse("-1") == nil)
    }
}

// MARK: - Signing

@Suite("webhook signing")
struct WebhookSigningTests {
    /// Computed with the `standardwebhooks` Python package (`Webhook(secret).sign(...)`), independently of our code.
    @Test func signatureMatchesTheStandardWebhooksReference() {
        let secret = WebhookSecret(key: Array(0..<32))
        #expect(secret.text == "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        #expect(WebhookSecret.parse(secret.text) == secret)
        #expect("\(secret)" == "whsec_…(redacted)", "the key never shows up in interpolation")
        let signer = WebhookSigner(secret: secret)
        let sig = signer.signature(id: "msg_2b1f0c7e6d5a4b3c", timestamp: 1_700_000_000, body: Array(#"{"type":"job.succeeded","data":{}}"#.utf8))
        #expect(sig == "v1,ESudrCQfh+l6Fula2Z/zae9prBBFVBAph8L4nLpfTyA=")
    }

    @Test func secretIsGeneratedOnceWithMode0600AndEnvironmentWins() throws {
        let dir = "/tmp/whsec-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (a, sa) = try WebhookSecret.load(dataDirectory: dir, environment: [:])
        #expect(sa == .generated)
        #expect(a.key.count == 32)
        let attrs = try FileManager.default.attributesOfItem(atPath: dir + "/webhook-secret")
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let (b, sb) = try WebhookSecret.load(dataDirectory: dir, environment: [:])
        #expect(sb == .file)
        #expect(a == b, "the same secret on every start")
        let env = WebhookSecret(key: Array(repeating: 7, count: 24))
        let (c, sc) = try WebhookSecret.load(dataDirectory: dir, environment: ["ATELIER_WEBHOOK_SECRET": env.text])
        #expect(sc == .environment)
        #expect(c == env)
        #expect(throws: AtelierError.self) { try WebhookSecret.load(dataDirectory: dir, environment: ["ATELIER_WEBHOOK_SECRET": "whsec_short"]) }
    }
}

// MARK: - Address policy

@Suite("delivery address policy")
struct AddressPolicyTests {
    @Test func defaultsRefuseLinkLocalAndMetadataButAllowLoopbackAndPrivate() {
        let p = AddressPolicy()
        for bad in [
            "169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254", "100.100.100.200", "0.0.0.0", "::ffff:169.254.169.254", "224.0.0.1",
        ] {
            #expect(!p.permits(IPAddress(bad)!), "\(bad) must be refused")
        }
        for good in ["127.0.0.1", "::1", "10.1.2.3", "192.168.1.1", "8.8.8.8", "2001:db8::1", "::ffff:127.0.0.1"] {
            #expect(p.permits(IPAddress(good)!), "\(good) must be allowed")
        }
    }

    @Test func allowAndDenyListsAreConfigurable() {
        let p = AddressPolicy(allow: [CIDR("169.254.10.0/24")!], extraDeny: [CIDR("10.0.0.0/8")!, CIDR("::1")!])
        #expect(p.permits(IPAddress("169.254.10.7")!), "an allow range is an exception to the defaults")
        #expect(!p.permits(IPAddress("169.254.169.254")!))
        #expect(!p.permits(IPAddress("10.9.9.9")!))
        #expect(!p.permits(IPAddress("::1")!))
        #expect(p.permits(IPAddress("127.0.0.1")!))
        #expect(CIDR("10.0.0.0/33") == nil)
        #expect(CIDR("nonsense") == nil)
    }

    @Test func literalChecksAtSubmitCatchEverySpelling() throws {
        let p = AddressPolicy()
        for (url, field) in [
            ("http://169.254.169.254/latest/meta-data", "/webhookURL"), ("http://[fe80::1]/x", "/uploadEndpoint/0"),
            ("http://2852039166/", "/webhookURL"), ("http://0xA9.0xFE.0xA9.0xFE/", "/webhookURL"),
            ("http://[::ffff:169.254.169.254]/", "/webhookURL"),
            ("https://user:pw@169.254.169.254:8443/p?sig=secret", "/webhookURL"),
        ] {
            do {
                try p.checkLiteral(url, field: field)
                Issue.record("\(url) must be refused")
            } catch {
                #expect(error.code == .invalidURL)
                #expect(error.field == field)
                #expect(!error.message.contains("secret") && !error.message.contains("pw@"), "no credentials or query in errors")
            }
        }
        try p.checkLiteral("http://127.0.0.1:8080/hook", field: "/webhookURL")
        try p.checkLiteral("https://metadata.example.com/hook", field: "/webhookURL")  // names are checked at send time
    }

    @Test func guardChecksEveryResolvedAddress() async {
        let g = AddressGuard(policy: AddressPolicy()) { host in
            switch host {
            case "metadata.internal": return [IPAddress("169.254.169.254")!]
            case "mixed.example": return [IPAddress("93.184.216.34")!, IPAddress("fe80::5")!]
            case "ok.example": return [IPAddress("2001:db8::7")!, IPAddress("93.184.216.34")!]
            default: throw CancellationError()
            }
        }
        guard case .failure(.forbiddenAddress(let m)) = await g.vet("http://metadata.internal/x", nowMs: 0) else {
            Issue.record("a name resolving to metadata must be refused")
            return
        }
        #expect(m.contains("169.254.169.254"))
        guard case .failure(.forbiddenAddress) = await g.vet("http://mixed.example/x", nowMs: 0) else {
            Issue.record("one forbidden address is enough to refuse")
            return
        }
        guard case .success(let t) = await g.vet("https://ok.example/x?sig=1", nowMs: 0) else {
            Issue.record("ok.example is fine")
            return
        }
        #expect(t.pinnedAddress == IPAddress("93.184.216.34"), "connect to the checked address (IPv4 preferred)")
        guard case .failure(.unusable) = await g.vet("ftp://ok.example/x", nowMs: 0) else {
            Issue.record("only http(s)")
            return
        }
        guard case .failure(.network) = await g.vet("http://nowhere.invalid/", nowMs: 0) else {
            Issue.record("resolution failures retry")
            return
        }
        guard case .success(let lit) = await g.vet("http://127.0.0.1:9/x", nowMs: 0) else { return }
        #expect(lit.pinnedAddress == nil)
    }
}

// MARK: - Outbox and worker (store, fake transport, manual clock)

@Suite("delivery outbox and worker", .serialized)
struct DeliveryOutboxTests {
    struct Boom: Error {}
    struct FailingHook: StoreWriteHook {
        func write(_ change: StateChange, in db: Database) throws { if change.event == .succeeded { throw Boom() } }
    }

    @Test func rowsCommitInTheSameTransactionAsTheStateChange() async throws {
        let h = try DeliveryHarness.make()
        defer { h.cleanup() }
        let job = try await h.finish(uploads: ["http://127.0.0.1:9/a.png?X-Amz-Signature=abc", "http://127.0.0.1:9/b.png"], results: 2)
        let rows = try await h.rows(job)
        #expect(rows.filter { $0.kind == .upload }.count == 2)
        #expect(rows.filter { $0.kind == .webhook }.map(\.event) == ["job.result", "job.result", "job.succeeded"])
        #expect(rows.filter { $0.kind == .webhook }.allSatisfy { $0.state.held }, "webhooks wait for the uploads")
        #expect(rows.allSatisfy { $0.id.hasPrefix("msg_") || $0.id.hasPrefix("upl_") })
        #expect(!JSONWriter.string(.array(rows.map(\.json))).contains("X-Amz-Signature"), "listed URLs carry no query")

        // A failing write in the same transaction rolls the outbox rows back with the job's change.
        let bad = try DeliveryHarness.make(extraHooks: [FailingHook()])
        defer { bad.cleanup() }
        await #expect(throws: Boom.self) { try await bad.finish() }
        let (all, _) = try await bad.service.store.list(status: nil, taskUUID: nil, kind: nil, limit: 100, before: nil)
        #expect(all.isEmpty)
    }

    @Test func retryScheduleRunsOnTheInjectedClockWithoutWaiting() async throws {
        let h = try DeliveryHarness.make { _ in http(503, "busy") }
        defer { h.cleanup() }
        let t0 = h.clock.timestamp.milliseconds
        let job = try await h.finish(webhook: "http://127.0.0.1:9/hook", results: 1)
        let expected: [Int64] = [0, 5, 305, 2105, 9305, 27_305, 63_305, 99_305].map { $0 * 1000 }
        for (i, at) in expected.enumerated() {
            if at == 0 {
                // Time never runs backwards on the clock: the first attempts are due at the moment the rows were made.
                #expect(try await h.rows(job).allSatisfy { $0.state.nextAttemptMs == t0 }, "attempt 1 is due at once, not earlier")
            } else {
                h.clock.advance(by: .milliseconds(t0 + at - h.clock.timestamp.milliseconds - 1))
                #expect(try await h.service.runDue() == 0, "attempt \(i + 1) is not due 1 ms early")
            }
            h.clock.advance(by: .milliseconds(t0 + at - h.clock.timestamp.milliseconds))
            #expect(try await h.service.runDue() == 2, "attempt \(i + 1) of both messages")
        }
        let sent = h.transport.sent
        #expect(sent.count == 16)
        let ids = Set(sent.map { $0.headers["webhook-id"] ?? "" })
        #expect(ids.count == 2, "one webhook-id per message, stable across retries")
        let rows = try await h.rows(job)
        for r in rows {
            #expect(r.state.status == .failed)
            #expect(r.state.attempts == 8)
            #expect(r.state.lastHTTPStatus == 503)
            #expect(r.state.lastError?.message.hasPrefix("gave up after 8 attempts") == true)
            // Every attempt carried the same body, signed at the attempt's own time.
            let mine = sent.filter { $0.headers["webhook-id"] == r.id }
            #expect(Set(mine.map { $0.body.bytes ?? [] }).count == 1)
            for s in mine {
                let ts = Int64(s.headers["webhook-timestamp"] ?? "") ?? -1
                #expect(ts == s.atMs / 1000)
                #expect(
                    s.headers["webhook-signature"] == WebhookSigner(secret: h.secret).signature(id: r.id, timestamp: ts, body: s.body.bytes ?? []))
            }
        }
        // Exhausted messages stay listed; a manual retry starts a new cycle with the same id.
        let (failed, _) = try await h.service.list(status: .failed, taskUUID: job.taskUUID, kind: nil, limit: 10, cursor: nil)
        #expect(failed.count == 2)
        _ = try await h.service.retry(id: nil, taskUUID: job.taskUUID)
        #expect(try await h.service.runDue() == 2)
        #expect(h.transport.sent.count == 18)
        #expect(Set(h.transport.sent.suffix(2).map { $0.headers["webhook-id"] ?? "" }) == ids)
    }

    @Test func goneStopsForGoodAndRetryByIDWorks() async throws {
        let calls = Locked(0)
        let h = try DeliveryHarness.make { _ in
            calls.withLock { n -> Int in
                n += 1
                return n
            } == 1 ? http(410) : http(200)
        }
        defer { h.cleanup() }
        let job = try await h.finish(status: .failed)
        #expect(try await h.service.runDue() == 1)
        var r = try #require(try await h.rows(job).first)
        #expect(r.event == "job.failed")
        #expect(r.state.status == .failed)
        #expect(r.state.nextAttemptMs == nil)
        h.clock.advance(by: .seconds(100_000))
        #expect(try await h.service.runDue() == 0, "410 means no more attempts")
        r = try #require(try await h.service.retry(id: r.id, taskUUID: nil).first)
        #expect(r.state.status == .pending)
        #expect(try await h.service.runDue() == 1)
        #expect(try await h.service.get(r.id).state.status == .delivered)
        await #expect(throws: AtelierError.self) { _ = try await h.service.retry(id: r.id, taskUUID: nil) }
        await #expect(throws: AtelierError.self) { _ = try await h.service.retry(id: "msg_nope", taskUUID: nil) }
        // The body is the whole job with its URLs redacted.
        let body = try JSONParser.parse(try #require(try await h.service.get(r.id).body))
        #expect(body["type"] == "job.failed")
        #expect(body["data"]?["taskUUID"]?.stringValue == job.taskUUID)
        #expect(body["data"]?["status"] == "failed")
    }

    @Test func uploadsStreamTheFileAndHeldWebhooksTellWhereImagesWent() async throws {
        let h = try DeliveryHarness.make { req in
            if req.method == "PUT" { return req.url.contains("/denied/") ? http(403, "AccessDenied: Request has expired") : http(200) }
            return http(200)
        }
        defer { h.cleanup() }
        let job = try await h.finish(
            webhook: "http://127.0.0.1:9/hook?token=t0ps3cret",
            uploads: ["http://127.0.0.1:9/bucket/a.png?X-Amz-Signature=s1gnature", "http://127.0.0.1:9/denied/b.png?X-Amz-Signature=s1gnature"],
            results: 2)
        // First pass: only the uploads are due.
        #expect(try await h.service.runDue() == 5, "2 uploads, then the 3 released webhooks")
        let puts = h.transport.sent.filter { $0.method == "PUT" }
        #expect(puts.count == 2)
        for (i, p) in puts.sorted(by: { $0.url < $1.url }).enumerated() {
            let r = job.results[i]
            #expect(p.headers["content-type"] == "image/png")
            guard case .file(let path, let length) = p.body else {
                Issue.record("uploads stream the stored file")
                continue
            }
            #expect(path == r.path)
            #expect(length == Int64(r.bytes))
        }
        let rows = try await h.rows(job)
        let ups = rows.filter { $0.kind == .upload }.sorted { ($0.resultIndex ?? 0) < ($1.resultIndex ?? 0) }
        #expect(ups[0].state.status == .delivered)
        #expect(ups[1].state.status == .failed)
        #expect(ups[1].state.attempts == 1, "4xx is terminal")
        #expect(ups[1].state.lastHTTPStatus == 403)
        #expect(ups[1].state.lastError?.message.contains("Request has expired") == true)
        let hooks = rows.filter { $0.kind == .webhook }
        #expect(hooks.allSatisfy { $0.state.status == .delivered })
        let bodies = hooks.map { (try? JSONParser.parse($0.body ?? "")) ?? .null }
        let first = try #require(bodies.first { $0["data"]?["index"] == 0 })
        #expect(first["data"]?["uploadURL"] == "http://127.0.0.1:9/bucket/a.png")
        #expect(first["data"]?["sha256"]?.stringValue == job.results[0].sha256)
        let second = try #require(bodies.first { $0["data"]?["index"] == 1 })
        #expect(second["data"]?["uploadURL"] == nil)
        #expect(second["data"]?["uploadError"]?["httpStatus"] == 403)
        let done = try #require(bodies.first { $0["type"] == "job.succeeded" })
        #expect(done["data"]?["results"]?.arrayValue?.first?["uploadURL"] == "http://127.0.0.1:9/bucket/a.png")
        let all = hooks.compactMap(\.body).joined()
        #expect(!all.contains("s1gnature") && !all.contains("t0ps3cret"), "no query strings in bodies")
        // Webhooks went out only after both uploads settled.
        let firstHook = try #require(h.transport.sent.firstIndex { $0.method == "POST" })
        #expect(h.transport.sent[..<firstHook].filter { $0.method == "PUT" }.count == 2)
    }

    @Test func anAttemptInterruptedByACrashIsSentAgainWithTheSameID() async throws {
        let dir = "/tmp/delivery-\(UUID().uuidString.prefix(8))"
        let clock = AtelierClock.manual()
        let h = try DeliveryHarness.make(dir: dir, clock: clock)
        defer { h.cleanup() }
        let job = try await h.finish()
        // Claim (as the worker does just before sending) and "crash": the rows stay `sending` on disk.
        let claimed = try await h.service.store.list(status: .pending, taskUUID: job.taskUUID, kind: nil, limit: 10, before: nil).0
        #expect(claimed.count == 2)
        let raw = try await h.store.database.write { db in
            try db.execute(sql: "UPDATE delivery SET status = 'sending', attempts = 1, cycle_attempts = 1, next_attempt_ms = NULL")
            return db.changesCount
        }
        #expect(raw == 2)
        // A new worker on the same store (the restarted daemon).
        let h2 = try DeliveryHarness.make(dir: dir, clock: clock)
        try await h2.service.start()
        let rows = try await h2.rows(job)
        #expect(rows.allSatisfy { $0.state.status == .pending && $0.state.nextAttemptMs == clock.timestamp.milliseconds })
        #expect(try await h2.service.runDue() == 2)
        #expect(Set(h2.transport.sent.map { $0.headers["webhook-id"] ?? "" }) == Set(claimed.map(\.id)))
        #expect(try await h2.rows(job).allSatisfy { $0.state.status == .delivered && $0.state.attempts == 2 })
    }

    @Test func forbiddenAddressAfterResolutionIsTerminal() async throws {
        let h = try DeliveryHarness.make(resolvesTo: [IPAddress("169.254.169.254")!])
        defer { h.cleanup() }
        let job = try await h.finish(webhook: "http://metadata.example/hook")
        #expect(try await h.service.runDue() == 2)
        #expect(h.transport.sent.isEmpty, "nothing is sent to a forbidden address")
        let rows = try await h.rows(job)
        #expect(rows.allSatisfy { $0.state.status == .failed && $0.state.lastError?.code == .forbiddenAddress })
    }

    @Test func jobCacheShowsDeliveryState() async throws {
        let h = try DeliveryHarness.make()
        defer { h.cleanup() }
        let job = try await h.finish()
        try await h.service.runDue()
        var seen: [JSONValue] = []
        try await eventually("the cache shows both deliveries delivered") {
            seen = h.cache.job(job.taskUUID)?.deliveries ?? []
            return seen.count == 2 && seen.allSatisfy { $0["status"] == "delivered" }
        }
        #expect(seen.count == 2)
        #expect(seen.allSatisfy { $0["status"] == "delivered" && $0["attempts"] == 1 })
        let json = try #require(h.cache.job(job.taskUUID)?.json)
        #expect(json["deliveries"]?.arrayValue?.count == 2)
    }

    /// `Job.deliveries` has one owner: the service assembles the job cache's copy and the copy of a job the cache no
    /// longer holds alike — every outbox row of the job, in insertion order (the server's own assembly listed at most
    /// 100 rows, newest first).
    @Test func oneOwnerAssemblesDeliveriesForCachedAndUncachedJobs() async throws {
        let h = try DeliveryHarness.make()
        defer { h.cleanup() }
        let job = try await h.finish(results: 2)
        try await h.service.runDue()
        let rows = try await h.rows(job)
        #expect(rows.map(\.event) == ["job.result", "job.result", "job.succeeded"])
        #expect(rows.allSatisfy { $0.state.status == .delivered })

        // A job read from the store (not from the cache) gets every row, in insertion order.
        let stored = try #require(try await h.store.job(job.taskUUID))
        #expect(stored.deliveries.isEmpty)
        let view = await h.service.withDeliveries(stored)
        #expect(view.deliveries == rows.map(\.json))

        // The cache's copy is the same assembly.
        let current = rows.map(\.json)
        guard try await eventually("the cache shows the delivered rows", { h.cache.job(job.taskUUID)?.deliveries == current }) else { return }
        #expect(await h.service.withDeliveries(try #require(h.cache.job(job.taskUUID))).deliveries == current)

        // A job that owes nothing, or is not final, is returned as it is.
        let noHook = try await h.finish(webhook: nil)
        #expect(await h.service.withDeliveries(noHook).deliveries.isEmpty)
        var running = job
        running.status = .running
        #expect(await h.service.withDeliveries(running).deliveries.isEmpty)
    }

    /// The background loop: bounded per host, and a stuck host never holds up another.
    @Test func perHostConcurrencyIsBoundedAndOneHostNeverBlocksAnother() async throws {
        let gate = Locked<(inflight: [String: Int], peak: [String: Int])>(([:], [:]))
        let slowHost = Gate()
        let config = DeliveryConfiguration(perHostConcurrency: 2, maxConcurrency: 16, random: { 0.5 })
        let h = try DeliveryHarness.make(configuration: config) { req in
            let host = DeliveryRecord.hostKey(req.url)
            gate.withLock { g in
                g.inflight[host, default: 0] += 1
                g.peak[host] = max(g.peak[host] ?? 0, g.inflight[host]!)
            }
            if host.contains(":1111") { await slowHost.wait() }
            gate.withLock { $0.inflight[host, default: 1] -= 1 }
            return http(200)
        }
        defer { h.cleanup() }
        for _ in 0..<5 { try await h.finish(webhook: "http://127.0.0.1:1111/slow") }
        let fast = try await h.finish(webhook: "http://127.0.0.1:2222/fast")
        let runner = Task { try await h.service.run() }
        // The fast host is served while the slow one is stuck with its 2 slots taken.
        try await eventually("the fast host got its messages while the slow one was stuck") {
            let rows = try await h.rows(fast)
            return !rows.isEmpty && rows.allSatisfy { $0.state.status == .delivered }
        }
        #expect(gate.withLock { $0.peak["http://127.0.0.1:1111"] } == 2)
        slowHost.open()
        try await eventually("every delivery settled once the slow host answers") {
            try await h.service.list(status: .pending, taskUUID: nil, kind: nil, limit: 100, cursor: nil).0.isEmpty
        }
        let (delivered, _) = try await h.service.list(status: .delivered, taskUUID: nil, kind: nil, limit: 100, cursor: nil)
        #expect(delivered.count == 12)
        #expect((gate.withLock { $0.peak["http://127.0.0.1:1111"] } ?? 0) <= 2)
        runner.cancel()
        _ = try? await runner.value
    }
}
