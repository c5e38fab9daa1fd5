import Hummingbird

/// Requires the bearer token on every request except the open paths (`/metrics`, `/healthz`): anything else
/// without `Authorization: Bearer <token>` is answered 401, unknown paths included, so nothing about the API shows
/// to a caller without the token.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: BearerToken
    let openPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard token.authorizes(header: request.headers[.authorization]) else {
            return Response(
                status: .unauthorized, headers: [.wwwAuthenticate: "Bearer", .contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"error":"unauthorized","message":"a bearer token is required"}"#)))
        }
        return try await next(request, context)
    }
}
