import AtelierCore
import Foundation

// The pure part of delivery: what a row of the outbox is, how it moves between states, and how an HTTP answer is
// judged. No sockets, no SQLite, no clock: every input carries the time it happened at, so tests drive it by hand.

/// What an outbox row delivers.
public enum DeliveryKind: String, Sendable, CaseIterable {
    /// A signed `POST` of one job event to the task's `webhookURL`.
    case webhook
    /// A `PUT` of one stored image to its `uploadEndpoint`.
    case upload
}

/// The durable status of one outbox row.
public enum DeliveryStatus: String, Sendable, CaseIterable {
    /// Waiting for its next attempt (or, while ``DeliveryState/held``, for the job's uploads to settle).
    case pending
    /// Claimed by the worker: an attempt is in flight. A crash leaves the row here; the next start puts it back to
    /// `pending` and sends it again with the same id (at-least-once).
    case sending
    /// The receiver accepted it (2xx).
    case delivered
    /// Given up: a terminal answer (410 for webhooks, 4xx for uploads), a refused address, or the schedule ran out.
    case failed

    /// The status callers see: an attempt in flight is still `pending`.
    public var external: String { self == .sending ? "pending" : rawValue }

    /// True for `delivered` and `failed`.
    public var isFinal: Bool { self == .delivered || self == .failed }
}

/// Webhook event types (the body's `type`).
public enum WebhookEvent: String, Sendable, CaseIterable {
    /// One stored image (one message per image).
    case result = "job.result"
    case succeeded = "job.succeeded"
    case failed = "job.failed"
    case cancelled = "job.cancelled"
}

/// When attempts happen: `delays[i]` is the wait before attempt `i + 1` (the first is normally 0, "immediately");
/// after `delays.count` failed attempts in one cycle the row is `failed`. Each wait is spread by ±`jitter`.
public struct RetrySchedule: Sendable, Equatable, CustomStringConvertible {
    /// Seconds before each attempt of a cycle.
    public var delays: [Double]
    /// Relative spread of each delay (0.1 = ±10 %).
    public var jitter: Double

    public init(delays: [Double], jitter: Double = 0.1) {
        self.delays = delays.isEmpty ? [0] : delays
        self.jitter = max(0, min(jitter, 1))
    }

    /// Standard Webhooks / Svix: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    public static let webhookDefault = RetrySchedule(delays: [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000])
    /// Uploads: presigned URLs expire, so the schedule is shorter: immediately, 2 s, 10 s, 1 min, 5 min, 15 min, 30 min.
    public static let uploadDefault = RetrySchedule(delays: [0, 2, 10, 60, 300, 900, 1800])

    /// Attempts in one cycle.
    public var maxAttempts: Int { delays.count }

    /// The wait before attempt `number` (1-based) of a cycle, with jitter from `unitRandom` in 0..<1 (0.5 = none).
    public func delay(beforeAttempt number: Int, unitRandom: Double) -> Double {
        let base = delays[max(0, min(number - 1, delays.count - 1))]
        guard base > 0, jitter > 0 else { return max(0, base) }
        return max(0, base * (1 + jitter * (2 * unitRandom - 1)))
    }

    /// Parses `"0,5,5m,30m,2h"` (plain numbers are seconds; `ms`, `s`, `m`, `h` suffixes).
    public static func parse(_ text: String, jitter: Double = 0.1) -> RetrySchedule? {
        var out: [Double] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let p = part.trimmingCharacters(in: .whitespaces).lowercased()
            var factor = 1.0
            var number = Substring(p)
            if p.hasSuffix("ms") {
                factor = 0.001
                number = p.dropLast(2)
            } else if p.hasSuffix("s") {
                number = p.dropLast()
            } else if p.hasSuffix("m") {
                factor = 60
                number = p.dropLast()
            } else if p.hasSuffix("h") {
                factor = 3600
                number = p.dropLast()
            }
            guard let v = Double(number), v >= 0, v.isFinite else { return nil }
            out.append(v * factor)
        }
        guard !out.isEmpty, out.count <= 64 else { return nil }
        return RetrySchedule(delays: out, jitter: jitter)
    }

    public var description: String {
        delays.map { $0 == $0.rounded() ? String(Int($0)) : String($0) }.joined(separator: ",")
    }
}

/// What one attempt came back with, as seen by the transport.
public enum AttemptResult: Sendable, Equatable {
    /// The receiver answered with this status; `excerpt` is the start of its body (capped, secrets scrubbed).
    case http(status: Int, excerpt: String)
    /// The attempt did not get an answer.
    case failure(TransportFailure)
}

/// Why an attempt got no answer.
public enum TransportFailure: Error, Sendable, Equatable {
    /// The per-attempt timeout passed (connect, send or read).
    case timeout
    /// Connection refused, reset, closed early, DNS failure: the network or the receiver is down.
    case network(String)
    /// The address is forbidden by the delivery address policy (after DNS resolution). Terminal.
    case forbiddenAddress(String)
    /// The request cannot be made at all (malformed URL, the stored image is gone). Terminal.
    case unusable(String)
}

/// The verdict on one attempt.
public enum AttemptVerdict: Sendable, Equatable {
    /// Accepted.
    case delivered
    /// Failed, may succeed later: try again on the schedule.
    case retry(AtelierError)
    /// Failed for good: no more attempts.
    case stop(AtelierError)
}

extension ErrorCode {
    /// The receiver answered with a status that is worth retrying (webhooks: anything but 2xx and 410; uploads: 5xx,
    /// 408, 429).
    public static let receiverError: ErrorCode = "receiver_error"
    /// The receiver refused for good (webhooks: 410 Gone; uploads: other 4xx such as 403 from an expired URL, and 3xx,
    /// since redirects are not followed).
    public static let receiverRejected: ErrorCode = "receiver_rejected"
    /// The target address is forbidden by the delivery address policy (link-local, cloud metadata, deny list).
    public static let forbiddenAddress: ErrorCode = "forbidden_address"
    /// The delivery cannot be attempted (malformed URL, stored image missing).
    public static let deliveryUnusable: ErrorCode = "delivery_unusable"
    /// `delivery.retry` on a delivery that was already delivered.
    public static let alreadyDelivered: ErrorCode = "already_delivered"
}

/// Judges attempts. Webhooks follow Standard Webhooks: 2xx is success, 410 stops, everything else retries. Uploads
/// follow S3: 2xx is success, 5xx/408/429/timeouts/resets retry, any other status (a 403 from an expired presigned
/// URL, a 3xx we will not follow) is terminal and carries the receiver's status and body excerpt.
public enum DeliveryClassifier {
    public static func verdict(_ kind: DeliveryKind, _ result: AttemptResult) -> AttemptVerdict {
        switch result {
        case .http(let status, let excerpt):
            if (200..<300).contains(status) { return .delivered }
            var details: JSONObject = ["httpStatus": .int(Int64(status))]
            if !excerpt.isEmpty { details.append("body", .string(excerpt)) }
            let tail = excerpt.isEmpty ? "" : ": \(excerpt)"
            switch kind {
            case .webhook:
                if status == 410 {
                    return .stop(AtelierError(.receiverRejected, "the receiver answered 410 Gone; no more attempts\(tail)", details: details))
                }
                return .retry(AtelierError(.receiverError, "the receiver answered \(status)\(tail)", retryable: true, details: details))
            case .upload:
                if status >= 500 || status == 408 || status == 429 {
                    return .retry(AtelierError(.receiverError, "the upload endpoint answered \(status)\(tail)", retryable: true, details: details))
                }
                let why = (300..<400).contains(status) ? " (redirects are not followed)" : ""
                return .stop(AtelierError(.receiverRejected, "the upload endpoint answered \(status)\(why)\(tail)", details: details))
            }
        case .failure(.timeout):
            return .retry(AtelierError(.timeout, "no answer within the attempt timeout", retryable: true))
        case .failure(.network(let m)):
            return .retry(AtelierError(.unavailable, m, retryable: true))
        case .failure(.forbiddenAddress(let m)):
            return .stop(AtelierError(.forbiddenAddress, m))
        case .failure(.unusable(let m)):
            return .stop(AtelierError(.deliveryUnusable, m))
        }
    }
}

/// The durable state of one outbox row: exactly what is stored in its columns.
public struct DeliveryState: Sendable, Equatable {
    public var status: DeliveryStatus
    /// A webhook held back until the job's uploads settle (so that it can say where each image went).
    public var held: Bool
    /// Attempts made, over the row's whole life.
    public var attempts: Int
    /// Attempts made in the current cycle (a manual retry starts a new cycle): the index into the schedule.
    public var cycleAttempts: Int
    /// When the next attempt is due (milliseconds since the epoch); nil while held, sending or final.
    public var nextAttemptMs: Int64?
    /// The receiver's status on the last attempt, when it answered.
    public var lastHTTPStatus: Int?
    /// Why the last attempt failed; nil after success.
    public var lastError: AtelierError?
    /// When it was delivered.
    public var deliveredMs: Int64?

    public init(
        status: DeliveryStatus = .pending, held: Bool = false, attempts: Int = 0, cycleAttempts: Int = 0, nextAttemptMs: Int64? = nil,
        lastHTTPStatus: Int? = nil, lastError: AtelierError? = nil, deliveredMs: Int64? = nil
    ) {
        self.status = status
        self.held = held
        self.attempts = attempts
        self.cycleAttempts = cycleAttempts
        self.nextAttemptMs = nextAttemptMs
        self.lastHTTPStatus = lastHTTPStatus
        self.lastError = lastError
        self.deliveredMs = deliveredMs
    }
}

/// The outbox row's state machine (events in, actions out).
///
/// ```
///            ┌────────── release ─────────┐
///  (held) pending ──claim──▶ sending ──attempted: delivered──▶ delivered
///            ▲                   │ attempted: retry (schedule left) ──▶ pending (next = now + delay)
///            │                   │ attempted: retry (schedule spent) / stop ──▶ failed
///            │                   └─ recovered (crash mid-send) ──▶ pending (now)
///            └──────── retryRequested (new cycle) ◀── failed | pending
/// ```
public struct DeliveryStateMachine: Sendable, Equatable {
    public private(set) var state: DeliveryState
    public let schedule: RetrySchedule

    public init(state: DeliveryState, schedule: RetrySchedule) {
        self.state = state
        self.schedule = schedule
    }

    /// A fresh row created at `nowMs`: due after the schedule's first delay, or held.
    public static func initial(nowMs: Int64, held: Bool, schedule: RetrySchedule, unitRandom: Double) -> DeliveryState {
        held
            ? DeliveryState(status: .pending, held: true)
            : DeliveryState(status: .pending, nextAttemptMs: nowMs + ms(schedule.delay(beforeAttempt: 1, unitRandom: unitRandom)))
    }

    public enum Event: Sendable, Equatable {
        /// The uploads a held webhook waited for have settled.
        case release(nowMs: Int64)
        /// The worker takes the row for an attempt.
        case claim(nowMs: Int64)
        /// An attempt ended.
        case attempted(AttemptVerdict, httpStatus: Int?, nowMs: Int64, unitRandom: Double)
        /// `delivery.retry`: try again now, with a fresh cycle.
        case retryRequested(nowMs: Int64)
        /// The daemon started and found the row `sending`: the attempt's fate is unknown, so send again now.
        case recovered(nowMs: Int64)
    }

    public enum Action: Sendable, Equatable {
        /// Nothing changed (the event does not apply in this state).
        case ignore
        /// Make the attempt now.
        case send
        /// Wait: the row is due at this time.
        case schedule(atMs: Int64)
        /// Done, successfully.
        case delivered
        /// Done, unsuccessfully (`exhausted`: the schedule ran out rather than a terminal answer).
        case failed(AtelierError, exhausted: Bool)
    }

    /// Applies `event`; returns what the worker must do.
    public mutating func handle(_ event: Event) -> Action {
        switch event {
        case .release(let now):
            guard state.status == .pending, state.held else { return .ignore }
            state.held = false
            state.nextAttemptMs = now
            return .schedule(atMs: now)

        case .claim(let now):
            guard state.status == .pending, !state.held, let due = state.nextAttemptMs, due <= now else { return .ignore }
            state.status = .sending
            state.attempts += 1
            state.cycleAttempts += 1
            state.nextAttemptMs = nil
            return .send

        case .attempted(let verdict, let httpStatus, let now, let r):
            guard state.status == .sending else { return .ignore }
            state.lastHTTPStatus = httpStatus
            switch verdict {
            case .delivered:
                state.status = .delivered
                state.deliveredMs = now
                state.lastError = nil
                return .delivered
            case .stop(let e):
                state.status = .failed
                state.lastError = e
                return .failed(e, exhausted: false)
            case .retry(let e):
                if state.cycleAttempts >= schedule.maxAttempts {
                    var last = e
                    last.message = "gave up after \(state.cycleAttempts) attempt\(state.cycleAttempts == 1 ? "" : "s"): \(e.message)"
                    last.retryable = false
                    state.status = .failed
                    state.lastError = last
                    return .failed(last, exhausted: true)
                }
                state.status = .pending
                state.lastError = e
                let at = now + Self.ms(schedule.delay(beforeAttempt: state.cycleAttempts + 1, unitRandom: r))
                state.nextAttemptMs = at
                return .schedule(atMs: at)
            }

        case .retryRequested(let now):
            switch state.status {
            case .failed, .pending:
                if state.held { return .ignore }
                state.status = .pending
                state.cycleAttempts = 0
                state.nextAttemptMs = now
                return .schedule(atMs: now)
            case .sending, .delivered:
                return .ignore
            }

        case .recovered(let now):
            guard state.status == .sending else { return .ignore }
            state.status = .pending
            state.nextAttemptMs = now
            return .schedule(atMs: now)
        }
    }

    static func ms(_ seconds: Double) -> Int64 { Int64((seconds * 1000).rounded()) }
}
