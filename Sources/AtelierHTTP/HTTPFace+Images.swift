import AtelierCore
import AtelierEngine
import Foundation
import Hummingbird
import NIOCore

extension HTTPFace {
    /// `GET /api/images/{taskUUID}/{imageUUID}`: a stored result, behind the token. The file is found by id only —
    /// the job's recorded result with that imageUUID — never from a path in the request, and it is served only when
    /// its real path (links resolved) lies inside the data directory's `images/` tree. Read with Hummingbird's
    /// `FileIO` on NIO's thread pool.
    func addImages(to router: Hummingbird.Router<BasicRequestContext>) {
        let engine = self.engine
        let imagesRoot = configuration.dataDirectory.map { $0 + "/images" }
        router.get("/api/images/:taskUUID/:imageUUID") { _, context -> Response in
            guard let imagesRoot, let taskUUID = UUIDv4.canonical(context.parameters.get("taskUUID") ?? ""),
                let imageUUID = UUIDv4.canonical(context.parameters.get("imageUUID") ?? "")
            else {
                return Self.json(["error": "not_found", "message": "no such image"], status: .notFound)
            }
            let result: JobResult
            do throws(AtelierError) {
                let job = try await engine.job(taskUUID)
                guard let r = job.results.first(where: { $0.imageUUID.lowercased() == imageUUID }) else {
                    return Self.json(["error": "not_found", "message": "no such image"], status: .notFound)
                }
                result = r
            } catch {
                return Self.json(["error": "not_found", "message": "no such image"], status: .notFound)
            }
            let path = result.path
            let inside = (try? await BlockingWork.run { Self.isInside(path, root: imagesRoot) }) ?? false
            guard inside else { return Self.json(["error": "not_found", "message": "no such image"], status: .notFound) }
            let body = try await FileIO().loadFile(path: path, context: context)
            return Response(
                status: .ok,
                headers: [
                    .contentType: result.mimeType, .cacheControl: "private, max-age=86400, immutable", .xContentTypeOptions: "nosniff",
                    .contentSecurityPolicy: "default-src 'none'",
                ],
                body: body)
        }
    }

    /// True when `path`, with every link resolved, is a regular file below `root` (also resolved). Blocking (`realpath`,
    /// `stat`): call it on a thread pool.
    static func isInside(_ path: String, root: String) -> Bool {
        guard let realRoot = realPath(root), let real = realPath(path) else { return false }
        guard real.hasPrefix(realRoot + "/") else { return false }
        var st = stat()
        return stat(real, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    private static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
