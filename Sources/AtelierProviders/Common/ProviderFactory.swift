import AtelierCore

/// Builds the network provider for a catalog entry.
public enum NetworkProviders {
    /// The provider for `config`, or nil for kinds that are not network providers (`local`).
    /// - Parameters:
    ///   - config: the catalog entry, the operator's base-URL override already applied.
    ///   - credentials: the key from `config.apiKeyEnv`.
    ///   - clock: time for the polling providers (tests pass a manual clock).
    public static func make(
        config: ProviderConfig, credentials: Credentials?, transport: any HTTPTransport, clock: AtelierClock = .live
    ) -> (any Provider)? {
        func configuration(_ defaults: ProviderClientConfiguration) -> ProviderClientConfiguration {
            ProviderClientConfiguration(config: config, credentials: credentials, clock: clock, defaults: defaults)
        }
        switch config.kind {
        case .gemini:
            // Tasks whose deadline allows it go through the Batch API when the provider file has a `batch` member.
            return GeminiProvider(
                client: NetworkClient(configuration: configuration(GeminiProvider.defaults), transport: transport), batch: config.batch,
                interactiveConcurrency: config.concurrency)
        case .runware: return RunwareProvider(configuration: configuration(RunwareProvider.defaults), transport: transport)
        case .bfl: return BFLProvider(configuration: configuration(BFLProvider.defaults), transport: transport)
        case .openai: return OpenAIProvider(configuration: configuration(OpenAIProvider.defaults), transport: transport)
        case .a1111:
            // The call blocks until the whole batch is rendered: its deadline is the longer of the two timeouts.
            let c = configuration(A1111Provider.defaults).with {
                $0.requestTimeoutSeconds = max(config.requestTimeoutSeconds, config.totalTimeoutSeconds)
            }
            return A1111Provider(configuration: c, transport: transport)
        case .local: return nil
        }
    }
}
