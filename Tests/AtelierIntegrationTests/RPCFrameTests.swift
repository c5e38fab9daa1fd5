import AtelierCore
import AtelierRPC
import Testing

/// RPCFrame writes the same bytes as the JSON objects it stands for, single answers and batches alike.
@Suite struct RPCFrameTests {
    @Test func batchMembersAreTheEnvelopeObjects() throws {
        let error = RPCError.methodNotFound("job.nope", available: [RPCMethod.jobGet])
        var a: [UInt8] = []
        RPCFrame.resultObject(id: .int(7), ["ok": true, "n": 3], into: &a)
        var b: [UInt8] = []
        RPCFrame.errorObject(id: .string("x"), error, into: &b)
        var out: [UInt8] = []
        RPCFrame.batch([a, b], into: &out)
        let expected: JSONValue = .array([
            ["jsonrpc": "2.0", "id": 7, "result": ["ok": true, "n": 3]],
            ["jsonrpc": "2.0", "id": "x", "error": error.json],
        ])
        #expect(out == JSONWriter.bytes(expected) + [0x0A])
        #expect(try JSONParser.parse(Array(out.dropLast())) == expected)
    }

    @Test func aResponseIsItsResultOrItsError() {
        let error = RPCError.invalidRequest("bad", field: "/id")
        var ok: [UInt8] = []
        RPCFrame.responseObject(id: .int(1), .success(["a": 1]), into: &ok)
        var okObject: [UInt8] = []
        RPCFrame.resultObject(id: .int(1), ["a": 1], into: &okObject)
        #expect(ok == okObject)
        var failed: [UInt8] = []
        RPCFrame.response(id: .string("k"), .failure(error), into: &failed)
        #expect(failed == JSONWriter.bytes(["jsonrpc": "2.0", "id": "k", "error": error.json]) + [0x0A])
    }

    @Test func aBatchOfNotificationsWritesNothing() {
        var out: [UInt8] = []
        RPCFrame.batch([], into: &out)
        #expect(out.isEmpty)
    }

    @Test func singleAnswersAreOneLine() throws {
        var out: [UInt8] = []
        RPCFrame.result(id: .null, ["a": 1], into: &out)
        RPCFrame.result(id: .int(2), encoded: Array(#"{"b":2}"#.utf8), into: &out)
        RPCFrame.error(id: .int(3), .invalidRequest("bad", field: "/id"), into: &out)
        let lines = out.split(separator: 0x0A).map { Array($0) }
        #expect(lines.count == 3)
        #expect(try JSONParser.parse(lines[0]) == ["jsonrpc": "2.0", "id": .null, "result": ["a": 1]])
        #expect(try JSONParser.parse(lines[1]) == ["jsonrpc": "2.0", "id": 2, "result": ["b": 2]])
        #expect(try JSONParser.parse(lines[2])["error"]?["data"]?["field"] == "/id")
    }
}
