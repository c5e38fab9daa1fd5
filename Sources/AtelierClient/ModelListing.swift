import AtelierCore

/// One `models.list` entry: a catalog model with its availability, grades, tiers and price kind, typed for tables.
/// ``json`` is the whole entry (sizes, limits and the price's figures included; docs/protocol.md).
public struct ModelListing: Sendable, Equatable {
    /// The catalog id.
    public var id: String
    /// The provider id.
    public var provider: String
    /// `active`, `deprecated` or `retired`.
    public var status: String
    /// Whether the daemon can route to it now.
    public var isAvailable: Bool
    /// Why not, when it cannot.
    public var unavailableReason: String?
    /// Whether the same seed gives the same image.
    public var seedHonored: Bool
    /// Text-rendering grade.
    public var textRendering: Int
    /// Quality grade.
    public var quality: Int
    /// The resolution tiers it serves (`512`, `1K`, `2K`, `4K`).
    public var tiers: [String]
    /// How it is priced (`perImage`, `perMegapixel`, `free`…).
    public var priceKind: String
    /// The whole entry.
    public var json: JSONValue

    /// Reads a `models.list` entry; throws ``AtelierClientError/Code/badResponse`` when it is not one.
    public init(_ v: JSONValue) throws(AtelierClientError) {
        let r = try AnswerReader(v, "model")
        id = try r.string("id")
        provider = try r.string("provider")
        status = try r.string("status")
        isAvailable = try r.bool("available")
        unavailableReason = r.optionalString("unavailableReason")
        seedHonored = try r.bool("seedHonored")
        textRendering = try r.int("textRendering")
        quality = try r.int("quality")
        tiers = try r.array("tiers").compactMap(\.stringValue)
        priceKind = try r.optionalObject("price")?.optionalString("kind") ?? ""
        json = v
    }
}
