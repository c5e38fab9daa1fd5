import Foundation

/// Syntax checks for caller-supplied URLs. Address checks (SSRF guard) happen at delivery time, after DNS.
public enum URLCheck {
    /// Fails with `invalid_url` unless `text` is an absolute http(s) URL with a host.
    public static func validateHTTP(_ text: String, field: String) throws(AtelierError) {
        guard text.utf8.count <= ImageTask.Limits.urlLength else {
            throw AtelierError(.invalidURL, "URL longer than \(ImageTask.Limits.urlLength) bytes", field: field)
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw AtelierError(.invalidURL, "not a valid URL", field: field)
        }
        guard scheme == "http" || scheme == "https" else {
            throw AtelierError(
                .invalidURL, "only http and https URLs are accepted, not \(scheme)", field: field,
                details: ["allowed": ["http", "https"]])
        }
        guard let host = url.host, !host.isEmpty else {
            throw AtelierError(.invalidURL, "URL has no host", field: field)
        }
    }

    /// `text` without its query string, fragment or credentials: safe to log and to show.
    public static func redacted(_ text: String) -> String {
        guard var c = URLComponents(string: text) else { return "<invalid url>" }
        c.query = nil
        c.fragment = nil
        c.user = nil
        c.password = nil
        return c.string ?? "<invalid url>"
    }
}
