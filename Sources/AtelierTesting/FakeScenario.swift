import AtelierCore
import Foundation
import Synchronization

/// A behaviour a fake provider can be told to show, by a magic word in the prompt (`[fake:blocked]`) or by a
/// script queued from Swift (``FakeScript/enqueue(_:stage:)``).
///
/// Prompt tokens: `[fake:NAME]` applies to every request carrying the prompt; `[fake:NAME-once]` (or
/// `-then-ok`) only to the first request a fake sees with that prompt, so the retry succeeds;
/// `[fake:PROVIDER:NAME…]` applies only to that fake (`gemini`, `runware`, `bfl`, `a1111`). Several tokens may be
/// combined; the first failure that applies wins, modifiers (`thoughts`, `hold`, `jpeg`) always apply. The tokens
/// pass through the daemon untouched (they are part of `positivePrompt`); the fakes strip them before rendering.
public enum FakeScenario: String, Sendable, CaseIterable, Equatable {
    /// The normal, successful answer.
    case ok
    /// 429: Gemini `RESOURCE_EXHAUSTED` with `RetryInfo` (0.2 s) and a per-minute `QuotaFailure`; Runware
    /// `providerRateLimitExceeded`; BFL "too many active tasks"; A1111 429. A short `Retry-After` header too.
    case rateLimited = "rate-limit"
    /// Gemini 429 whose `QuotaFailure` names a per-day quota (fail fast, no retry).
    case quotaPerDay = "quota-day"
    /// 503: Gemini `UNAVAILABLE` (overloaded), Runware `noAvailableServer`, BFL / A1111 503.
    case unavailable = "503"
    /// Refused by safety: Gemini 200 with `promptFeedback.blockReason` SAFETY; Runware `contentPolicyViolation`
    /// on the poll; BFL poll status `Request Moderated`; A1111 has no filter (ignored).
    case blocked
    /// Gemini 200 with a candidate that stops with `IMAGE_SAFETY` and no image.
    case imageSafety = "image-safety"
    /// Gemini 200 with finishReason `NO_IMAGE`; A1111 200 with `images: []`.
    case noImage = "no-image"
    /// HTTP 200 with a JSON body cut off in the middle.
    case malformed
    /// The response head and half of the body, then a TCP reset.
    case reset
    /// Gemini: two interim thought images (and thought text) before the final image.
    case thoughts
    /// Gemini: the final image as JPEG (Pro has been seen doing this). Runware/BFL honour `outputFormat` anyway.
    case jpeg
    /// Gemini: `modelVersion` names another catalogued model than the one called (a silent substitution):
    /// `gemini-2.5-flash-image`, or `gemini-3.1-flash-image` when that was the model called.
    case otherModel = "other-model"
    /// Gemini: the image is half the width and height asked for.
    case smaller
    /// Runware `insufficientCredits` (HTTP 402); BFL 402.
    case noCredits = "no-credits"
    /// A validation error naming a field: Gemini 400 INVALID_ARGUMENT with `BadRequest.fieldViolations`; Runware
    /// `invalidWidth` with min/max; BFL and A1111 422 FastAPI `detail[]`.
    case invalid
    /// Runware / BFL: the task stays `processing` / `Pending` until ``FakeScript/release()`` is called.
    case hold
    /// Runware: the task fails while processing (`taskFailed` item error); BFL poll status `Error`.
    case failed
    /// A1111: 500 `OutOfMemoryError` (CUDA out of memory).
    case oom

    /// Modifiers change a successful answer instead of replacing it.
    public var isModifier: Bool {
        self == .thoughts || self == .hold || self == .jpeg || self == .otherModel || self == .smaller || self == .ok
    }
}

/// Where in a provider's exchange a queued scenario applies.
public enum FakeStage: String, Sendable, Equatable {
    /// The call that starts a generation: Gemini `generateContent`, Runware `imageInference`, BFL submit, A1111
    /// `txt2img`/`img2img`.
    case generate
    /// Runware `getResponse`, BFL `get_result`.
    case poll
    /// Image downloads from the image / delivery host.
    case download
    /// Model listing: Gemini `GET /v1beta/models`, Runware `modelSearch`, A1111 `sd-models`.
    case list
}

/// One `[fake:…]` token.
public struct FakePromptToken: Sendable, Equatable {
    public var provider: String?
    public var scenario: FakeScenario
    public var once: Bool

    public init(provider: String?, scenario: FakeScenario, once: Bool) {
        self.provider = provider
        self.scenario = scenario
        self.once = once
    }

    /// The tokens in `prompt`, in order; unknown names are ignored.
    public static func parse(_ prompt: String) -> [FakePromptToken] {
        var out: [FakePromptToken] = []
        var rest = Substring(prompt)
        while let open = rest.range(of: "[fake:") {
            guard let close = rest[open.upperBound...].firstIndex(of: "]") else { break }
            var body = String(rest[open.upperBound..<close]).lowercased()
            rest = rest[rest.index(after: close)...]
            var provider: String?
            if let colon = body.firstIndex(of: ":") {
                provider = String(body[..<colon])
                body = String(body[body.index(after: colon)...])
            }
            var once = false
            for suffix in ["-once", "-then-ok"] where body.hasSuffix(suffix) {
                once = true
                body.removeLast(suffix.count)
            }
            if let s = FakeScenario(rawValue: body) {
                out.append(FakePromptToken(provider: provider, scenario: s, once: once))
            }
        }
        return out
    }

    /// `prompt` without its `[fake:…]` tokens (what the fake "draws").
    public static func strip(_ prompt: String) -> String {
        var s = prompt
        while let open = s.range(of: "[fake:"), let close = s[open.upperBound...].firstIndex(of: "]") {
            s.removeSubrange(open.lowerBound...close)
        }
        return s.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A fake's scenario control: the queue of scripted behaviours, the "once" bookkeeping of prompt tokens, and
/// the held tasks.
public final class FakeScript: Sendable {
    private struct State {
        var queue: [(FakeStage, FakeScenario)] = []
        var triggered: [String: Int] = [:]
        var released = false
        var releaseGeneration = 0
    }

    /// The provider name prompt tokens are filtered by (`gemini`, `runware`, `bfl`, `a1111`).
    public let provider: String
    /// Prompt scenarios this provider shows while polling instead of at submit (asynchronous APIs).
    public let pollScenarios: Set<FakeScenario>
    private let state = Mutex(State())

    public init(provider: String, pollScenarios: Set<FakeScenario> = []) {
        self.provider = provider
        self.pollScenarios = pollScenarios
    }

    /// Queues behaviours for the next requests at `stage` (first in, first out; one request each). Queued
    /// behaviours take precedence over prompt tokens.
    public func enqueue(_ scenarios: FakeScenario..., stage: FakeStage = .generate) {
        state.withLock { s in for sc in scenarios { s.queue.append((stage, sc)) } }
    }

    /// Drops every queued behaviour.
    public func clearQueue() { state.withLock { $0.queue.removeAll() } }

    /// Lets every held task (``FakeScenario/hold``) finish at its next poll.
    public func release() { state.withLock { $0.released = true } }

    /// Holds tasks again (after a ``release()``).
    public func holdAgain() { state.withLock { $0.released = false } }

    /// Whether held tasks may finish.
    public var isReleased: Bool { state.withLock { $0.released } }

    /// The behaviour for one request at `stage` whose prompt is `prompt` (nil when the request has none).
    /// Consumes a queued entry or a `-once` token.
    public func decide(stage: FakeStage, prompt: String?) -> (failure: FakeScenario?, modifiers: Set<FakeScenario>) {
        let queued: FakeScenario? = state.withLock { s in
            guard let i = s.queue.firstIndex(where: { $0.0 == stage }) else { return nil }
            return s.queue.remove(at: i).1
        }
        var modifiers = Set<FakeScenario>()
        var failure: FakeScenario?
        if let q = queued {
            if q.isModifier { modifiers.insert(q) } else { failure = q }
        }
        guard let prompt else { return (failure, modifiers) }
        let tokens = FakePromptToken.parse(prompt).filter { $0.provider == nil || $0.provider == provider }
        func firstTime(_ t: FakePromptToken) -> Bool {
            let key = "\(stage.rawValue)|\(t.scenario.rawValue)|\(prompt)"
            return state.withLock { s -> Bool in
                defer { s.triggered[key, default: 0] += 1 }
                return s.triggered[key, default: 0] == 0
            }
        }
        // A `-once` modifier changes only the first answer with that prompt.
        for t in tokens where t.scenario.isModifier && (!t.once || firstTime(t)) { modifiers.insert(t.scenario) }
        if failure == nil {
            for t in tokens where !t.scenario.isModifier && applies(t.scenario, to: stage) {
                if t.once && !firstTime(t) { continue }
                failure = t.scenario
                break
            }
        }
        return (failure, modifiers)
    }

    /// Where a prompt token acts: on the asynchronous APIs refusals and task failures show up while polling;
    /// everything else answers the call that starts the generation.
    func applies(_ s: FakeScenario, to stage: FakeStage) -> Bool {
        switch stage {
        case .generate: return !pollScenarios.contains(s)
        case .poll: return pollScenarios.contains(s)
        case .download, .list: return false
        }
    }
}
