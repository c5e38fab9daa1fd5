import Synchronization

/// The bounded label values of ``AtelierMetrics/Name/costByTag``: tag values are free text chosen by callers, so the
/// first ``limit`` distinct values (each cut to 64 characters) become label values and every later one is counted as
/// `other`; a job without the tag is `none`. Prometheus stays bounded however many values callers invent.
final class CostTagLabel: Sendable {
    /// The most distinct values with their own series.
    static let limit = 50
    /// The tag whose values label the cost.
    let tag: String
    private let seen = Mutex<Set<String>>([])

    /// Values of `tag`.
    init(tag: String) { self.tag = tag }

    /// The label value for a job's tags.
    func value(for tags: [String: String]) -> String {
        guard let raw = tags[tag] else { return "none" }
        let v = String(raw.prefix(64))
        return seen.withLock { s in
            if s.contains(v) { return v }
            guard s.count < Self.limit else { return "other" }
            s.insert(v)
            return v
        }
    }
}
