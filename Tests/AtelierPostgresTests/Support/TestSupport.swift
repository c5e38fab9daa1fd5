// The helpers shared with the engine tests (`eventually`, `eventuallyValue`), visible in every file of this target (the PostgreSQL store tests)
// without an import of their own.
@_exported import AtelierTestSupport
