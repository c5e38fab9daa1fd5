import AtelierCore

/// Reads enums back from the store. A value this build does not know (written by a newer daemon, or edited by hand)
/// is a `store_failure` naming the table, column and value; it is never coerced into some other state (a job read
/// back as `failed`, a delivery as given up), which would silently change what the daemon does with the row.
enum StoredEnum {
    /// `E(rawValue: raw)`, or a `store_failure` with `details` `{"table", "column", "value"}` (`value` null when the
    /// column is NULL).
    static func decode<E: RawRepresentable>(
        _ type: E.Type, _ raw: String?, table: String, column: String
    ) throws(AtelierError) -> E where E.RawValue == String {
        if let raw, let value = E(rawValue: raw) { return value }
        let shown = raw.map { "'\($0)'" } ?? "NULL"
        throw AtelierError(
            .storeFailure, "the store holds \(shown) in \(table).\(column), which this daemon does not know",
            details: ["table": .string(table), "column": .string(column), "value": raw.map(JSONValue.string) ?? .null])
    }
}
