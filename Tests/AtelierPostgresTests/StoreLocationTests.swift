import Testing

@testable import AtelierEngine

/// `--store` / `ATELIER_STORE` parsing: SQLite forms, PostgreSQL URLs, errors that name the problem, and a password
/// that never shows in any text the values render.
@Suite struct StoreLocationTests {
    static let secret = "s3cr3t-Pa55"

    @Test func sqliteIsTheDefaultAndTakesAPath() throws {
        #expect(try StoreLocation.resolve(flag: nil, environment: [:]) == .sqlite(path: nil))
        #expect(try StoreLocation.resolve(flag: nil, environment: ["ATELIER_STORE": ""]) == .sqlite(path: nil))
        #expect(try StoreLocation(parsing: "sqlite:") == .sqlite(path: nil))
        #expect(try StoreLocation(parsing: "SQLITE:") == .sqlite(path: nil))
        #expect(try StoreLocation(parsing: "sqlite:/var/lib/atelier/jobs.sqlite") == .sqlite(path: "/var/lib/atelier/jobs.sqlite"))
        #expect(try StoreLocation(parsing: "sqlite:///var/lib/a.sqlite") == .sqlite(path: "/var/lib/a.sqlite"))
        #expect(try StoreLocation(parsing: "sqlite://localhost/var/lib/a.sqlite") == .sqlite(path: "/var/lib/a.sqlite"))
        #expect(try StoreLocation(parsing: "sqlite:relative.sqlite") == .sqlite(path: "relative.sqlite"))
        #expect(try StoreLocation(parsing: "sqlite:").kind == "sqlite")
        #expect(throws: StoreLocationError.self) { try StoreLocation(parsing: "sqlite:/a.db?mode=ro") }
    }

    @Test func theFlagWinsOverTheEnvironment() throws {
        let env = ["ATELIER_STORE": "postgres://u@h/db"]
        #expect(try StoreLocation.resolve(flag: "sqlite:", environment: env) == .sqlite(path: nil))
        guard case .postgres(let p) = try StoreLocation.resolve(flag: nil, environment: env) else {
            Issue.record("ATELIER_STORE was not used")
            return
        }
        #expect(p.host == "h" && p.user == "u" && p.database == "db" && p.password == nil)
    }

    @Test func postgresURLsParseIntoTheirParts() throws {
        guard case .postgres(let p) = try StoreLocation(parsing: "postgres://atelier:\(Self.secret)@db.internal:6543/jobs?sslmode=verify-full") else {
            Issue.record("not parsed as PostgreSQL")
            return
        }
        #expect(
            p == PostgresLocation(host: "db.internal", port: 6543, user: "atelier", password: Self.secret, database: "jobs", sslMode: .verifyFull))

        let defaults = try PostgresLocation(parsing: "postgresql://atelier@db/jobs")
        #expect(defaults.port == 5432 && defaults.sslMode == .prefer && defaults.password == nil)

        let encoded = try PostgresLocation(parsing: "postgres://at%40elier:p%40ss%2Fw%3Ard@[::1]:5433/jobs?sslmode=disable")
        #expect(encoded.user == "at@elier" && encoded.password == "p@ss/w:rd" && encoded.host == "::1" && encoded.port == 5433)
        #expect(encoded.description == "postgres://at@elier:***@[::1]:5433/jobs?sslmode=disable")

        for mode in PostgresLocation.SSLMode.allCases {
            #expect(try PostgresLocation(parsing: "postgres://u:p@h/d?sslmode=\(mode.rawValue)").sslMode == mode)
        }
    }

    @Test func everyRenderingHidesThePassword() throws {
        let location = try StoreLocation(parsing: "postgres://atelier:\(Self.secret)@127.0.0.1:5432/jobs?sslmode=require")
        guard case .postgres(let p) = location else { return }
        let texts = [
            location.description, "\(location)", String(reflecting: location), p.description, "\(p)", String(reflecting: p),
            String(describing: [location]), dumped(location), dumped(p),
        ]
        for text in texts {
            #expect(!text.contains(Self.secret), "password shown in: \(text)")
        }
        #expect(location.description == "postgres://atelier:***@127.0.0.1:5432/jobs?sslmode=require")
        #expect(location.kind == "postgres")
    }

    @Test(arguments: [
        ("mysql://u:PW@h/d", "unknown store kind \"mysql\""),
        ("/var/lib/atelier.sqlite", "must start with sqlite: or postgres://"),
        ("postgres://u:PW@/d", "names no host"),
        ("postgres://:PW@h/d", "names no user"),
        ("postgres://u:PW@h", "names no database"),
        ("postgres://u:PW@h/", "names no database"),
        ("postgres://u:PW@h/a/b", "may not contain '/'"),
        ("postgres://u:PW@h:0/d", "port must be between 1 and 65535"),
        ("postgres://u:PW@h:70000/d", "port must be between 1 and 65535"),
        ("postgres://u:PW@h:port/d", "not a valid postgres:// URL"),
        ("postgres://u:PW@h/d?sslmode=allow", "sslmode must be one of disable, prefer, require, verify-full"),
        ("postgres://u:PW@h/d?sslmode=disable&sslmode=require", "given twice"),
        ("postgres://u:PW@h/d?application_name=x", "unknown URL parameter \"application_name\""),
        ("postgres://u:PW@h/d#frag", "#fragment"),
        ("postgres://u:PW/with@slash@h/d", ""),
    ])
    func badURLsNameTheProblemWithoutThePassword(url: String, problem: String) {
        do {
            let parsed = try StoreLocation(parsing: url)
            // An unencoded '/' in the password makes the rest a path; whatever it became, it must not leak.
            #expect(problem.isEmpty, "parsed: \(parsed)")
            #expect(!parsed.description.contains("PW"))
        } catch {
            #expect(problem.isEmpty || error.description.contains(problem), "\(error.description)")
            #expect(!error.description.contains("PW"), "password shown in: \(error.description)")
            #expect(error.description.hasPrefix("invalid store URL"))
        }
    }

    private func dumped<T>(_ value: T) -> String {
        var out = ""
        dump(value, to: &out)
        return out
    }
}
