/// The PostgreSQL store is the first ``EngineStore``; every requirement is implemented in the `PostgresStore+…`
/// files beside this one.
extension PostgresStore: EngineStore {}
