import AtelierCore

/// A provider failure, classified into one taxonomy so that retry, fallback and reporting are decided once.
///
/// | code | engine action |
/// |---|---|
/// | `invalid_request` | terminal, never retried |
/// | `auth`, `insufficient_credits` | terminal for this provider; fall back |
/// | `rate_limited` | retry after ``retryAfterSeconds``; a per-day quota (``quotaExhaustedForDay``) fails fast |
/// | `unavailable`, `timeout` | retry with exponential backoff and jitter, bounded |
/// | `refused` | terminal for this model; fall back only where the rules allow |
/// | `no_image` | retry once, then fall back |
/// | `bad_upstream` | retry with backoff (garbage is usually transient), bounded |
/// | `result_mismatch` | (routing policy `verification.onMismatch: retry`) retry with backoff, bounded, then fall back |
public struct ProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The taxonomy code.
    public var code: ErrorCode
    /// A human message (the provider's own message where useful). Never contains secrets.
    public var message: String
    /// The provider's hint for when to retry, in seconds.
    public var retryAfterSeconds: Double?
    /// True when a quota is exhausted until a daily reset: do not wait, fail fast.
    public var quotaExhaustedForDay: Bool
    /// The HTTP status, when there was one.
    public var httpStatus: Int?
    /// The provider's own error code (`insufficientCredits`, `RESOURCE_EXHAUSTED`, …).
    public var upstreamCode: String?
    /// The request field the provider blamed, when it named one.
    public var field: String?

    public init(
        _ code: ErrorCode, _ message: String, retryAfterSeconds: Double? = nil, quotaExhaustedForDay: Bool = false, httpStatus: Int? = nil,
        upstreamCode: String? = nil, field: String? = nil
    ) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
        self.quotaExhaustedForDay = quotaExhaustedForDay
        self.httpStatus = httpStatus
        self.upstreamCode = upstreamCode
        self.field = field
    }

    /// Whether trying the same model again may succeed.
    public var retryable: Bool {
        switch code {
        case .rateLimited: return !quotaExhaustedForDay
        case .unavailable, .timeout, .noImage, .badUpstream, .resultMismatch: return true
        default: return false
        }
    }

    /// Whether another model (satisfying the same hard constraints) may be tried.
    public var allowsFallback: Bool {
        switch code {
        case .invalidRequest, .cancelled: return false
        default: return true
        }
    }

    /// The job-facing error.
    public var atelierError: AtelierError {
        var d: JSONObject = [:]
        d.append("httpStatus", ifPresent: httpStatus.map { .int(Int64($0)) })
        d.append("upstreamCode", ifPresent: upstreamCode.map(JSONValue.string))
        d.append("retryAfterSeconds", ifPresent: retryAfterSeconds.map(JSONValue.number))
        return AtelierError(code, message, field: field, retryable: retryable, details: d)
    }

    public var description: String { "\(code): \(message)" }

    /// The provider has no asynchronous handle to resume from.
    public static let notResumable = ProviderError(.unavailable, "this provider cannot resume an interrupted call")
}
