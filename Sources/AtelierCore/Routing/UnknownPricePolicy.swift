/// How budgets and `requirements.maxCostUSD` treat a model whose price is unknown (`price.kind: "unknown"` in
/// `providers/*.json`); set by the routing policy's `costs.unknownPrice` (docs/routing.md).
public enum UnknownPricePolicy: String, Sendable, Equatable, CaseIterable {
    /// The model counts at its catalog ceiling: routed, capped and charged to budgets at it until the provider
    /// reports the real cost (the default).
    case ceiling
    /// A task under a budget or with `maxCostUSD` is never routed to such a model (`price_unknown`).
    case refuse
}
