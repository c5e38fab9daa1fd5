/// A `multipart/form-data` body (RFC 7578), as `/v1/images/edits` takes it: text fields and file parts.
///
/// Hand-written: AsyncHTTPClient has no form encoder and none of the project's dependencies offers one; the format
/// needs only CRLF-separated parts behind a boundary that must not occur in the content (the caller derives it from
/// the attempt key, a UUID, so no prompt or image carries it by accident).
struct MultipartForm {
    /// The boundary between parts.
    let boundary: String
    private var body: [UInt8] = []

    init(boundary: String) { self.boundary = boundary }

    /// The request's `Content-Type`.
    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Appends a text field.
    mutating func field(_ name: String, _ value: String) {
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n".utf8)
        body += Array(value.utf8)
        body += Array("\r\n".utf8)
    }

    /// Appends a file part.
    mutating func file(_ name: String, filename: String, contentType: String, data: [UInt8]) {
        body += Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: \(contentType)\r\n\r\n"
                .utf8)
        body += data
        body += Array("\r\n".utf8)
    }

    /// The finished body (closing boundary appended).
    func finish() -> [UInt8] { body + Array("--\(boundary)--\r\n".utf8) }
}
