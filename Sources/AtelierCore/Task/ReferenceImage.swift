import Foundation

/// A reference image as the caller gave it.
public enum ReferenceImage: Sendable, Equatable, CustomStringConvertible {
    /// An absolute path on this machine (also from `file://` URLs).
    case file(path: String)
    /// A `data:` URI.
    case dataURI(mimeType: String, base64: String)
    /// Bare base64 bytes.
    case base64(String)
    /// An http(s) URL to fetch.
    case url(String)

    /// Classifies one `referenceImages` entry. Relative paths are refused: the daemon's working directory is not
    /// the caller's (the CLI makes paths absolute before sending).
    public static func parse(_ text: String, field: String) throws(AtelierError) -> ReferenceImage {
        if text.hasPrefix("/") { return .file(path: text) }
        let lower = text.prefix(16).lowercased()
        if lower.hasPrefix("file://") {
            // A host other than localhost would silently be dropped (file://images/a.png is not /a.png).
            guard let url = URL(string: text), url.isFileURL, (url.host ?? "").isEmpty || url.host == "localhost",
                url.path.hasPrefix("/")
            else {
                throw AtelierError(.invalidReferenceImage, "malformed file URL (use file:///absolute/path)", field: field)
            }
            return .file(path: url.path)
        }
        if lower.hasPrefix("data:") {
            // data:[<mediatype>][;base64],<data>
            guard let comma = text.firstIndex(of: ",") else {
                throw AtelierError(.invalidReferenceImage, "malformed data URI: no ','", field: field)
            }
            let header = text[text.index(text.startIndex, offsetBy: 5)..<comma]
            let parts = header.split(separator: ";")
            guard parts.last == "base64" else {
                throw AtelierError(.invalidReferenceImage, "data URI must be base64-encoded", field: field)
            }
            let mime = parts.count > 1 ? String(parts[0]) : "application/octet-stream"
            guard mime.hasPrefix("image/") else {
                throw AtelierError(.invalidReferenceImage, "data URI media type must be image/*, not \(mime)", field: field)
            }
            return .dataURI(mimeType: mime, base64: String(text[text.index(after: comma)...]))
        }
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            guard let url = URL(string: text), url.host?.isEmpty == false else {
                throw AtelierError(.invalidReferenceImage, "malformed URL", field: field)
            }
            return .url(text)
        }
        if text.count >= 16, text.utf8.allSatisfy({ Base64.isAlphabet($0) }) {
            return .base64(text)
        }
        throw AtelierError(
            .invalidReferenceImage,
            "reference image must be an absolute path, a file:// URL, a data URI, base64, or an http(s) URL", field: field)
    }

    /// The form written back in the task.
    public var description: String {
        switch self {
        case .file(let p): return p
        case .dataURI(let m, let b): return "data:\(m);base64,\(b)"
        case .base64(let b): return b
        case .url(let u): return u
        }
    }
}
