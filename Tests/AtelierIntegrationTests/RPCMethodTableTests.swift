import AtelierCore
import AtelierRPC
import AtelierServer
import Testing

/// The dispatcher's handler table against the protocol's method names.
@Suite struct RPCMethodTableTests {
    @Test func everyRequestMethodHasExactlyOneHandler() {
        #expect(!RPCMethod.requests.isEmpty)
        #expect(Set(RPCMethod.requests).count == RPCMethod.requests.count, "a name is listed twice in RPCMethod.requests")
        #expect(RPCDispatcher.methods == RPCMethod.requests.sorted())
        #expect(!RPCDispatcher.knows(RPCMethod.jobEvent), "job.event is a notification, not a request")
    }

    @Test func aNameClaimedByTwoGroupsIsReported() async {
        let first: RPCDispatcher.Handler = { _, _, _ throws(AtelierError) in "first" }
        let second: RPCDispatcher.Handler = { _, _, _ throws(AtelierError) in "second" }
        let (table, duplicates) = RPCDispatcher.table([
            [RPCMethod.jobGet: first, RPCMethod.jobList: first], [RPCMethod.jobGet: second], [RPCMethod.statsGet: second],
        ])
        #expect(duplicates == [RPCMethod.jobGet])
        #expect(Set(table.keys) == [RPCMethod.jobGet, RPCMethod.jobList, RPCMethod.statsGet])
        #expect(RPCDispatcher.table([[RPCMethod.jobGet: first], [RPCMethod.jobList: second]]).duplicates.isEmpty)
    }
}
