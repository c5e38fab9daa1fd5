import Testing

@testable import AtelierCore

@Suite("Result verification: each field, and the policy that decides what a mismatch does")
struct ResultVerifierTests {
    static let asked = ResultVerifier.Requested(
        width: 1024, height: 768, outputFormat: .png, numberResults: 2, seed: 42, upstreamModel: "gemini-2.5-flash-image")

    static func delivered(
        width: Int = 1024, height: Int = 768, mimeType: String = "image/png", model: String? = "gemini-2.5-flash-image", seed: Int64? = 42,
        count: Int = 2
    ) -> ResultVerifier.Delivered {
        ResultVerifier.Delivered(width: width, height: height, mimeType: mimeType, model: model, seed: seed, count: count)
    }

    @Test func whatWasAskedForIsOK() {
        let v = ResultVerifier.verify(Self.asked, Self.delivered())
        #expect(v.ok)
        #expect(v.mismatches.isEmpty)
        #expect(JSONWriter.string(v.json) == #"{"ok":true,"mismatches":[]}"#)
    }

    @Test func aSmallerImageIsAWidthAndHeightMismatch() {
        let v = ResultVerifier.verify(Self.asked, Self.delivered(width: 512, height: 384))
        #expect(!v.ok)
        #expect(
            v.mismatches == [
                ResultMismatch(field: "width", requested: .int(1024), delivered: .int(512)),
                ResultMismatch(field: "height", requested: .int(768), delivered: .int(384)),
            ])
        #expect(ResultVerifier.verify(Self.asked, Self.delivered(height: 767)).fields == ["height"])
    }

    @Test func anotherFormatIsAMimeTypeMismatch() {
        let v = ResultVerifier.verify(Self.asked, Self.delivered(mimeType: "image/jpeg"))
        #expect(v.mismatches == [ResultMismatch(field: "mimeType", requested: .string("image/png"), delivered: .string("image/jpeg"))])
        var jpeg = Self.asked
        jpeg.outputFormat = .jpg
        #expect(ResultVerifier.verify(jpeg, Self.delivered(mimeType: "image/jpeg")).ok)
    }

    @Test func anotherServingModelIsAModelMismatchButAnAbsentEchoIsNot() {
        let v = ResultVerifier.verify(Self.asked, Self.delivered(model: "gemini-2.0-flash-image"))
        #expect(
            v.mismatches == [
                ResultMismatch(field: "model", requested: .string("gemini-2.5-flash-image"), delivered: .string("gemini-2.0-flash-image"))
            ])
        #expect(ResultVerifier.verify(Self.asked, Self.delivered(model: nil)).ok)
        #expect(ResultVerifier.verify(Self.asked, Self.delivered(model: "models/gemini-2.5-flash-image")).ok)
    }

    @Test func anEchoedSeedMustBeTheSeedSentOrItsPerImageOffset() {
        #expect(ResultVerifier.verify(Self.asked, Self.delivered(seed: 43), index: 1).ok)
        #expect(ResultVerifier.verify(Self.asked, Self.delivered(seed: 43), index: 0).ok, "images may come back in any order")
        #expect(ResultVerifier.verify(Self.asked, Self.delivered(seed: 44), index: 1).fields == ["seed"], "beyond numberResults")
        #expect(ResultVerifier.verify(Self.asked, Self.delivered(seed: 41)).fields == ["seed"])
        #expect(ResultVerifier.verify(Self.asked, Self.delivered(seed: nil)).ok)
        let v = ResultVerifier.verify(Self.asked, Self.delivered(seed: 7), index: 1)
        #expect(v.mismatches == [ResultMismatch(field: "seed", requested: .int(42), delivered: .int(7))])
        var unseeded = Self.asked
        unseeded.seed = nil
        #expect(ResultVerifier.verify(unseeded, Self.delivered(seed: 7)).ok)
        // 64-bit seeds compare exactly.
        var big = Self.asked
        big.seed = Int64.max - 1
        #expect(ResultVerifier.verify(big, Self.delivered(seed: Int64.max - 1)).ok)
        #expect(ResultVerifier.verify(big, Self.delivered(seed: Int64(Int32.max))).fields == ["seed"])
    }

    @Test func fewerImagesIsACountMismatch() {
        let v = ResultVerifier.verify(Self.asked, Self.delivered(count: 1))
        #expect(v.mismatches == [ResultMismatch(field: "count", requested: .int(2), delivered: .int(1))])
    }

    @Test func everyDifferenceIsReportedInFieldOrderAndTheWireFormReadsBack() throws {
        let v = ResultVerifier.verify(
            Self.asked, Self.delivered(width: 512, height: 512, mimeType: "image/webp", model: "other", seed: 9, count: 1))
        #expect(v.fields == ["width", "height", "mimeType", "model", "seed", "count"])
        #expect(try ResultVerification(json: v.json) == v)
        let text = JSONWriter.string(v.json)
        #expect(text.hasPrefix(#"{"ok":false,"mismatches":[{"field":"width","requested":1024,"delivered":512}"#))
    }

    @Test func aResultCarriesItsVerificationOnTheWireOnlyWhenVerified() throws {
        var r = JobResult(
            imageUUID: "i", path: "/p.png", mimeType: "image/png", width: 1, height: 1, bytes: 1, sha256: "00", seed: nil, seedHonored: false,
            costUSD: nil)
        #expect(r.json["verification"] == nil)
        r.verification = ResultVerifier.verify(Self.asked, Self.delivered(count: 1))
        #expect(try JobResult(json: r.json) == r)
        #expect(r.json["verification"]?["ok"] == .bool(false))
    }

    // MARK: - Policy

    @Test func theMismatchPolicyDefaultsToFlagAndReadsEachValue() throws {
        #expect(try RoutingFixtures.policy("{}").onMismatch == .flag)
        for p in MismatchPolicy.allCases {
            #expect(try RoutingFixtures.policy(#"{"verification": {"onMismatch": "\#(p.rawValue)"}}"#).onMismatch == p)
        }
    }

    @Test func anUnknownMismatchPolicyIsAConfigurationErrorNamingTheField() throws {
        let issues = RoutingFixtures.issues(#"{"verification": {"onMismatch": "retyr"}}"#)
        let issue = try #require(issues.first)
        #expect(issues.count == 1)
        #expect(issue.pointer == "/verification/onMismatch")
        #expect(issue.message.contains("flag, fail, retry"))
        #expect(issue.hint?.contains("did you mean 'retry'") == true)
        let typo = RoutingFixtures.issues(#"{"verification": {"onMismatchh": "fail"}}"#)
        #expect(typo.map(\.pointer) == ["/verification/onMismatchh"])
    }
}
