// The helpers shared with the integration tests (`eventually`, `eventuallyValue`, ``EngineFixture``), visible in
// every file of this target without an import of their own.
@_exported import AtelierTestSupport
