import ArgumentParser
import AtelierCore

/// `--limit` and `--cursor`, taken by every list command.
struct PageOptions: ParsableArguments {
    @Option(help: "How many.") var limit: Int = 20
    @Option(help: "Continue after this cursor (from a previous page).") var cursor: String?
}

/// How a list command shows its items: the JSON member and the rendered item for `--json`, else a table and the
/// command that shows the next page.
struct ListTable<Item>: Sendable {
    /// The answer's member that holds the items (`jobs`, `deliveries`, `workflows`).
    let key: String
    /// The command a next page is listed with (`atelier list`…), before `--cursor`.
    let command: String
    /// The column titles.
    let header: [String]
    /// One item's cells, in ``header``'s order.
    let row: @Sendable (Item) -> [String]
    /// One item as the daemon rendered it.
    let json: @Sendable (Item) -> JSONValue

    /// Prints one page: `{<key>: […], nextCursor}` with `json`, else the table and how to go on.
    func print(_ items: [Item], nextCursor: String?, json asJSON: Bool) {
        if asJSON {
            Output.printJSON([key: .array(items.map(json)), "nextCursor": nextCursor.map(JSONValue.string) ?? .null])
            return
        }
        Swift.print(Output.table(header, items.map(row)))
        if let nextCursor { Swift.print("more: \(command) --cursor \(nextCursor)") }
    }
}
