import Testing

@testable import AtelierCore

private func candidates(_ scores: [Double]) -> [BestOfN.Candidate] {
    scores.enumerated().map { BestOfN.Candidate(imageUUID: "img-\($0.offset)", score: $0.element, costUSD: 0.04) }
}

@Suite("Best-of-N selection")
struct BestOfNTests {
    @Test func samplesTheFirstRoundUntilSamplesAreIn() {
        let request = ConsistencyRequest(samples: 3)
        #expect(BestOfN.decide(candidates: [], request: request) == .sampleMore(count: 3))
        #expect(BestOfN.decide(candidates: candidates([0.5]), request: request) == .sampleMore(count: 2))
    }

    @Test func withoutMinScoreKeepsTheBest() {
        let c = candidates([0.61, 0.83, 0.72])
        #expect(BestOfN.decide(candidates: c, request: ConsistencyRequest(samples: 3)) == .done(best: c[1], missedMinScore: false))
    }

    @Test func equalScoresKeepTheEarliest() {
        let c = candidates([0.7, 0.9, 0.9])
        #expect(BestOfN.best(of: c) == c[1])
        #expect(BestOfN.best(of: []) == nil)
    }

    @Test func reachingMinScoreIsDone() {
        let c = candidates([0.5, 0.9])
        let request = ConsistencyRequest(samples: 2, minScore: 0.9, maxSamples: 6)
        #expect(BestOfN.decide(candidates: c, request: request) == .done(best: c[1], missedMinScore: false))
    }

    @Test func belowMinScoreSamplesAnotherRoundUpToTheLimit() {
        let request = ConsistencyRequest(samples: 3, minScore: 0.9, maxSamples: 7)
        #expect(BestOfN.decide(candidates: candidates([0.5, 0.6, 0.7]), request: request) == .sampleMore(count: 3))
        #expect(BestOfN.decide(candidates: candidates([0.5, 0.6, 0.7, 0.5, 0.6, 0.7]), request: request) == .sampleMore(count: 1))
    }

    @Test func aMissFailsWithEveryScore() {
        let scores = [0.5, 0.6, 0.7, 0.65]
        let request = ConsistencyRequest(samples: 2, minScore: 0.9, maxSamples: 4, onMiss: .fail)
        #expect(BestOfN.decide(candidates: candidates(scores), request: request) == .fail(scores: scores))
        // Without maxSamples the limit is samples: no second round.
        let noRetry = ConsistencyRequest(samples: 2, minScore: 0.9)
        #expect(BestOfN.decide(candidates: candidates([0.1, 0.2]), request: noRetry) == .fail(scores: [0.1, 0.2]))
        let e = BestOfN.notReachedError(scores: scores, minScore: 0.9)
        #expect(e.code == .consistencyNotReached)
        #expect(e.details["scores"] == .array(scores.map(JSONValue.number)))
    }

    @Test func aMissWithOnMissBestKeepsTheBest() {
        let c = candidates([0.5, 0.8, 0.7, 0.6])
        let request = ConsistencyRequest(samples: 2, minScore: 0.9, maxSamples: 4, onMiss: .best)
        #expect(BestOfN.decide(candidates: c, request: request) == .done(best: c[1], missedMinScore: true))
    }
}
