import Hummingbird

/// Requires the bearer token on every request except the open paths (`/metrics`, `/healthz`, the console's static
/// files): anything else without `Authorization: Bearer <token>` is answered 401, unknown paths included, so nothing
/// about the API shows to a caller without the token. The token is read from this header only — never from a query
/// string or a cookie — so a page of another origin can neither send it nor make the browser send it.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: BearerToken
    let openPaths: Set<String>
    /// Path prefixes served without the token (the console's files).
    var openPrefixes: [String] = []

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let openByPrefix = openPrefixes.contains { path.hasPrefix($0) } && !path.contains("..") && !path.contains("%")
        if openPaths.contains(path) || openByPrefix { return try await next(request, context) }
        guard token.authorizes(header: request.headers[.authorization]) else {
            return Response(
                status: .unauthorized, headers: [.wwwAuthenticate: "Bearer", .contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"error":"unauthorized","message":"a bearer token is required"}"#)))
        }
        return try await next(request, context)
    }
}
