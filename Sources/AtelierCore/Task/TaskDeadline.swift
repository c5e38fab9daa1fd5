import Foundation

/// When a task's images are needed (`requirements.deadline`): a duration from submission (`"24h"`, `"90m"`,
/// `"1h30m"`, `"2d"`) or an RFC 3339 time (`"2026-12-05T18:00:00Z"`, offsets allowed).
///
/// The text is kept as written so that the task's canonical JSON (and so idempotent resubmission) does not depend
/// on when it was parsed. A duration is measured from the job's submission; the router reads it as the time
/// available.
public enum TaskDeadline: Sendable, Equatable {
    /// Needed within `seconds` of submission.
    case within(seconds: Double, text: String)
    /// Needed by this time.
    case at(Timestamp, text: String)

    /// The longest duration accepted.
    public static let maxSeconds: Double = 366 * 86_400

    /// The text as written.
    public var text: String {
        switch self {
        case .within(_, let t), .at(_, let t): return t
        }
    }

    /// Seconds left at `now` for a task submitted at `submittedAt` (nil: now).
    public func secondsLeft(now: Timestamp, submittedAt: Timestamp? = nil) -> Double {
        switch self {
        case .within(let s, _):
            guard let submittedAt else { return s }
            return s - (now.seconds - submittedAt.seconds)
        case .at(let t, _):
            return t.seconds - now.seconds
        }
    }

    /// The absolute deadline for a task submitted at `submittedAt`.
    public func time(submittedAt: Timestamp) -> Timestamp {
        switch self {
        case .within(let s, _): return submittedAt.adding(seconds: s)
        case .at(let t, _): return t
        }
    }

    /// Parses `text`; nil when it is neither a positive duration nor an RFC 3339 time with a zone.
    public init?(parsing text: String) {
        if let s = Self.durationSeconds(text) {
            self = .within(seconds: s, text: text)
        } else if let t = Self.rfc3339(text) {
            self = .at(t, text: text)
        } else {
            return nil
        }
    }

    /// `<number><unit>` groups, units `d`, `h`, `m`, `s` in that order, each at most once (`"1h30m"`); more than zero
    /// and at most ``maxSeconds``.
    static func durationSeconds(_ text: String) -> Double? {
        let units: [(Character, Double)] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]
        var total = 0.0
        var number = ""
        var nextUnit = 0
        var groups = 0
        for ch in text {
            if ch.isASCII && (ch.isNumber || ch == ".") {
                number.append(ch)
                continue
            }
            guard let k = units[nextUnit...].firstIndex(where: { $0.0 == ch }), !number.isEmpty, let v = Double(number), v.isFinite
            else { return nil }
            total += v * units[k].1
            nextUnit = k + 1
            number = ""
            groups += 1
            if nextUnit > units.count { return nil }
        }
        guard number.isEmpty, groups > 0, total > 0, total <= maxSeconds else { return nil }
        return total
    }

    /// An RFC 3339 date-time (`T` separator, `Z` or a numeric offset, optional fraction).
    static func rfc3339(_ text: String) -> Timestamp? {
        // Foundation's ISO 8601 parser handles offsets and fractions; a formatter per call is fine (deadlines are rare).
        guard text.count >= 20, text.count <= 40 else { return nil }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
            let f = ISO8601DateFormatter()
            f.formatOptions = options
            if let d = f.date(from: text) {
                return Timestamp(milliseconds: Int64((d.timeIntervalSince1970 * 1000).rounded()))
            }
        }
        return nil
    }
}

/// Whether a task may go through a provider's batch interface (`requirements.batch`).
public enum BatchPreference: String, Sendable, Equatable, CaseIterable {
    /// Batched when the deadline allows the batch turnaround (the default; no deadline means interactive).
    case auto
    /// Never batched.
    case never
    /// Batched or not run: only models with a batch interface, and the deadline (if any) must allow its turnaround.
    case only
}
