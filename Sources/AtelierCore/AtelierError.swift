/// A stable, machine-readable error code (`snake_case`). New codes may be added; existing ones never change meaning.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    // MARK: Caller input (JSON-RPC -32602, "invalid params")

    /// A field has the wrong JSON type.
    public static let invalidType: ErrorCode = "invalid_type"
    /// A required field is absent.
    public static let missingField: ErrorCode = "missing_field"
    /// A field the method does not know (usually a typo).
    public static let unknownField: ErrorCode = "unknown_field"
    /// A field has an allowed type but a value outside its domain.
    public static let invalidValue: ErrorCode = "invalid_value"
    /// `taskUUID` (or another id) is not a UUID v4.
    public static let invalidUUID: ErrorCode = "invalid_uuid"
    /// `positivePrompt` is empty or whitespace.
    public static let promptEmpty: ErrorCode = "prompt_empty"
    /// A prompt is longer than the model accepts.
    public static let promptTooLong: ErrorCode = "prompt_too_long"
    /// `width`/`height`/`aspectRatio`/`resolution` are not a size the model can produce.
    public static let invalidDimensions: ErrorCode = "invalid_dimensions"
    /// `model` names no model in the catalog.
    public static let unknownModel: ErrorCode = "unknown_model"
    /// The model exists but is retired.
    public static let modelRetired: ErrorCode = "model_retired"
    /// `outputFormat` is not produced by the model.
    public static let unsupportedOutputFormat: ErrorCode = "unsupported_output_format"
    /// A reference image cannot be read or decoded, or is too large.
    public static let invalidReferenceImage: ErrorCode = "invalid_reference_image"
    /// More reference images than the model accepts.
    public static let tooManyReferences: ErrorCode = "too_many_references"
    /// `numberResults` outside the model's range.
    public static let invalidNumberResults: ErrorCode = "invalid_number_results"
    /// A URL is malformed, uses an unsupported scheme, or points somewhere forbidden.
    public static let invalidURL: ErrorCode = "invalid_url"
    /// The number of upload URLs does not match `numberResults`.
    public static let uploadCountMismatch: ErrorCode = "upload_count_mismatch"
    /// The requested model cannot honour a hard requirement (e.g. reproducibility).
    public static let requirementUnsatisfiable: ErrorCode = "requirement_unsatisfiable"

    // MARK: Application (JSON-RPC -32000…-32099)

    /// The taskUUID is already used by a different task.
    public static let conflictTaskUUID: ErrorCode = "conflict_task_uuid"
    /// No job/workflow/delivery with that id.
    public static let notFound: ErrorCode = "not_found"
    /// No model can serve the task; `data.rejections` lists why, per model.
    public static let noRoute: ErrorCode = "no_route"
    /// The task would exceed a configured budget.
    public static let budgetExceeded: ErrorCode = "budget_exceeded"
    /// The job can no longer be cancelled.
    public static let notCancellable: ErrorCode = "not_cancellable"
    /// The daemon is shutting down and takes no new work.
    public static let shuttingDown: ErrorCode = "shutting_down"
    /// The store failed; the request had no effect.
    public static let storeFailure: ErrorCode = "store_failure"
    /// A frame exceeded the configured size limit.
    public static let frameTooLarge: ErrorCode = "frame_too_large"
    /// An unexpected internal error; the request had no effect.
    public static let internalError: ErrorCode = "internal_error"
    /// A configuration file (providers, routing) is invalid; `data.issues` lists every problem.
    public static let configInvalid: ErrorCode = "config_invalid"
    /// The client sent more concurrent requests than the connection allows.
    public static let tooManyRequests: ErrorCode = "too_many_requests"
    /// A batch holds more requests than the daemon accepts in one frame (`details.limit`); sent with -32600.
    public static let batchTooLarge: ErrorCode = "batch_too_large"
    /// The connection already holds as many distinct subscriptions as it may (`details.limit`).
    public static let tooManySubscriptions: ErrorCode = "too_many_subscriptions"

    // MARK: Provider taxonomy (job errors and attempts)

    /// The provider rejected the request as malformed (our bug or the caller's); never retried.
    public static let invalidRequest: ErrorCode = "invalid_request"
    /// The API key is missing, invalid or lacks permission.
    public static let auth: ErrorCode = "auth"
    /// The account has no credits left.
    public static let insufficientCredits: ErrorCode = "insufficient_credits"
    /// Rate limited; retried after the provider's hint.
    public static let rateLimited: ErrorCode = "rate_limited"
    /// The provider is temporarily unavailable; retried with backoff.
    public static let unavailable: ErrorCode = "unavailable"
    /// The provider did not answer in time; retried with backoff.
    public static let timeout: ErrorCode = "timeout"
    /// Safety or moderation refused the prompt or the image.
    public static let refused: ErrorCode = "refused"
    /// The provider answered without an image.
    public static let noImage: ErrorCode = "no_image"
    /// The provider answered with something that is not its documented format.
    public static let badUpstream: ErrorCode = "bad_upstream"
    /// The delivered images differ from the request (size, format, model, seed, count); `details.fields` names them.
    public static let resultMismatch: ErrorCode = "result_mismatch"
    /// The job was cancelled.
    public static let cancelled: ErrorCode = "cancelled"
}

/// An error with a stable code, a human message, and — for input errors — the offending field as a JSON pointer.
///
/// This one type travels from validation through the engine to the wire, where it becomes the JSON-RPC
/// `error` object (`data.code`, `data.field`, `data.retryable`, plus any `details`).
public struct AtelierError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable code.
    public var code: ErrorCode
    /// A human-readable explanation. Never contains secrets.
    public var message: String
    /// The offending field as a JSON pointer into the request params (e.g. `/width`), when one is to blame.
    public var field: String?
    /// Whether trying the same thing again later may succeed.
    public var retryable: Bool
    /// Extra structured detail (allowed values, nearest sizes, per-model rejections, …).
    public var details: JSONObject

    /// Creates an error.
    public init(_ code: ErrorCode, _ message: String, field: String? = nil, retryable: Bool = false, details: JSONObject = [:]) {
        self.code = code
        self.message = message
        self.field = field
        self.retryable = retryable
        self.details = details
    }

    public var description: String {
        field.map { "\(code): \(message) (at \($0))" } ?? "\(code): \(message)"
    }

    /// The `{code, message, retryable, field, …details}` object used in jobs and in JSON-RPC `error.data`.
    public var json: JSONValue {
        var o = JSONObject()
        o.append("code", .string(code.rawValue))
        o.append("message", .string(message))
        o.append("retryable", .bool(retryable))
        o.append("field", ifPresent: field.map(JSONValue.string))
        for (k, v) in details { o[k] = v }
        return .object(o)
    }

    /// Decodes the object written by ``json``; unknown members become details.
    public init(json: JSONValue) {
        let o = json.objectValue ?? [:]
        self.code = ErrorCode(rawValue: o["code"]?.stringValue ?? "internal_error")
        self.message = o["message"]?.stringValue ?? ""
        self.field = o["field"]?.stringValue
        self.retryable = o["retryable"]?.boolValue ?? false
        var rest = JSONObject()
        for (k, v) in o where !["code", "message", "field", "retryable"].contains(k) { rest.append(k, v) }
        self.details = rest
    }
}
