import Foundation

/// A point in time with millisecond precision, rendered as ISO 8601 UTC (`2026-11-21T19:11:22.123Z`).
///
/// Formatting is hand-written (civil-from-days), because it sits on the `job.get` hot path and must not depend
/// on locale or time-zone databases.
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    /// The current wall-clock time.
    public static func now() -> Timestamp {
        Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
    }

    /// Seconds since the epoch.
    public var seconds: Double { Double(milliseconds) / 1000 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.milliseconds < b.milliseconds }

    /// This time plus `seconds`.
    public func adding(seconds: Double) -> Timestamp { Timestamp(milliseconds: milliseconds + Int64((seconds * 1000).rounded())) }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public var iso8601: String {
        var ms = milliseconds
        var days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        ms -= days * 86_400_000
        let h = ms / 3_600_000
        let m = (ms / 60_000) % 60
        let s = (ms / 1000) % 60
        let milli = ms % 1000
        // Howard Hinnant's civil_from_days.
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let mo = mp < 10 ? mp + 3 : mp - 9
        if mo <= 2 { y += 1 }
        var out = [UInt8]()
        out.reserveCapacity(24)
        func put(_ v: Int64, _ width: Int) {
            var digits = [UInt8](repeating: 0x30, count: width)
            var x = v
            for i in stride(from: width - 1, through: 0, by: -1) {
                digits[i] = 0x30 + UInt8(x % 10)
                x /= 10
            }
            out.append(contentsOf: digits)
        }
        put(y, 4)
        out.append(0x2D)
        put(mo, 2)
        out.append(0x2D)
        put(d, 2)
        out.append(0x54)
        put(h, 2)
        out.append(0x3A)
        put(m, 2)
        out.append(0x3A)
        put(s, 2)
        out.append(0x2E)
        put(milli, 3)
        out.append(0x5A)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses the form written by ``iso8601`` (and any RFC 3339 UTC time with optional fraction).
    public init?(iso8601 text: String) {
        let u = Array(text.utf8)
        guard u.count >= 20, u[4] == 0x2D, u[7] == 0x2D, u[10] == 0x54 || u[10] == 0x74, u[13] == 0x3A, u[16] == 0x3A,
            u.last == 0x5A || u.last == 0x7A
        else {
            return nil
        }
        func num(_ a: Int, _ b: Int) -> Int64? {
            var v: Int64 = 0
            for i in a..<b {
                guard u[i] >= 0x30, u[i] <= 0x39 else { return nil }
                v = v * 10 + Int64(u[i] - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 7), let d = num(8, 10), let h = num(11, 13), let mi = num(14, 16), let s = num(17, 19),
            (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var milli: Int64 = 0
        if u[19] == 0x2E {
            var scale: Int64 = 100
            var i = 20
            while i < u.count - 1 {
                guard u[i] >= 0x30, u[i] <= 0x39 else { return nil }
                milli += Int64(u[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
        } else if u.count != 20 {
            return nil
        }
        // days_from_civil
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        self.milliseconds = days * 86_400_000 + h * 3_600_000 + mi * 60_000 + s * 1000 + milli
    }
}
