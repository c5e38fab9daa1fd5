import AtelierCore
import AtelierImaging
import Foundation
import Synchronization

/// Real image bytes for the fakes, drawn by the built-in ``LocalRenderer``: deterministic from (label, prompt,
/// seed, size, format), so the seed-native fakes reproduce byte for byte. Recently drawn images are cached
/// (drawing is the slow part of a fake).
public enum FakeImages {
    /// The two formats the fakes encode (WEBP requests are answered with PNG, which the daemon detects).
    public enum Format: String, Sendable {
        case png, jpeg
        public var mimeType: String { self == .png ? "image/png" : "image/jpeg" }
        public var fileExtension: String { self == .png ? "png" : "jpg" }

        /// From an `outputFormat`-like string (`PNG`, `JPG`, `jpeg`, `webp`, …).
        public init(loose s: String?) {
            switch s?.lowercased() {
            case "jpg"?, "jpeg"?: self = .jpeg
            default: self = .png
            }
        }
    }

    private static let cache = Mutex<(order: [String], images: [String: [UInt8]])>(([], [:]))
    private static let cacheLimit = 48

    /// The image for these inputs. `label` keeps fakes apart (the same seed on two providers draws two pictures).
    public static func image(label: String, prompt: String, seed: UInt64, width: Int, height: Int, format: Format = .png) -> [UInt8] {
        let key = "\(label)|\(seed)|\(width)x\(height)|\(format.rawValue)|\(prompt)"
        if let hit = cache.withLock({ $0.images[key] }) { return hit }
        let drawn = LocalRenderer.render(
            prompt: prompt.isEmpty ? label : prompt, negativePrompt: label, seed: seed, width: max(width, 1), height: max(height, 1))
        let bytes: [UInt8]
        switch format {
        case .png:
            bytes = PNGEncoder.encode(drawn, text: [("Software", "Atelier fake \(label) (simulation)"), ("Seed", String(seed))])
        case .jpeg:
            bytes = (try? JPEGEncoder.encode(drawn, quality: 90)) ?? PNGEncoder.encode(drawn)
        }
        cache.withLock { c in
            if c.images[key] == nil {
                c.images[key] = bytes
                c.order.append(key)
                if c.order.count > cacheLimit { c.images[c.order.removeFirst()] = nil }
            }
        }
        return bytes
    }

    /// A random seed, for providers that ignore the one sent (or when none was sent).
    public static func randomSeed() -> UInt64 { UInt64.random(in: 1...2_147_483_647) }

    /// Standard base64.
    public static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
}

/// What every fake offers tests and the `atelier-fakes` tool.
public protocol FakeProvider: AnyObject, Sendable {
    /// `gemini`, `runware`, `bfl` or `a1111` (the provider id in `providers/*.json`).
    var name: String { get }
    /// The base URL to give the daemon (`ATELIER_<NAME>_BASE_URL`).
    var baseURL: String { get }
    /// Every request the fake's servers received.
    var log: FakeRequestLog { get }
    /// Scenario control.
    var script: FakeScript { get }
    /// Every image the fake answered with, in order.
    var served: [FakeServedImage] { get }
    /// Stops the fake's servers.
    func shutdown() async
}

/// One image a fake returned (so tests can compare bytes, seeds and reported costs with what the daemon stored).
public struct FakeServedImage: Sendable, CustomStringConvertible {
    /// The prompt as received (tokens included).
    public var prompt: String
    /// The model / endpoint / AIR it was made for.
    public var model: String
    /// The seed the fake used (and reported, where the API reports one).
    public var seed: UInt64
    public var width: Int
    public var height: Int
    /// The image bytes.
    public var bytes: [UInt8]
    public var mimeType: String
    /// The cost the fake reported, in USD (Runware `cost`, BFL `cost`/100, Gemini computed from usage by the
    /// test), if any.
    public var reportedCostUSD: Double?
    /// Provider-specific extras (Gemini: usage and thought images; Runware: taskUUID and imageUUID; BFL: id).
    public var extra: [String: String]
    /// Gemini thought images sent before this one (never to be stored).
    public var thoughtImages: [[UInt8]]

    public var description: String { "\(model) seed \(seed) \(width)x\(height) \(bytes.count) bytes" }
}

extension FakeProvider {
    /// The images served for prompts containing `text`.
    public func served(containing text: String) -> [FakeServedImage] { served.filter { $0.prompt.contains(text) } }
}
