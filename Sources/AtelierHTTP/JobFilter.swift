import AtelierCore

/// The console's job list filters (`GET /api/jobs?status=…&model=…&tag=key=value&limit=…&cursor=…`). Filter values
/// are not secrets, so they may travel in the query string; the token never does.
struct JobFilter: Sendable {
    /// Only jobs in this status (the store filters on it).
    var status: JobStatus?
    /// Only jobs whose serving (or routed, or requested) model is this id.
    var model: String?
    /// Only jobs carrying this tag with this value.
    var tag: (key: String, value: String)?
    /// The most jobs wanted (1–200, default 50). Unfiltered, the answer has exactly this many (when there are);
    /// with a model or tag filter it ends with the store page in which the count was reached, so it may hold more.
    var limit = 50
    /// Continue below this store cursor (from the previous answer's `nextCursor`).
    var cursor: Int64?

    /// The most jobs one request reads from the store while looking for matches (bounds the work of a rare filter).
    static let scanLimit = 2000

    /// Parses the query parameters; an empty value is no filter.
    /// - Throws: ``AtelierError`` `invalid_value` naming the parameter.
    init(query: [(String, String)]) throws(AtelierError) {
        for (name, value) in query where !value.isEmpty {
            switch name {
            case "status":
                guard let s = JobStatus(rawValue: value) else {
                    throw AtelierError(
                        .invalidValue, "status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))", field: "status")
                }
                status = s
            case "model": model = value
            case "tag":
                guard let eq = value.firstIndex(of: "="), eq != value.startIndex else {
                    throw AtelierError(.invalidValue, "tag must be key=value", field: "tag")
                }
                tag = (String(value[..<eq]), String(value[value.index(after: eq)...]))
            case "limit":
                guard let n = Int(value), (1...200).contains(n) else {
                    throw AtelierError(.invalidValue, "limit must be from 1 to 200", field: "limit")
                }
                limit = n
            case "cursor":
                guard let c = Int64(value), c > 0 else { throw AtelierError(.invalidValue, "cursor must be a positive integer", field: "cursor") }
                cursor = c
            default:
                throw AtelierError(.invalidValue, "unknown parameter '\(name.prefix(40))'; use status, model, tag, limit, cursor", field: name)
            }
        }
    }

    /// Whether `job` passes the model and tag filters (the status filter is the store's).
    func matches(_ job: Job) -> Bool {
        if let model {
            let models = [job.attempts.last?.model, job.route?.model, job.task.model]
            guard models.contains(model) else { return false }
        }
        if let tag, job.task.tags[tag.key] != tag.value { return false }
        return true
    }
}
