/// What a configuration reload swapped in (`config.reload`, SIGHUP). The engine reports it, the server renders it
/// and the client reads it back.
public struct ReloadSummary: Sendable, Equatable {
    /// Provider files loaded.
    public var providers: Int
    /// Catalog models.
    public var models: Int
    /// Models whose provider can be used (it has its key, or needs none).
    public var available: Int
    /// Routing rules.
    public var rules: Int

    /// A reload's counts.
    public init(providers: Int, models: Int, available: Int, rules: Int) {
        self.providers = providers
        self.models = models
        self.available = available
        self.rules = rules
    }
}
