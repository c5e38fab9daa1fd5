import Foundation
import Testing

@testable import AtelierCore

@Suite("UUIDv4 and support helpers")
struct UUIDTests {
    @Test(
        "accepts v4 in any case and returns it lowercased",
        arguments: [
            ("3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0c", "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0c"),
            ("3F1C2A9E-7B4D-4C1E-9A2B-5D6E7F8A9B0C", "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0c"),
            ("3f1C2a9E-7b4D-4c1E-Ba2b-5D6e7F8a9B0c", "3f1c2a9e-7b4d-4c1e-ba2b-5d6e7f8a9b0c"),
            ("00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000000"),
            ("ffffffff-ffff-4fff-bfff-ffffffffffff", "ffffffff-ffff-4fff-bfff-ffffffffffff"),
            ("12345678-1234-4234-a234-123456789abc", "12345678-1234-4234-a234-123456789abc"),
            ("12345678-1234-4234-9234-123456789abc", "12345678-1234-4234-9234-123456789abc"),
        ] as [(String, String)])
    func acceptsV4(text: String, canonical: String) {
        #expect(UUIDv4.canonical(text) == canonical)
    }

    @Test(
        "refuses other versions and malformed text",
        arguments: [
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",  // v1
            "a3bb189e-8bf9-3888-9912-ace4e6543002",  // v3
            "886313e1-3b8a-5372-9b90-0c9aee199e5d",  // v5
            "3f1c2a9e-7b4d-7c1e-9a2b-5d6e7f8a9b0c",  // v7
            "3f1c2a9e-7b4d-4c1e-ca2b-5d6e7f8a9b0c",  // v4 nibble, Microsoft variant
            "3f1c2a9e-7b4d-4c1e-7a2b-5d6e7f8a9b0c",  // v4 nibble, NCS variant
            "00000000-0000-0000-0000-000000000000",  // nil UUID
            "3f1c2a9e7b4d4c1e9a2b5d6e7f8a9b0c",  // no dashes
            "{3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0c}",  // braces
            " 3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0c",  // padded
            "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0",  // short
            "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0c0",  // long
            "3f1c2a9e7-b4d-4c1e-9a2b-5d6e7f8a9b0c",  // dash moved
            "3f1c2a9e-7b4d-4c1e-9a2b_5d6e7f8a9b0c",  // wrong separator
            "3f1c2a9g-7b4d-4c1e-9a2b-5d6e7f8a9b0c",  // not hex
            "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f8a9b0ç",  // non-ASCII (still 36 characters)
            "",
        ])
    func refuses(text: String) {
        #expect(UUIDv4.canonical(text) == nil)
    }

    @Test func generatedIDsAreCanonicalAndDistinct() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = UUIDv4.generate()
            #expect(UUIDv4.canonical(id) == id)
            seen.insert(id)
        }
        #expect(seen.count == 1000)
    }

    @Test func derivedIDsAreStableAndV4Shaped() {
        // Golden values computed independently (FNV-1a 64 + SplitMix64 finaliser): the same on every machine and run.
        #expect(UUIDv4.derived(from: "job-1/image-0") == "38df1954-398e-4152-a532-25f1c3390ad2")
        #expect(UUIDv4.derived(from: "") == "30ffa46b-017c-41c3-b948-560469adc52b")
        var seen = Set<String>()
        for i in 0..<1000 {
            let seed = "task-\(i)/result-\(i % 7)"
            let id = UUIDv4.derived(from: seed)
            #expect(UUIDv4.canonical(id) == id, "\(id)")
            #expect(UUIDv4.derived(from: seed) == id)
            seen.insert(id)
        }
        #expect(seen.count == 1000)
    }

    @Test func stableHashIsFNV1aWithSplitMix() {
        #expect(StableHash.fnv1a64("") == 0xC381_7C01_6BA4_FF30)
        #expect(StableHash.fnv1a64("atelier") == 0x6200_4CA4_06D7_A51C)
        #expect(StableHash.fnv1a64("a") != StableHash.fnv1a64("b"))
    }

    @Test func base64Alphabet() {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_\n\r".utf8)
        for b in UInt8.min...UInt8.max {
            #expect(Base64.isAlphabet(b) == allowed.contains(b), "byte \(b)")
        }
    }

    @Test(
        arguments: [
            ("https://hooks.example/a?x=1", true), ("http://localhost:8080/", true), ("HTTPS://EXAMPLE.COM", true),
            ("ftp://hooks.example/a", false), ("file:///tmp/a", false), ("https:///a", false), ("http://", false),
            ("hooks.example/a", false), ("", false), ("mailto:a@example.com", false),
        ] as [(String, Bool)])
    func urlCheck(text: String, valid: Bool) {
        let e = atelierError { () throws(AtelierError) in try URLCheck.validateHTTP(text, field: "/u") }
        #expect((e == nil) == valid, "\(text): \(String(describing: e))")
        if let e {
            #expect(e.code == .invalidURL)
            #expect(e.field == "/u")
        }
    }

    @Test func redactedDropsSecrets() {
        #expect(URLCheck.redacted("https://user:pw@example.com/a/b?token=x#frag") == "https://example.com/a/b")
        #expect(URLCheck.redacted("http://example.com:8080/x") == "http://example.com:8080/x")
    }
}
