import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierServer
import Hummingbird
import NIOCore

extension HTTPFace {
    /// The largest request body the API reads (a params object).
    static let maxRequestBytes = 256 * 1024

    /// The console's API, all behind the token (``TokenMiddleware``):
    /// - `POST /api/rpc/{method}` with a JSON params object: the socket's method (``ConsoleMethods`` lists which),
    ///   answered `{"result": …}` or `{"error": {code, message, data}}` exactly as over the socket;
    /// - `GET /api/jobs?status=&model=&tag=k=v&limit=&cursor=`: job summaries (``JobSummary``), newest first;
    /// - `GET /api/jobs/{taskUUID}`: one job's wire form;
    /// - `GET /api/spend?hours=24|168&by=model|provider|arm`: spend over time (``SpendSeries``).
    func addAPI(to router: Hummingbird.Router<BasicRequestContext>) {
        let engine = self.engine
        let dispatcher = RPCDispatcher(services: services)
        router.post("/api/rpc/:method") { request, context -> Response in
            let method = context.parameters.get("method") ?? ""
            guard ConsoleMethods.allows(method) else {
                return Self.rpcAnswer(.failure(RPCError(AtelierError(.notFound, "the console API has no method '\(method.prefix(64))'"))))
            }
            guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
                let e = AtelierError(.invalidValue, "send the params as Content-Type: application/json", field: "Content-Type")
                return Self.rpcAnswer(.failure(RPCError(e)), status: .unsupportedMediaType)
            }
            var request = request
            let body = try await request.collectBody(upTo: Self.maxRequestBytes)
            let params: JSONValue
            do {
                params = body.readableBytes == 0 ? .object([:]) : try JSONParser.parse(Array(buffer: body))
            } catch {
                return Self.rpcAnswer(.failure(RPCError.parseError("the body is not JSON: \(error)")))
            }
            let answer = await dispatcher.handle(RPCRequest(id: nil, method: method, params: params), connection: nil)
            return Self.rpcAnswer(answer)
        }
        router.get("/api/jobs") { request, _ -> Response in
            do throws(AtelierError) {
                let filter = try JobFilter(query: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
                var found: [Job] = []
                var cursor = filter.cursor
                var scanned = 0
                repeat {
                    // Whole pages only, so the store cursor stays exact: unfiltered, a page is exactly what is missing;
                    // with a model or tag filter, up to 200 jobs are read and every match in them is kept.
                    let size = filter.model == nil && filter.tag == nil ? filter.limit - found.count : 200
                    let page = try await engine.list(status: filter.status, limit: size, cursor: cursor)
                    scanned += page.jobs.count
                    found += page.jobs.filter(filter.matches)
                    cursor = page.next
                } while found.count < filter.limit && cursor != nil && scanned < JobFilter.scanLimit
                let next = cursor
                return Self.json(
                    [
                        "jobs": .array(found.map(JobSummary.json)), "nextCursor": next.map { .string(String($0)) } ?? .null,
                        "scanned": .int(Int64(scanned)),
                    ],
                    status: .ok)
            } catch {
                return Self.rpcAnswer(.failure(RPCError(error)))
            }
        }
        router.get("/api/jobs/:taskUUID") { _, context -> Response in
            let id = context.parameters.get("taskUUID") ?? ""
            do throws(AtelierError) {
                return Self.json(try await engine.job(id).json, status: .ok)
            } catch {
                return Self.json(["error": .string(error.code.rawValue), "message": .string(error.message)], status: .notFound)
            }
        }
        router.get("/api/spend") { request, _ -> Response in
            let hoursText = request.uri.queryParameters["hours"].map(String.init) ?? "24"
            let byText = request.uri.queryParameters["by"].map(String.init) ?? "model"
            guard let hours = Int(hoursText), (1...24 * 31).contains(hours) else {
                return Self.rpcAnswer(.failure(RPCError(AtelierError(.invalidValue, "hours must be from 1 to 744", field: "hours"))))
            }
            guard let by = SpendSeries.Grouping(rawValue: byText) else {
                return Self.rpcAnswer(.failure(RPCError(AtelierError(.invalidValue, "by must be model, provider or arm", field: "by"))))
            }
            do throws(AtelierError) {
                var series = SpendSeries(hours: hours, by: by, now: Timestamp.now())
                var cursor: Int64?
                var scanned = 0
                reading: repeat {
                    let page = try await engine.list(status: nil, limit: 500, cursor: cursor)
                    for job in page.jobs {
                        // Pages come newest first by creation: stop at jobs created an hour before the window.
                        // A job created earlier that finished inside the window is left out (jobs run for minutes).
                        if job.createdAt.milliseconds < series.since.milliseconds - 3_600_000 { break reading }
                        series.add(job)
                    }
                    scanned += page.jobs.count
                    cursor = page.next
                } while cursor != nil && scanned < SpendSeries.scanLimit
                return Self.json(series.json, status: .ok)
            } catch {
                return Self.rpcAnswer(.failure(RPCError(error)))
            }
        }
    }

    /// An RPC outcome as an HTTP answer: `{"result": …}` with 200, or `{"error": …}` with a status that says the
    /// same as the JSON-RPC code (400 bad params, 404 not found, 409 wrong state, 503 store fault, 500 otherwise).
    static func rpcAnswer(_ answer: Result<JSONValue, RPCError>, status: HTTPResponse.Status? = nil) -> Response {
        switch answer {
        case .success(let value): return json(["result": value], status: .ok)
        case .failure(let error):
            let mapped: HTTPResponse.Status =
                switch error.code {
                case RPCErrorCode.invalidParams, RPCErrorCode.invalidRequest, RPCErrorCode.parseError: .badRequest
                case -32001: .notFound
                case -32010: .serviceUnavailable
                case -32099 ... -32000: .conflict
                default: .internalServerError
                }
            return json(["error": error.json], status: status ?? (error.stableCode == "not_found" ? .notFound : mapped))
        }
    }
}
