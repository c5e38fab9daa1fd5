import AtelierCore

/// Builds the network provider for a catalog entry.
public enum NetworkProviders {
    /// The provider for `config`, or nil for kinds that are not network providers (`local`).
    /// - Parameters:
    ///   - credentials: the key from `config.apiKeyEnv` (used by `verifyModels`; generation uses the request's).
    ///   - clock: time for the polling providers (tests pass a virtual clock).
    public static func make(
        config: ProviderConfig, credentials: Credentials?, transport: any HTTPTransport, clock: PollClock = .live
    ) -> (any Provider)? {
        switch config.kind {
        case .gemini: return GeminiProvider(config: config, credentials: credentials, transport: transport)
        case .runware: return RunwareProvider(config: config, credentials: credentials, transport: transport, clock: clock)
        case .bfl: return BFLProvider(config: config, credentials: credentials, transport: transport, clock: clock)
        case .a1111: return A1111Provider(config: config, credentials: credentials, transport: transport)
        case .local: return nil
        }
    }
}
