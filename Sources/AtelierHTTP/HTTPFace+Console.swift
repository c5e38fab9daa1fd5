import Hummingbird
import NIOCore

extension HTTPFace {
    /// The content security policy of the console's pages: everything from this origin only (no CDN, no inline
    /// script), images also from `blob:` (images are fetched with the token and shown from blob URLs), and no framing.
    static let consolePolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// `/` and `/console` redirect to `/console/`; `/console/<file>` serves the console's static files (no token:
    /// they hold no data; the page asks for the token and sends it with each API call).
    func addConsole(to router: Hummingbird.Router<BasicRequestContext>) {
        let console = self.console
        let redirect: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            Response(status: .seeOther, headers: [.location: ConsoleAssets.prefix])
        }
        router.get("/", use: redirect)
        let serve: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            // The router matches `/console` and `/console/` alike; relative links need the slash.
            if request.uri.path == "/console" { return try await redirect(request, context) }
            guard let file = console.file(forPath: request.uri.path) else {
                let missing = console.directory == nil ? "the console's files are not installed next to atelierd" : "no such console file"
                return Self.json(["error": "not_found", "message": .string(missing)], status: .notFound)
            }
            return Response(
                status: .ok,
                headers: [
                    .contentType: file.contentType, .cacheControl: "no-cache", .contentSecurityPolicy: Self.consolePolicy,
                    .init("Referrer-Policy")!: "no-referrer", .xContentTypeOptions: "nosniff",
                ],
                body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
        }
        router.get("/console", use: serve)
        router.get("/console/:file", use: serve)
    }
}
