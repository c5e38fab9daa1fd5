import AtelierCore

/// Writes JSON-RPC messages as NDJSON lines: the one place that spells the response envelope, for single
/// answers, batch members and server notifications alike.
public enum RPCFrame {
    /// `{"jsonrpc":"2.0","id":…,"result":…}\n`
    public static func result(id: RPCID, _ result: JSONValue, into out: inout [UInt8]) {
        resultObject(id: id, result, into: &out)
        out.append(0x0A)
    }

    /// Like ``result(id:_:into:)`` but splices an already-encoded result.
    public static func result(id: RPCID, encoded: [UInt8], into out: inout [UInt8]) {
        open(id, "result", into: &out)
        out.append(contentsOf: encoded)
        out.append(contentsOf: "}\n".utf8)
    }

    /// `{"jsonrpc":"2.0","id":…,"error":{…}}\n`
    public static func error(id: RPCID, _ error: RPCError, into out: inout [UInt8]) {
        errorObject(id: id, error, into: &out)
        out.append(0x0A)
    }

    /// The answer to one request as a line: its result, or its error.
    public static func response(id: RPCID, _ outcome: Result<JSONValue, RPCError>, into out: inout [UInt8]) {
        responseObject(id: id, outcome, into: &out)
        out.append(0x0A)
    }

    /// A server notification: `{"jsonrpc":"2.0","method":…,"params":…}\n`
    public static func notification(method: String, params: JSONValue, into out: inout [UInt8]) {
        out.append(contentsOf: #"{"jsonrpc":"2.0","method":"#.utf8)
        JSONWriter.write(.string(method), into: &out)
        out.append(contentsOf: #","params":"#.utf8)
        JSONWriter.write(params, into: &out)
        out.append(contentsOf: "}\n".utf8)
    }

    /// The answer to one request without the line end (a batch member): its result, or its error.
    public static func responseObject(id: RPCID, _ outcome: Result<JSONValue, RPCError>, into out: inout [UInt8]) {
        switch outcome {
        case .success(let v): resultObject(id: id, v, into: &out)
        case .failure(let e): errorObject(id: id, e, into: &out)
        }
    }

    /// One result response without the line end, as a batch member.
    public static func resultObject(id: RPCID, _ result: JSONValue, into out: inout [UInt8]) {
        open(id, "result", into: &out)
        JSONWriter.write(result, into: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// One error response without the line end, as a batch member.
    public static func errorObject(id: RPCID, _ error: RPCError, into out: inout [UInt8]) {
        open(id, "error", into: &out)
        JSONWriter.write(error.json, into: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// A batch answer: the members (each written by ``resultObject(id:_:into:)`` or ``errorObject(id:_:into:)``)
    /// as one array line, `[…,…]\n`. Writes nothing when there are none: a batch of notifications gets no answer.
    public static func batch(_ members: [[UInt8]], into out: inout [UInt8]) {
        guard !members.isEmpty else { return }
        out.append(UInt8(ascii: "["))
        for (i, m) in members.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: m)
        }
        out.append(contentsOf: "]\n".utf8)
    }

    /// `{"jsonrpc":"2.0","id":…,"<member>":`
    private static func open(_ id: RPCID, _ member: String, into out: inout [UInt8]) {
        out.append(contentsOf: #"{"jsonrpc":"2.0","id":"#.utf8)
        JSONWriter.write(id.json, into: &out)
        out.append(contentsOf: #",""#.utf8)
        out.append(contentsOf: member.utf8)
        out.append(contentsOf: #"":"#.utf8)
    }
}
