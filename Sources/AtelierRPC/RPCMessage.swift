import AtelierCore

/// A JSON-RPC request id: a number, a string, or null (notifications have no id at all).
public enum RPCID: Sendable, Hashable, CustomStringConvertible {
    case int(Int64)
    case string(String)
    case null

    /// The id as JSON.
    public var json: JSONValue {
        switch self {
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        case .null: return .null
        }
    }

    public var description: String { json.description }
}

/// One parsed JSON-RPC 2.0 request (or notification, when ``id`` is nil).
public struct RPCRequest: Sendable, Equatable {
    /// The request id; nil for notifications (which get no response).
    public var id: RPCID?
    /// The method name.
    public var method: String
    /// The params: an object, an array, or nil.
    public var params: JSONValue?

    public init(id: RPCID?, method: String, params: JSONValue?) {
        self.id = id
        self.method = method
        self.params = params
    }

    /// Validates one element of a frame as a JSON-RPC 2.0 request.
    /// - Returns: the request, or an error response to send (with the id when it could be read).
    public static func validate(_ value: JSONValue) -> Result<RPCRequest, RPCErrorResponse> {
        guard case .object(let o) = value else {
            return .failure(RPCErrorResponse(id: .null, error: .invalidRequest("a request must be a JSON object, not \(value.typeName)")))
        }
        var id: RPCID? = nil
        if let rawID = o["id"] {
            switch rawID {
            case .int(let i): id = .int(i)
            case .string(let s): id = .string(s)
            case .null: id = .null
            default:
                return .failure(RPCErrorResponse(id: .null, error: .invalidRequest("id must be a string, an integer or null", field: "/id")))
            }
        }
        guard o["jsonrpc"] == .string("2.0") else {
            return .failure(RPCErrorResponse(id: id ?? .null, error: .invalidRequest("jsonrpc must be \"2.0\"", field: "/jsonrpc")))
        }
        guard case .string(let method)? = o["method"] else {
            return .failure(RPCErrorResponse(id: id ?? .null, error: .invalidRequest("method must be a string", field: "/method")))
        }
        let params = o["params"]
        if let p = params {
            switch p {
            case .object, .array: break
            default:
                return .failure(RPCErrorResponse(id: id ?? .null, error: .invalidRequest("params must be an object or an array", field: "/params")))
            }
        }
        for (k, _) in o where !["jsonrpc", "id", "method", "params"].contains(k) {
            return .failure(RPCErrorResponse(id: id ?? .null, error: .invalidRequest("unknown member '\(k)'", field: "/\(k)")))
        }
        return .success(RPCRequest(id: id, method: method, params: params))
    }

    /// The request as a JSON object (client side).
    public var json: JSONValue {
        var o: JSONObject = ["jsonrpc": "2.0"]
        if let id { o.append("id", id.json) }
        o.append("method", .string(method))
        o.append("params", ifPresent: params)
        return .object(o)
    }
}

/// A JSON-RPC error object: numeric code, message, and Atelier's `data` (`code`, `field`, `retryable`, details).
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON-RPC numeric code.
    public var code: Int
    public var message: String
    /// The `data` member: always carries `code` (stable snake_case).
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue?) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// -32700: the frame is not JSON.
    public static func parseError(_ message: String) -> RPCError {
        RPCError(code: RPCErrorCode.parseError, message: message, data: ["code": "parse_error"])
    }

    /// -32600: valid JSON, but not a JSON-RPC request.
    public static func invalidRequest(_ message: String, field: String? = nil) -> RPCError {
        var d: JSONObject = ["code": "invalid_request"]
        d.append("field", ifPresent: field.map(JSONValue.string))
        return RPCError(code: RPCErrorCode.invalidRequest, message: message, data: .object(d))
    }

    /// -32601: no such method; `available` lists the methods there are.
    public static func methodNotFound(_ method: String, available: [String]) -> RPCError {
        RPCError(
            code: RPCErrorCode.methodNotFound, message: "unknown method '\(method.prefix(64))'",
            data: ["code": "method_not_found", "methods": .array(available.map(JSONValue.string))])
    }

    /// Maps an ``AtelierError`` to its JSON-RPC code: caller-input codes to -32602, the rest to -32000…-32099.
    public init(_ e: AtelierError) {
        self.init(code: RPCErrorCode.code(for: e.code), message: e.message, data: e.json)
    }

    /// The stable snake_case code in `data.code`.
    public var stableCode: String? { data?["code"]?.stringValue }
    /// The offending field in `data.field`.
    public var field: String? { data?["field"]?.stringValue }

    public var json: JSONValue {
        var o: JSONObject = ["code": .int(Int64(code)), "message": .string(message)]
        o.append("data", ifPresent: data)
        return .object(o)
    }

    public var description: String { "RPC error \(code) (\(stableCode ?? "-")): \(message)" + (field.map { " at \($0)" } ?? "") }

    /// Decodes an error object.
    public init?(json: JSONValue) {
        guard let c = json["code"]?.intValue, let m = json["message"]?.stringValue else { return nil }
        self.init(code: Int(c), message: m, data: json["data"])
    }
}

/// An error response to a request that failed before dispatch.
public struct RPCErrorResponse: Error, Sendable, Equatable {
    public var id: RPCID
    public var error: RPCError
}

/// JSON-RPC numeric error codes used by Atelier.
public enum RPCErrorCode {
    public static let parseError = -32700
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    public static let invalidParams = -32602
    public static let internalError = -32603

    /// The numeric code for an Atelier error code. Caller-input problems are -32602; application errors have
    /// fixed codes in -32000…-32099 (documented in docs/protocol.md).
    public static func code(for c: ErrorCode) -> Int {
        switch c {
        case .invalidType, .missingField, .unknownField, .invalidValue, .invalidUUID, .promptEmpty, .promptTooLong, .invalidDimensions,
            .unknownModel, .modelRetired, .unsupportedOutputFormat, .invalidReferenceImage, .tooManyReferences, .invalidNumberResults,
            .invalidURL, .uploadCountMismatch, .requirementUnsatisfiable:
            return invalidParams
        case .notFound: return -32001
        case .conflictTaskUUID: return -32002
        case .noRoute: return -32003
        case .budgetExceeded: return -32004
        case .notCancellable: return -32005
        case .shuttingDown: return -32006
        case .frameTooLarge: return -32007
        case .tooManyRequests: return -32008
        case .storeFailure: return -32010
        case .configInvalid: return -32011
        case .internalError: return -32099
        default: return -32000
        }
    }
}
