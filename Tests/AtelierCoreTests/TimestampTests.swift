import Foundation
import Testing

@testable import AtelierCore

@Suite("Timestamp")
struct TimestampTests {
    @Test(
        "known instants",
        arguments: [
            (0, "1970-01-01T00:00:00.000Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (1_234_567_890_000, "2009-02-13T23:31:30.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (-999, "1969-12-31T23:59:59.001Z"),
            (-1000, "1969-12-31T23:59:59.000Z"),
            (-86_400_000, "1969-12-31T00:00:00.000Z"),
            (-86_400_001, "1969-12-30T23:59:59.999Z"),
            (-2_208_988_800_000, "1900-01-01T00:00:00.000Z"),
            (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
            (68_169_600_000, "1972-02-29T00:00:00.000Z"),  // first leap day after the epoch
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),  // divisible by 400: leap
            (951_868_800_000, "2000-03-01T00:00:00.000Z"),
            (1_709_164_799_999, "2024-02-28T23:59:59.999Z"),
            (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
            (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
            (1_735_689_599_999, "2024-12-31T23:59:59.999Z"),  // day 366
            (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),  // divisible by 100: not leap
            (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ] as [(Int64, String)])
    func knownInstants(ms: Int64, text: String) throws {
        #expect(Timestamp(milliseconds: ms).iso8601 == text)
        #expect(Timestamp(iso8601: text)?.milliseconds == ms)
    }

    @Test func agreesWithFoundationOverRandomInstants() throws {
        var rng = SeededRandom(seed: 1970)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        for _ in 0..<2000 {
            // 0001-01-01 … 9999-12-31
            let ms = Int64.random(in: -62_135_596_800_000...253_402_300_799_999, using: &rng)
            let t = Timestamp(milliseconds: ms)
            let text = t.iso8601
            #expect(text.utf8.count == 24)
            #expect(Timestamp(iso8601: text) == t, "\(ms) → \(text)")
            if (-2_208_988_800_000...4_102_444_800_000).contains(ms) {  // 1900…2100: compare whole seconds with Foundation
                let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
                let date = Date(timeIntervalSince1970: Double(seconds))
                #expect(formatter.string(from: date) == text.prefix(19) + "Z", "\(ms)")
                #expect(Int64(text.dropFirst(20).prefix(3)) == ms - seconds * 1000)
            }
        }
    }

    @Test(
        "parses RFC 3339 UTC variants",
        arguments: [
            ("2023-11-14T22:13:20Z", 1_700_000_000_000),
            ("2023-11-14t22:13:20z", 1_700_000_000_000),
            ("2023-11-14T22:13:20.1Z", 1_700_000_000_100),
            ("2023-11-14T22:13:20.12Z", 1_700_000_000_120),
            ("2023-11-14T22:13:20.123456789Z", 1_700_000_000_123),  // beyond milliseconds: truncated
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59.5Z", -500),
        ] as [(String, Int64)])
    func parsesVariants(text: String, ms: Int64) {
        #expect(Timestamp(iso8601: text)?.milliseconds == ms)
    }

    @Test(
        arguments: [
            "", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20+01:00", "2023-11-14T22:13:20.12aZ",
            "2023-13-01T00:00:00Z", "2023-00-01T00:00:00Z", "2023-11-00T00:00:00Z", "2023-11-32T00:00:00Z", "2023-11-14T24:00:00Z",
            "2023-11-14T22:60:00Z", "2023-11-14T22:13:61Z", "20231114T221320Z", "2023/11/14T22:13:20Z", "2023-11-14T22:13:20XZ",
            "+023-11-14T22:13:20Z", "2023-11-14T22:13:20.123",
        ])
    func refusesMalformedText(text: String) {
        #expect(Timestamp(iso8601: text) == nil)
    }

    @Test func arithmeticAndOrder() {
        let t = Timestamp(milliseconds: 1_000)
        #expect(t.adding(seconds: 1.5).milliseconds == 2_500)
        #expect(t.adding(seconds: -0.0004).milliseconds == 1_000)
        #expect(t.adding(seconds: 0.0006).milliseconds == 1_001)
        #expect(t.seconds == 1)
        #expect(Timestamp(milliseconds: -5) < t)
        #expect([Timestamp(milliseconds: 3), Timestamp(milliseconds: -1), t].sorted().map(\.milliseconds) == [-1, 3, 1_000])
    }

    @Test func nowIsTheWallClock() {
        let before = Date().timeIntervalSince1970 * 1000
        let now = Timestamp.now()
        let after = Date().timeIntervalSince1970 * 1000
        #expect(Double(now.milliseconds) >= before.rounded(.down))
        #expect(Double(now.milliseconds) <= after.rounded(.up))
    }
}
