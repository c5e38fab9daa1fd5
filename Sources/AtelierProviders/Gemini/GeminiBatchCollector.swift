import AtelierCore
import Foundation

/// Collects batched Gemini requests into `batchGenerateContent` calls and polls the batches, one per provider.
///
/// A batch per model goes out when it holds ``BatchSettings/maxRequests`` requests or when its collection window
/// (``BatchSettings/collectSeconds``, started by its first request) closes. Requests within
/// ``BatchSettings/maxInlineBytes`` go inline; beyond, as a JSONL file through the Files API. Polls of one batch are
/// shared by every job waiting on it (at most one `GET batches/{id}` per ``BatchSettings/pollSeconds``), and a
/// finished batch's results stay here until each job took its own (or an hour passed).
public actor GeminiBatchCollector {
    /// How batches are collected and polled.
    public nonisolated let settings: BatchSettings
    let client: NetworkClient

    /// Requests waiting for their batch, per upstream model.
    private var pending: [String: [Waiting]] = [:]
    /// The collection window of each model's open batch.
    private var windows: [String: Task<Void, Never>] = [:]
    /// The last status read of each batch, with when it was read.
    private var statuses: [String: (status: GeminiBatchCodec.Status, at: AtelierClock.Instant)] = [:]
    /// Polls under way.
    private var polls: [String: Task<Result<GeminiBatchCodec.Status, ProviderError>, Never>] = [:]
    /// Batches sent (for tests and logs).
    public private(set) var batchesSent = 0
    /// Requests waiting for their batch to go out, over all models.
    public var pendingRequests: Int { pending.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.entries.count } } }
    /// How many batched jobs may make interactive calls at once (a batch that failed, expired or came too late): the
    /// provider's `concurrency`, since these calls run from the batch lane and hold none of the interactive slots.
    public nonisolated let interactiveLimit: Int
    /// Batched jobs making interactive calls now.
    public private(set) var interactiveInUse = 0
    /// Batched jobs waiting for one of those slots.
    private var interactiveWaiting: [CheckedContinuation<Void, Never>] = []
    /// The number of batched jobs waiting to make interactive calls.
    public var interactiveWaitingCount: Int { interactiveWaiting.count }

    private struct Waiting {
        var id: UInt64
        var entries: [GeminiBatchCodec.Entry]
        var continuation: CheckedContinuation<Result<String, ProviderError>, Never>
    }
    private var nextID: UInt64 = 0

    /// A collector sending through `client` with `settings`; at most `interactiveLimit` batched jobs make interactive
    /// calls at once.
    public init(settings: BatchSettings, client: NetworkClient, interactiveLimit: Int = 4) {
        self.settings = settings
        self.client = client
        self.interactiveLimit = max(interactiveLimit, 1)
    }

    // MARK: Interactive slots

    /// Waits for one of the ``interactiveLimit`` slots; every call must be paired with ``releaseInteractive()``.
    public func acquireInteractive() async {
        if interactiveInUse < interactiveLimit {
            interactiveInUse += 1
            return
        }
        // The slot is handed over by releaseInteractive (interactiveInUse stays as it is).
        await withCheckedContinuation { interactiveWaiting.append($0) }
    }

    /// Gives a slot back: to the longest waiting job, else to the pool.
    public func releaseInteractive() {
        if interactiveWaiting.isEmpty {
            interactiveInUse = max(interactiveInUse - 1, 0)
        } else {
            interactiveWaiting.removeFirst().resume()
        }
    }

    var clock: AtelierClock { client.configuration.polling.clock }

    // MARK: Collecting

    /// Adds one job's requests to the open batch of `model` and returns the batch's name once it was created
    /// (the requests of one job always go into one batch). Cancellation withdraws them while the batch is still open.
    func enqueue(model: String, entries: [GeminiBatchCodec.Entry]) async throws(ProviderError) -> String {
        nextID += 1
        let id = nextID
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Result<String, ProviderError>, Never>) in
                add(Waiting(id: id, entries: entries, continuation: c), model: model)
            }
        } onCancel: {
            Task { await self.withdraw(id, model: model) }
        }
        return try result.get()
    }

    private func add(_ w: Waiting, model: String) {
        if Task.isCancelled {
            w.continuation.resume(returning: .failure(ProviderError(.cancelled, "cancelled while waiting for a batch")))
            return
        }
        let count = (pending[model]?.reduce(0) { $0 + $1.entries.count } ?? 0)
        // A job's requests never straddle two batches: a full batch goes out first.
        if count > 0 && count + w.entries.count > settings.maxRequests { flush(model) }
        pending[model, default: []].append(w)
        if (pending[model]?.reduce(0) { $0 + $1.entries.count } ?? 0) >= settings.maxRequests {
            flush(model)
        } else if windows[model] == nil {
            let clock = self.clock
            let seconds = settings.collectSeconds
            windows[model] = Task {
                do { try await clock.sleep(for: .seconds(seconds)) } catch { return }
                await self.windowClosed(model)
            }
        }
    }

    private func windowClosed(_ model: String) {
        windows[model] = nil
        flush(model)
    }

    private func withdraw(_ id: UInt64, model: String) {
        guard let i = pending[model]?.firstIndex(where: { $0.id == id }), let w = pending[model]?.remove(at: i) else { return }
        w.continuation.resume(returning: .failure(ProviderError(.cancelled, "cancelled while waiting for a batch")))
        if pending[model]?.isEmpty == true {
            pending[model] = nil
            windows.removeValue(forKey: model)?.cancel()
        }
    }

    /// Sends the open batch of `model` (in a task of its own, so collecting goes on meanwhile).
    private func flush(_ model: String) {
        windows.removeValue(forKey: model)?.cancel()
        guard let waiting = pending.removeValue(forKey: model), !waiting.isEmpty else { return }
        batchesSent += 1
        let number = batchesSent
        Task {
            let entries = waiting.flatMap(\.entries)
            let outcome: Result<String, ProviderError>
            do throws(ProviderError) {
                outcome = .success(try await self.create(model: model, entries: entries, displayName: "atelier-\(model)-\(number)"))
            } catch {
                outcome = .failure(error)
            }
            for w in waiting { w.continuation.resume(returning: outcome) }
        }
    }

    /// Creates one batch: inline within the size limit, else through an uploaded JSONL file.
    nonisolated func create(model: String, entries: [GeminiBatchCodec.Entry], displayName: String) async throws(ProviderError) -> String {
        let c = client.configuration
        let key = try c.requireKey()
        let transport = client.transport
        let timeout = c.requestTimeoutSeconds
        let inlineBytes = entries.reduce(0) { $0 + $1.bytes }
        let request: HTTPRequest
        if inlineBytes <= settings.maxInlineBytes {
            request = GeminiBatchCodec.encodeCreate(
                model: model, displayName: displayName, entries: entries, baseURL: c.baseURL, apiKey: key, timeoutSeconds: timeout)
        } else {
            let body = GeminiBatchCodec.jsonl(entries)
            let start = try await transport.send(
                GeminiBatchCodec.encodeUploadStart(
                    displayName: displayName, bytes: body.count, baseURL: c.baseURL, apiKey: key, timeoutSeconds: timeout), maxBodyBytes: 1 << 20)
            let url = try GeminiBatchCodec.decodeUploadURL(start)
            let uploaded = try await transport.send(
                GeminiBatchCodec.encodeUpload(url: url, body: body, apiKey: key, timeoutSeconds: timeout), maxBodyBytes: 1 << 20)
            let file = try GeminiBatchCodec.decodeUploadedFile(uploaded)
            request = GeminiBatchCodec.encodeCreate(
                model: model, displayName: displayName, fileName: file, baseURL: c.baseURL, apiKey: key, timeoutSeconds: timeout)
        }
        return try GeminiBatchCodec.decodeCreated(try await transport.send(request, maxBodyBytes: 1 << 20))
    }

    // MARK: Polling

    /// The batch's status: the last one read when it is final or younger than the poll interval, else read now
    /// (one read at a time per batch, shared by every caller). A finished batch comes with its results (downloaded
    /// from its results file when they are not inline).
    func status(_ name: String) async throws(ProviderError) -> GeminiBatchCodec.Status {
        purge()
        if let s = statuses[name], s.status.isTerminal || s.at.advanced(by: .seconds(settings.pollSeconds)) > clock.now {
            return s.status
        }
        let poll: Task<Result<GeminiBatchCodec.Status, ProviderError>, Never>
        if let p = polls[name] {
            poll = p
        } else {
            poll = Task {
                do throws(ProviderError) { return .success(try await self.read(name)) } catch { return .failure(error) }
            }
            polls[name] = poll
        }
        let result = await poll.value
        polls[name] = nil
        if case .success(let s) = result { statuses[name] = (s, clock.now) }
        return try result.get()
    }

    nonisolated func read(_ name: String) async throws(ProviderError) -> GeminiBatchCodec.Status {
        let c = client.configuration
        let key = try c.requireKey()
        var s = try GeminiBatchCodec.decodeStatus(
            try await client.transport.send(
                GeminiBatchCodec.encodeGet(name: name, baseURL: c.baseURL, apiKey: key, timeoutSeconds: c.requestTimeoutSeconds),
                maxBodyBytes: 1 << 30))
        if s.state == "SUCCEEDED", s.results.isEmpty, let file = s.responsesFile {
            s.results = try GeminiBatchCodec.decodeResults(
                jsonl: try await client.transport.send(
                    GeminiBatchCodec.encodeDownload(file: file, baseURL: c.baseURL, apiKey: key, timeoutSeconds: c.requestTimeoutSeconds),
                    maxBodyBytes: 1 << 30))
        }
        return s
    }

    /// Takes the results of `keys` out of a finished batch (each is handed out once; a key that is absent or was taken
    /// already is missing from the answer).
    func take(_ name: String, keys: [String]) -> [String: JSONValue] {
        guard var s = statuses[name] else { return [:] }
        var out: [String: JSONValue] = [:]
        for k in keys { out[k] = s.status.results.removeValue(forKey: k) }
        if s.status.isTerminal && s.status.results.isEmpty && s.status.state == "SUCCEEDED" {
            // Keep the final state (other jobs of the batch may still ask) without the images.
            s.status.results = [:]
        }
        statuses[name] = s
        return out
    }

    /// Forgets finished batches read more than an hour ago.
    private func purge() {
        let cutoff = clock.now.advanced(by: .seconds(-3600))
        for (name, s) in statuses where s.status.isTerminal && s.at < cutoff { statuses[name] = nil }
    }
}
