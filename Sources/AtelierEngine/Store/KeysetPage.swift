import GRDB

/// Newest-first keyset pagination over a table whose primary key is an increasing INTEGER `seq`.
///
/// The cursor is the `seq` of the last row of a page; the next page is every row strictly before it. Unlike
/// OFFSET paging, a page stays correct while rows are being inserted.
enum KeysetPage {
    /// A condition with `?` placeholders and its arguments.
    typealias Filter = (sql: String, arguments: [any DatabaseValueConvertible])

    /// Rows of `table` matching every filter, newest first, at most `limit`, strictly before `cursor`; `next` is the
    /// cursor of the following page, or nil when this is the last one.
    static func fetch(_ db: Database, table: String, filters: [Filter], limit: Int, before cursor: Int64?) throws -> (rows: [Row], next: Int64?) {
        var conds = filters.map(\.sql)
        var args = filters.flatMap(\.arguments)
        if let cursor {
            conds.append("seq < ?")
            args.append(cursor)
        }
        var sql = "SELECT * FROM \(table)"
        if !conds.isEmpty { sql += " WHERE " + conds.joined(separator: " AND ") }
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit + 1)
        let rows = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args))
        let page = Array(rows.prefix(limit))
        return (page, rows.count > limit ? page.last.map { $0["seq"] } : nil)
    }
}
