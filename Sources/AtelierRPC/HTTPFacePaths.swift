import Foundation

/// Where a daemon started with `--http` leaves what `atelier console` needs, next to its socket: the bearer token
/// (mode 0600) and the face's URL once it listens. One rule for the daemon that writes them and the client that
/// reads them.
public enum HTTPFacePaths {
    /// The token file for a daemon on `socketPath`: the socket's name with `.token` (`atelierd.token`).
    public static func token(socketPath: String) -> String {
        (socketPath as NSString).deletingPathExtension + ".token"
    }

    /// The URL file for a daemon on `socketPath`: the socket's name with `.http` (`atelierd.http`).
    public static func url(socketPath: String) -> String {
        (socketPath as NSString).deletingPathExtension + ".http"
    }

    /// The console's address with the token in the fragment (`http://127.0.0.1:8080/console/#token=…`): the browser
    /// never sends a fragment, and the page moves the token into a request header at once.
    public static func consoleURL(base: String, token: String) -> String {
        (base.hasSuffix("/") ? base : base + "/") + "console/#token=" + token
    }
}
