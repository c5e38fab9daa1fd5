import Foundation

/// Where the daemon and its clients look for things when not told otherwise.
public enum DefaultPaths {
    /// `$ATELIER_SOCKET`, else `$XDG_RUNTIME_DIR/atelier/atelierd.sock`, else `/tmp/atelier-$UID/atelierd.sock`.
    public static func socket(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let s = environment["ATELIER_SOCKET"], !s.isEmpty { return s }
        if let r = environment["XDG_RUNTIME_DIR"], !r.isEmpty { return r + "/atelier/atelierd.sock" }
        return "/tmp/atelier-\(getuid())/atelierd.sock"
    }

    /// `$ATELIER_DATA_DIR`, else `$XDG_STATE_HOME/atelier`, else `~/.local/state/atelier`.
    public static func dataDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let s = environment["ATELIER_DATA_DIR"], !s.isEmpty { return s }
        if let x = environment["XDG_STATE_HOME"], !x.isEmpty { return x + "/atelier" }
        return NSHomeDirectory() + "/.local/state/atelier"
    }

    /// `$ATELIER_PROVIDERS`, else `./providers`.
    public static func providers(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let s = environment["ATELIER_PROVIDERS"], !s.isEmpty { return s }
        return FileManager.default.currentDirectoryPath + "/providers"
    }

    /// `$ATELIER_ROUTING`, else `./routing.json`.
    public static func routing(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let s = environment["ATELIER_ROUTING"], !s.isEmpty { return s }
        return FileManager.default.currentDirectoryPath + "/routing.json"
    }
}
