import AtelierCore

extension ReloadSummary {
    /// Reads a `config.reload` answer (`{reloaded, providers, models, available, rules}`).
    init(reading v: JSONValue) throws(AtelierClientError) {
        let r = try AnswerReader(v, "reload summary")
        self.init(providers: try r.int("providers"), models: try r.int("models"), available: try r.int("available"), rules: try r.int("rules"))
    }
}
