import AtelierCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The delivery worker: a long-running service that claims due outbox rows, makes the attempts with bounded
/// concurrency (per host and in total), and records the outcomes through the state machine.
///
/// - Wakes when new rows commit (the outbox hook signals after COMMIT), when an attempt finishes, on
///   `delivery.retry`, and otherwise exactly at the earliest `next_attempt_ms` — it never polls on a timer.
/// - Outcomes finished while a transaction is being written are recorded together in the next one (group commit).
/// - A job's own status never waits for delivery; a slow or dead receiver only occupies its own host's slots.
/// - At-least-once: a crash between an attempt and its recorded outcome sends the message again after restart, with
///   the same `webhook-id`; receivers dedupe on it.
/// - Owns each job's delivery state (`deliveries` in the job JSON): the job cache's copy and ``withDeliveries(_:)``.
public actor DeliveryService: Service {
    /// The outbox table (SQLite's ``DeliveryStore`` or a cluster's ``PostgresOutbox``).
    public nonisolated let store: any OutboxStore
    /// The webhook signing secret (`whsec_…`).
    public nonisolated let secret: WebhookSecret
    /// Where the secret came from.
    public nonisolated let secretSource: WebhookSecret.Source
    public nonisolated let configuration: DeliveryConfiguration

    /// Reads a job from the store (for the cache's copy of a finished job's deliveries).
    let readJob: @Sendable (String) async throws -> Job?
    let transport: any DeliveryTransport
    let addressGuard: AddressGuard
    let signer: WebhookSigner
    let clock: AtelierClock
    let wakeup: DeliveryWakeup
    let logger: Logger
    let cache: JobCache?
    let events: EventBus<JobEvent>?

    private var inflightByHost: [String: Int] = [:]
    private var inflightTotal = 0
    private var finished: [DeliveryOutcome] = []
    private var refreshQueue: Set<String> = []
    private var refreshing = false
    private var eventToken: EventBus<JobEvent>.Token?
    private var started = false
    private nonisolated let stopRequested = StopFlag()
    /// Counters since start, per kind (webhook, upload): attempts made, delivered, given up.
    public private(set) var counters: [DeliveryKind: DeliveryCounts] = [:]

    /// - Parameters:
    ///   - outbox: the hook given to the ``JobStore`` (shares configuration, clock and wake-ups).
    ///   - transport: nil for the HTTP transport.
    ///   - resolver: nil for the system resolver.
    ///   - cache, events: the engine's, to keep jobs' `deliveries` current.
    public init(
        outbox: DeliveryOutbox, jobStore: JobStore, secret: WebhookSecret, secretSource: WebhookSecret.Source = .file,
        transport: (any DeliveryTransport)? = nil, resolver: AddressGuard.Resolver? = nil, cache: JobCache? = nil, events: EventBus<JobEvent>? = nil,
        logger: Logger
    ) {
        let store = DeliveryStore(pool: jobStore.database, configuration: outbox.configuration)
        self.init(
            outbox: outbox, store: store, jobs: { try await jobStore.job($0) }, secret: secret, secretSource: secretSource, transport: transport,
            resolver: resolver, cache: cache, events: events, logger: logger)
    }

    /// A worker over any outbox store (a cluster's ``PostgresOutbox``).
    /// - Parameters:
    ///   - outbox: the hook whose rows the store holds (shares configuration, clock and wake-ups).
    ///   - store: the outbox table.
    ///   - jobs: reads a job by taskUUID from the job store.
    public init(
        outbox: DeliveryOutbox, store: any OutboxStore, jobs: @escaping @Sendable (String) async throws -> Job?, secret: WebhookSecret,
        secretSource: WebhookSecret.Source = .file, transport: (any DeliveryTransport)? = nil, resolver: AddressGuard.Resolver? = nil,
        cache: JobCache? = nil, events: EventBus<JobEvent>? = nil, logger: Logger
    ) {
        self.configuration = outbox.configuration
        self.clock = outbox.clock
        self.wakeup = outbox.wakeup
        self.store = store
        self.readJob = jobs
        self.secret = secret
        self.secretSource = secretSource
        self.signer = WebhookSigner(secret: secret)
        self.transport = transport ?? HTTPDeliveryTransport(perHostConcurrency: outbox.configuration.perHostConcurrency)
        self.addressGuard = AddressGuard(policy: outbox.configuration.addressPolicy, resolver: resolver)
        self.cache = cache
        self.events = events
        self.logger = logger
    }

    // MARK: - Lifecycle

    /// Recovers rows a crash left mid-attempt, subscribes to job events, and loads open deliveries into the job
    /// cache. Called by ``run()``; tests that drive the worker by hand call it once.
    public func start() async throws {
        guard !started else { return }
        started = true
        let recovered = try await store.recover(nowMs: clock.timestamp.milliseconds)
        if recovered > 0 {
            logger.notice("deliveries interrupted by the last stop are sent again (same ids)", metadata: ["count": "\(recovered)"])
        }
        if let events {
            eventToken = events.subscribe(taskUUID: nil) { [weak self] ev in
                guard let self, let finished = ev.event.finalStatus, finished == ev.job.status,
                    ev.job.task.webhookURL != nil || ev.job.task.uploadEndpoint != nil
                else { return }
                let id = ev.job.taskUUID
                Task { await self.requestRefresh([id]) }
            }
        }
        requestRefresh(try await store.tasksWithOpenDeliveries(limit: 1000))
    }

    public func run() async throws {
        do { try await start() } catch {
            // A start cut short (the daemon failing to start beside it cancels this service) must still close the
            // HTTP clients: an AsyncHTTPClient dropped without shutdown traps the process.
            await transport.shutdown()
            throw error
        }
        logger.info(
            "delivery worker started",
            metadata: [
                "webhookSchedule": "\(configuration.webhookSchedule)", "uploadSchedule": "\(configuration.uploadSchedule)",
                "perHost": "\(configuration.perHostConcurrency)", "secret": "\(secretSource.rawValue)",
            ])
        let stop = stopRequested
        let wake = wakeup
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !stop.isSet && !Task.isCancelled {
                    let next = await stepOnce(room: configuration.maxConcurrency - inflightTotal) { r in
                        group.addTask { [self] in
                            if let outcome = await self.perform(r) { await self.finish(outcome) }
                        }
                    }
                    await wake.wait(untilMs: next, clock: clock)
                }
                // Stopping: let attempts in flight finish within the grace period, then abandon the rest (they stay
                // `sending` and are sent again at the next start).
                let deadline = clock.timestamp.milliseconds + Int64(configuration.shutdownGraceSeconds * 1000)
                while inflightTotal > 0 && clock.timestamp.milliseconds < deadline && !Task.isCancelled {
                    await wake.wait(untilMs: deadline, clock: clock)
                    _ = await stepOnce(room: 0) { _ in }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            stop.set()
            wake.signal()
        }
        // Record what finished, even if this task was cancelled.
        await withoutCancellation { _ = await self.stepOnce(room: 0) { _ in } }
        if let t = eventToken { events?.unsubscribe(t) }
        await transport.shutdown()
        logger.info("delivery worker stopped", metadata: ["inFlightAbandoned": "\(inflightTotal)"])
    }

    // MARK: - The worker

    /// One step: records the attempts that finished, claims due rows within the concurrency limits (one
    /// transaction), counts them in flight and hands them to `start`. Returns when to look again (nil: only when
    /// signalled).
    private func stepOnce(room: Int, start: (DeliveryRecord) -> Void) async -> Int64? {
        let batch = finished
        finished.removeAll()
        let now = clock.timestamp.milliseconds
        let step: DeliveryStep
        do {
            step = try await store.step(
                outcomes: batch, nowMs: now, room: max(0, room), inflight: inflightByHost, perHost: configuration.perHostConcurrency)
        } catch {
            logger.error("cannot update the outbox; retrying", metadata: ["error": "\(error)", "outcomes": "\(batch.count)"])
            finished.insert(contentsOf: batch, at: 0)
            return now + 500
        }
        note(batch, step.written)
        for r in step.claimed {
            inflightByHost[r.hostKey, default: 0] += 1
            inflightTotal += 1
            start(r)
        }
        if step.moreDue || !finished.isEmpty { return clock.timestamp.milliseconds }
        return step.nextDueMs
    }

    private func finish(_ o: DeliveryOutcome) {
        let h = o.record.hostKey
        inflightByHost[h, default: 1] -= 1
        if inflightByHost[h] == 0 { inflightByHost[h] = nil }
        inflightTotal -= 1
        finished.append(o)
        wakeup.signal()
    }

    private func note(_ batch: [DeliveryOutcome], _ written: [DeliveryRecord]) {
        for o in batch { counters[o.record.kind, default: DeliveryCounts()].attempts += 1 }
        let attempted = Set(batch.map(\.record.id))
        for r in written where attempted.contains(r.id) {
            switch r.state.status {
            case .delivered:
                counters[r.kind, default: DeliveryCounts()].delivered += 1
                logger.debug("delivered", metadata: ["id": "\(r.id)", "kind": "\(r.kind.rawValue)", "url": "\(URLCheck.redacted(r.url))"])
            case .failed:
                counters[r.kind, default: DeliveryCounts()].failed += 1
                logger.warning(
                    "delivery failed for good",
                    metadata: [
                        "id": "\(r.id)", "taskUUID": "\(r.taskUUID)", "kind": "\(r.kind.rawValue)", "url": "\(URLCheck.redacted(r.url))",
                        "attempts": "\(r.state.attempts)", "error": "\(r.state.lastError?.description ?? "-")",
                    ])
            default:
                logger.debug(
                    "delivery attempt failed; will retry",
                    metadata: [
                        "id": "\(r.id)", "kind": "\(r.kind.rawValue)", "url": "\(URLCheck.redacted(r.url))", "attempt": "\(r.state.attempts)",
                        "next": "\(r.state.nextAttemptMs.map { Timestamp(milliseconds: $0).iso8601 } ?? "-")",
                        "error": "\(r.state.lastError?.description ?? "-")",
                    ])
            }
        }
        requestRefresh(Set(written.map(\.taskUUID)))
    }

    /// Makes one attempt. Returns nil when the attempt was abandoned by a shutdown (its row stays `sending`).
    nonisolated func perform(_ r: DeliveryRecord) async -> DeliveryOutcome? {
        let result: AttemptResult
        switch await addressGuard.vet(r.url, nowMs: clock.timestamp.milliseconds) {
        case .failure(let f):
            result = .failure(f)
        case .success(let target):
            switch await request(for: r) {
            case .failure(let f): result = .failure(f)
            case .success(let req): result = await transport.send(req, target: target)
            }
        }
        if Task.isCancelled { return nil }
        return DeliveryOutcome(record: r, result: result, finishedMs: clock.timestamp.milliseconds, unitRandom: configuration.random())
    }

    /// The HTTP request of one attempt: webhooks are signed now (the timestamp is the attempt's), uploads stream the
    /// stored file (its size is checked on NIO's thread pool, not on a Swift concurrency thread).
    nonisolated func request(for r: DeliveryRecord) async -> Result<DeliveryRequest, TransportFailure> {
        switch r.kind {
        case .webhook:
            guard let body = r.body else { return .failure(.unusable("the message has no body")) }
            let bytes = Array(body.utf8)
            var headers = signer.headers(id: r.id, timestamp: clock.timestamp.milliseconds / 1000, body: bytes)
            headers.append(("content-type", "application/json"))
            headers.append(("user-agent", "Atelier/\(AtelierVersion.current) (webhooks)"))
            return .success(
                DeliveryRequest(
                    method: "POST", url: r.url, headers: headers, body: .bytes(bytes), timeoutSeconds: configuration.webhookTimeoutSeconds,
                    maxResponseBytes: configuration.maxResponseBytes))
        case .upload:
            guard let payload = r.payload, let json = try? JSONParser.parse(payload), let result = try? JobResult(json: json) else {
                return .failure(.unusable("the upload has no stored result"))
            }
            let path = result.path
            let size =
                try? await BlockingWork.run { () -> Int? in (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil }
                ?? nil
            guard let size else { return .failure(.unusable("the stored image \(result.imageUUID) is missing")) }
            guard size == result.bytes else {
                return .failure(.unusable("the stored image \(result.imageUUID) changed size (\(size) bytes, \(result.bytes) recorded)"))
            }
            return .success(
                DeliveryRequest(
                    method: "PUT", url: r.url,
                    headers: [("content-type", result.mimeType), ("user-agent", "Atelier/\(AtelierVersion.current) (uploads)")],
                    body: .file(path: result.path, length: Int64(size)), timeoutSeconds: configuration.uploadTimeoutSeconds,
                    maxResponseBytes: configuration.maxResponseBytes))
        }
    }

    /// Runs every attempt due now to completion and records it, until nothing is due; returns how many attempts
    /// ran. For tests and tools that drive the worker by hand (with an injected clock).
    @discardableResult
    public func runDue() async throws -> Int {
        try await start()
        var total = 0
        var outcomes: [DeliveryOutcome] = []
        while true {
            let step = try await store.step(
                outcomes: outcomes, nowMs: clock.timestamp.milliseconds, room: configuration.maxConcurrency, inflight: [:],
                perHost: configuration.perHostConcurrency
            )
            note(outcomes, step.written)
            if step.claimed.isEmpty { break }
            outcomes = await withTaskGroup(of: DeliveryOutcome?.self) { group in
                for r in step.claimed { group.addTask { await self.perform(r) } }
                var out: [DeliveryOutcome] = []
                for await o in group { if let o { out.append(o) } }
                return out
            }
            total += step.claimed.count
        }
        return total
    }

    // MARK: - Jobs' delivery state

    // This service is the one owner of `Job.deliveries`: the outbox is authoritative, and both copies callers see are
    // assembled here by ``attaching(_:to:)`` from every row of the job, in insertion order — the job cache's (kept
    // current by ``requestRefresh(_:)`` for the event loop's `job.get` fast path) and ``withDeliveries(_:)``'s (for
    // a job the cache no longer holds). The engine never sets `deliveries`; it stops writing a job once it is final,
    // which is the only time a job has any.

    /// `job` with its `deliveries` read from the outbox, when it is final and owes any (a webhook or uploads);
    /// otherwise `job` unchanged. A job that already shows its deliveries (the cache's copy) is not read again.
    public nonisolated func withDeliveries(_ job: Job) async -> Job {
        guard job.deliveries.isEmpty, Self.owesDeliveries(job) else { return job }
        do { return Self.attaching(try await store.rows(forTasks: [job.taskUUID]), to: job) } catch {
            logger.warning("cannot read a job's deliveries", metadata: ["taskUUID": "\(job.taskUUID)", "error": "\(error)"])
            return job
        }
    }

    /// Whether `job` is final and has a webhook or uploads (the only jobs with outbox rows).
    static func owesDeliveries(_ job: Job) -> Bool {
        job.status.isTerminal && (job.task.webhookURL != nil || job.task.uploadEndpoint != nil)
    }

    /// `job` showing `rows` (its outbox rows, in insertion order) as its `deliveries`.
    static func attaching(_ rows: [DeliveryRecord], to job: Job) -> Job {
        var j = job
        j.deliveries = rows.map(\.json)
        return j
    }

    /// Queues jobs whose `deliveries` must be re-read into the job cache. One refresher runs at a time, so a
    /// slower read can never overwrite a newer one.
    func requestRefresh(_ tasks: some Sequence<String>) {
        guard cache != nil else { return }
        refreshQueue.formUnion(tasks)
        if !refreshing && !refreshQueue.isEmpty {
            refreshing = true
            Task { await self.refreshLoop() }
        }
    }

    private func refreshLoop() async {
        guard let cache else { return }
        while !refreshQueue.isEmpty {
            let batch = Array(refreshQueue.prefix(256))
            refreshQueue.subtract(batch)
            let rows: [DeliveryRecord]
            do { rows = try await store.rows(forTasks: batch) } catch {
                logger.warning("cannot read deliveries for the job cache", metadata: ["jobs": "\(batch.count)", "error": "\(error)"])
                continue
            }
            var byTask: [String: [DeliveryRecord]] = [:]
            for r in rows { byTask[r.taskUUID, default: []].append(r) }
            for id in batch {
                var job = cache.job(id)
                if job == nil { job = try? await readJob(id) }
                // Only finished jobs: the engine owns a job until it is final (and never touches it afterwards).
                guard let j = job, j.status.isTerminal else { continue }
                cache.put(Self.attaching(byTask[id] ?? [], to: j))
            }
        }
        refreshing = false
    }

    // MARK: - Queries and manual retry

    /// A page of deliveries, newest first.
    public func list(
        status: DeliveryStatus?, taskUUID: String?, kind: DeliveryKind?, limit: Int, cursor: Int64?
    ) async throws(AtelierError) -> (
        [DeliveryRecord], Int64?
    ) {
        do { return try await store.list(status: status, taskUUID: taskUUID, kind: kind, limit: limit, before: cursor) } catch {
            throw Self.storeError(error, "cannot read the outbox")
        }
    }

    /// One delivery.
    public func get(_ id: String) async throws(AtelierError) -> DeliveryRecord {
        let r: DeliveryRecord?
        do { r = try await store.get(id) } catch { throw Self.storeError(error, "cannot read the outbox") }
        guard let r else { throw AtelierError(.notFound, "no delivery with id \(id)", field: "/id") }
        return r
    }

    /// `delivery.retry`: one delivery (by id) or a job's failed and pending ones, due now in a fresh cycle (the same
    /// `webhook-id`). A delivered one is refused with `already_delivered`.
    public func retry(id: String?, taskUUID: String?) async throws(AtelierError) -> [DeliveryRecord] {
        let rows: [DeliveryRecord]
        do { rows = try await store.retry(id: id, taskUUID: taskUUID, nowMs: clock.timestamp.milliseconds) } catch {
            throw Self.storeError(error, "cannot update the outbox")
        }
        if let id {
            guard let r = rows.first else { throw AtelierError(.notFound, "no delivery with id \(id)", field: "/id") }
            if r.state.status == .delivered {
                throw AtelierError(.alreadyDelivered, "delivery \(id) was already delivered", field: "/id")
            }
        }
        wakeup.signal()
        requestRefresh(Set(rows.map(\.taskUUID)))
        return rows
    }

    /// A store error as callers see it: the store's own ``AtelierError`` (bad data, e.g. an unknown stored value) as
    /// it is; anything else (SQLite failing) as a retryable `store_failure`.
    static func storeError(_ error: any Error, _ message: String) -> AtelierError {
        if let e = error as? AtelierError { return e }
        return AtelierError(.storeFailure, message, retryable: true)
    }
}

/// A flag set once, from any thread.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// What a delivery service did for one kind of delivery since it started (``DeliveryService/counters``).
public struct DeliveryCounts: Sendable, Equatable {
    /// Attempts made (each request sent, whatever came of it).
    public var attempts = 0
    /// Deliveries that succeeded.
    public var delivered = 0
    /// Deliveries given up for good.
    public var failed = 0

    /// No attempts yet.
    public init() {}
}
