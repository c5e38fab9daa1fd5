import AtelierCore
import Testing

/// `UUIDv4.generate()` (from the system generator, formatted by hand): canonical lowercase UUID v4 text, distinct.
@Suite("UUIDv4.generate")
struct UUIDv4GenerateTests {
    @Test func idsAreCanonicalVersion4AndDistinct() {
        var seen = Set<String>()
        var versions = Set<Character>()
        var variants = Set<Character>()
        for _ in 0..<2000 {
            let id = UUIDv4.generate()
            #expect(id.utf8.count == 36)
            #expect(UUIDv4.canonical(id) == id, "\(id)")
            seen.insert(id)
            versions.insert(Array(id)[14])
            variants.insert(Array(id)[19])
        }
        #expect(seen.count == 2000)
        #expect(versions == ["4"])
        // Two random bits under the variant: all four of 8, 9, a, b appear in 2000 draws.
        #expect(variants == ["8", "9", "a", "b"])
    }
}
