/// Where a cost figure comes from (`costSource` on results, attempts and jobs).
///
/// An `unknown` cost has no number: its `costUSD` is `null`, never 0. Budgets count it at the model's catalog
/// ceiling, or refuse such models, as the routing policy's `costs.unknownPrice` says.
public enum CostSource: String, Sendable, Hashable, CaseIterable {
    /// The provider said what the call cost (Runware `cost`, BFL `cost` credits).
    case provider
    /// Computed from the call's usage metadata (tokens) × the catalog's dated per-token prices.
    case computed
    /// The catalog's dated price for the size asked; the call said nothing about cost.
    case estimated
    /// No price is known for the model and the call said nothing: no number.
    case unknown

    /// How uncertain the figure is: a total is as uncertain as its most uncertain part.
    var uncertainty: Int {
        switch self {
        case .provider: return 0
        case .computed: return 1
        case .estimated: return 2
        case .unknown: return 3
        }
    }

    /// The source of a total made of parts with these sources: the most uncertain one (nil for no parts).
    public static func combined<S: Sequence>(_ sources: S) -> CostSource? where S.Element == CostSource {
        var out: CostSource?
        for s in sources where out == nil || s.uncertainty > out!.uncertainty { out = s }
        return out
    }

    /// Reads a stored or wire value (nil for a missing or unknown string, e.g. rows written before costs had sources).
    public init?(parsing text: String?) {
        guard let text, let s = CostSource(rawValue: text) else { return nil }
        self = s
    }
}

/// One cost figure with its source: `usd` is nil exactly when `source` is ``CostSource/unknown``.
public struct CostFigure: Sendable, Equatable {
    /// USD, or nil when unknown.
    public var usd: Double?
    /// Where the figure comes from.
    public var source: CostSource

    /// A figure; `usd` is dropped when `source` is unknown and the source becomes unknown when `usd` is nil.
    public init(usd: Double?, source: CostSource) {
        if source == .unknown || usd == nil {
            self.usd = nil
            self.source = .unknown
        } else {
            self.usd = usd
            self.source = source
        }
    }

    /// The sum of `parts`: unknown when any part is unknown, else the total with the most uncertain source (nil for
    /// no parts).
    public static func total(_ parts: [CostFigure]) -> CostFigure? {
        guard let source = CostSource.combined(parts.map(\.source)) else { return nil }
        if source == .unknown { return CostFigure(usd: nil, source: .unknown) }
        return CostFigure(usd: parts.compactMap(\.usd).reduce(0, +), source: source)
    }
}
