extension ImageTask {
    /// How many images the task pays for: `numberResults`, times `consistency.samples` for best-of-N (the first
    /// round's candidates; retries toward `minScore` may add up to `maxSamples`, charged when made). The router's
    /// estimate — which `maxCostUSD` and budgets are checked against — and `atelier simulate` price this many
    /// (docs/consistency.md).
    public var pricedImages: Int { numberResults * (consistency?.samples ?? 1) }
}
