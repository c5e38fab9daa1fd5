import Testing

@testable import AtelierCore

/// A task with a reference image and the given extra members (JSON text without braces).
private func taskJSON(_ extra: String, reference: Bool = true) -> String {
    let ref = reference ? #""referenceImages":["/tmp/ref.png"],"# : ""
    return #"{"positivePrompt":"a cat","# + ref + extra + "}"
}

private func parse(_ text: String) throws -> ImageTask { try ImageTask(json: try JSONParser.parse(text)) }

/// The error the task's parsing throws, or nil.
private func parseError(_ text: String) throws -> AtelierError? {
    let value = try JSONParser.parse(text)
    return atelierError { () throws(AtelierError) in _ = try ImageTask(json: value) }
}

@Suite("Task consistency and preserve fields")
struct TaskConsistencyFieldsTests {
    @Test func consistencyDefaultsAndRoundTrip() throws {
        let t = try parse(taskJSON(#""consistency":{"samples":3}"#))
        #expect(t.consistency == ConsistencyRequest(samples: 3, against: .references, minScore: nil, maxSamples: nil, onMiss: .fail))
        #expect(t.consistency?.sampleLimit == 3)
        #expect(JSONWriter.string(t.json["consistency"]!) == #"{"samples":3,"against":"references","onMiss":"fail"}"#)
        let back = try ImageTask(json: t.json)
        #expect(back == t)
    }

    @Test func consistencyFullRoundTrip() throws {
        let t = try parse(
            taskJSON(
                #""consistency":{"samples":2,"against":"https://example.com/a.png","minScore":0.85,"maxSamples":12,"onMiss":"best"}"#,
                reference: false))
        #expect(t.consistency?.against == .image(.url("https://example.com/a.png")))
        #expect(t.consistency?.minScore == 0.85)
        #expect(t.consistency?.maxSamples == 12)
        #expect(t.consistency?.onMiss == .best)
        let back = try ImageTask(json: t.json)
        #expect(back == t)
        #expect(JSONWriter.string(back.json) == JSONWriter.string(t.json))
    }

    @Test(arguments: [
        (#""consistency":{"samples":1}"#, "/consistency/samples", "invalid_value"),
        (#""consistency":{"samples":9}"#, "/consistency/samples", "invalid_value"),
        (#""consistency":{}"#, "/consistency/samples", "missing_field"),
        (#""consistency":{"samples":4,"maxSamples":3}"#, "/consistency/maxSamples", "invalid_value"),
        (#""consistency":{"samples":4,"maxSamples":13}"#, "/consistency/maxSamples", "invalid_value"),
        (#""consistency":{"samples":4,"minScore":1.5}"#, "/consistency/minScore", "invalid_value"),
        (#""consistency":{"samples":4,"onMiss":"retry"}"#, "/consistency/onMiss", "invalid_value"),
        (#""consistency":{"samples":4,"against":"nope"}"#, "/consistency/against", "invalid_reference_image"),
        (#""consistency":{"samples":4,"extra":1}"#, "/consistency/extra", "unknown_field"),
        (#""preserve":{"rect":{"x":0,"y":0,"width":0,"height":10},"mode":"measure"}"#, "/preserve/rect/width", "invalid_value"),
        (#""preserve":{"rect":{"x":0,"y":0,"width":10,"height":-1},"mode":"measure"}"#, "/preserve/rect/height", "invalid_value"),
        (#""preserve":{"rect":{"x":-1,"y":0,"width":10,"height":10},"mode":"measure"}"#, "/preserve/rect/x", "invalid_value"),
        (#""preserve":{"rect":{"x":0,"y":0,"width":10},"mode":"measure"}"#, "/preserve/rect/height", "missing_field"),
        (#""preserve":{"rect":{"x":0,"y":0,"width":10,"height":10}}"#, "/preserve/mode", "missing_field"),
        (#""preserve":{"rect":{"x":0,"y":0,"width":10,"height":10},"mode":"blend"}"#, "/preserve/mode", "invalid_value"),
        (#""preserve":{"mode":"measure"}"#, "/preserve/mask", "missing_field"),
        (#""preserve":{"mask":"/tmp/m.png","rect":{"x":0,"y":0,"width":1,"height":1},"mode":"measure"}"#, "/preserve/rect", "invalid_value"),
        (#""preserve":{"mask":"relative.png","mode":"measure"}"#, "/preserve/mask", "invalid_reference_image"),
        (#""preserve":{"mask":"/tmp/m.png","mode":"measure","minScore":-0.1}"#, "/preserve/minScore", "invalid_value"),
    ])
    func invalidMembers(extra: String, field: String, code: String) throws {
        let e = try #require(try parseError(taskJSON(extra)))
        #expect(e.field == field)
        #expect(e.code.rawValue == code)
    }

    @Test func consistencyWithoutAnyReferenceIsRefused() throws {
        let e = try #require(try parseError(taskJSON(#""consistency":{"samples":3}"#, reference: false)))
        #expect(e.code == .invalidValue)
        #expect(e.field == "/consistency/against")
    }

    @Test func preserveWithoutReferenceImageIsRefused() throws {
        let e = try #require(
            try parseError(taskJSON(#""preserve":{"rect":{"x":0,"y":0,"width":8,"height":8},"mode":"composite"}"#, reference: false)))
        #expect(e.code == .invalidValue)
        #expect(e.field == "/preserve")
    }

    @Test func preserveRoundTrips() throws {
        let rect = try parse(taskJSON(#""preserve":{"rect":{"x":4,"y":5,"width":60,"height":70},"mode":"composite"}"#))
        #expect(rect.preserve == PreserveRequest(region: .rect(.init(x: 4, y: 5, width: 60, height: 70)), mode: .composite))
        #expect(try ImageTask(json: rect.json) == rect)
        let mask = try parse(taskJSON(#""preserve":{"mask":"file:///tmp/mask.png","mode":"measure","minScore":0.9}"#))
        #expect(mask.preserve == PreserveRequest(region: .mask(.file(path: "/tmp/mask.png")), mode: .measure, minScore: 0.9))
        #expect(JSONWriter.string(mask.json["preserve"]!) == #"{"mask":"/tmp/mask.png","mode":"measure","minScore":0.9}"#)
        #expect(try ImageTask(json: mask.json) == mask)
    }
}
