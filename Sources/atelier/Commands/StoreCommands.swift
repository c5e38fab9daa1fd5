import ArgumentParser
import AtelierCore
import AtelierEngine
import Foundation

extension Atelier {
    /// Store subcommands: `atelier store migrate`.
    static let storeCommands: [any ParsableCommand.Type] = [StoreGroup.self]
}

struct StoreGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Work on a daemon's store directly (the daemons must be stopped).", subcommands: [StoreMigrate.self])
}

/// `atelier store migrate --from sqlite:PATH --to postgres://…`: copies jobs, workflows and the delivery outbox of a
/// stopped lone daemon into a cluster's PostgreSQL database (see ``StoreMigration``).
struct StoreMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a SQLite store (jobs, workflows, outbox) into a PostgreSQL store.",
        discussion: """
            Stop the daemon that uses the SQLite store first. Everything is copied in one transaction; rows already in the \
            target under the same ids are kept, so running it again copies nothing new. A target holding different data \
            under the same ids is refused before anything is written. The password is never printed.
            """)

    @Option(help: "The SQLite store: sqlite:PATH (the daemon's <data-dir>/atelier.sqlite).")
    var from: String
    @Option(help: "The PostgreSQL store: postgres://user:password@host:port/database[?sslmode=…] (or env ATELIER_STORE).")
    var to: String?
    @Flag(help: "Print JSON for scripts instead of human output.")
    var json = false

    func run() async throws {
        let source: String
        let target: PostgresLocation
        do {
            guard case .sqlite(let path?) = try StoreLocation(parsing: from) else {
                throw StoreLocationError("--from must name a SQLite file: sqlite:PATH", url: nil)
            }
            source = path
            guard case .postgres(let location) = try StoreLocation.resolve(flag: to, environment: ProcessInfo.processInfo.environment) else {
                throw StoreLocationError("--to must be a postgres:// URL (or set ATELIER_STORE to one)", url: nil)
            }
            target = location
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(64)
        }
        let report: StoreMigration.Report
        do { report = try await StoreMigration(sqlitePath: source, target: target).run() } catch {
            // Only the redacted target is ever printed, with the server's own message (it never repeats a password).
            let message = StoreFault.postgresDescription(error, location: target)
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            let object: JSONValue = [
                "to": .string(target.description), "jobsCopied": .int(Int64(report.jobsCopied)), "jobsPresent": .int(Int64(report.jobsPresent)),
                "workflowsCopied": .int(Int64(report.workflowsCopied)), "workflowsPresent": .int(Int64(report.workflowsPresent)),
                "deliveriesCopied": .int(Int64(report.deliveriesCopied)), "deliveriesPresent": .int(Int64(report.deliveriesPresent)),
                "budgetCounters": .int(Int64(report.budgetCounters)),
            ]
            print(JSONWriter.string(object))
        } else {
            print("migrated sqlite:\(source) → \(target)")
            print(report.description)
        }
    }
}
