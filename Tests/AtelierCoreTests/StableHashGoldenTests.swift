import Testing

@testable import AtelierCore

/// Pinned outputs of the stable hashes. Sticky split arms and derived ids are contracts: a user stays in the same
/// arm across restarts and releases, so these values may never change.
@Suite("StableHash: golden values")
struct StableHashGoldenTests {
    typealias F = RoutingFixtures

    @Test func fnv1a64IsPinned() {
        #expect(StableHash.fnv1a64("") == 0xC381_7C01_6BA4_FF30)
        #expect(StableHash.fnv1a64("atelier") == 0x6200_4CA4_06D7_A51C)
        #expect(StableHash.fnv1a64("ab-gemini-vs-flux:alice") == 0x8A51_3F1A_DB3B_931A)
        #expect(UUIDv4.derived(from: "seed") == "ed79840b-f16f-4c04-b040-fa7689fef3d1")
    }

    @Test func splitArmsArePinned() throws {
        let r = try F.router(RoutingSplitTests.policy)
        let arms = (0..<48).map { u in r.decide(F.task(tags: ["user": "user-\(u)"])).arm == "flux" ? "f" : "g" }.joined()
        #expect(arms == "fffffgffffgffgfggfffgfgfgfffffggfffggfgfgffggfff")
        // An absent key hashes the taskUUID.
        let byUUID = ["8a0f2c1e-3b4d-4e5f-8a6b-7c8d9e0f1a2b", "0b6e0c6a-52d1-4f0e-9b0a-3c2d1e0f9a8b", "f47ac10b-58cc-4372-a567-0e02b2c3d479"]
            .map { r.decide(F.task(uuid: $0)).arm ?? "-" }
        #expect(byUUID == ["flux", "gemini", "gemini"])
    }

    @Test func splitSaltStateIsTheUnmixedPrefixState() throws {
        let p = try F.policy(
            #"{"rules": [{"name": "s", "split": {"key": "tags.user", "salt": "exp-7", "arms": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]}}]}"#
        )
        let split = try #require(p.compiled.rules[0].split)
        #expect(split.saltState == 0xB09C_0596_1016_DB66)
    }
}
