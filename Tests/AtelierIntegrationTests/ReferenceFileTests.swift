import AtelierCore
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A reference path that is not a regular file (a FIFO would block the thread that opens it until a writer
/// appears) is refused at submit, and the daemon keeps answering.
@Suite("reference files must be regular files", .serialized)
struct ReferenceFileTests {
    @Test func aFIFOIsRefusedWithoutBlocking() async throws {
        let dir = TempDir("ref-fifo")
        defer { dir.cleanup() }
        let fifo = dir.path + "/reference.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let daemon = try await DaemonProcess.start(in: dir)
        // Stopped on every path, also when an expectation throws.
        do {
            let c = try RawConnection(socketPath: daemon.socketPath)
            // Twice: the thread pool has two threads, both would be stuck after two such submits.
            for i in 0..<2 {
                c.send(
                    #"{"jsonrpc":"2.0","id":\#(i),"method":"job.submit","params":{"positivePrompt":"x","model":"local-render","width":64,"height":64,"referenceImages":["\#(fifo)"]}}"#
                )
                let line = try #require(await c.nextLine(), "no answer to a submit with a FIFO reference")
                let v = try JSONParser.parse(line)
                #expect(v["error"]?["data"]?["code"] == "invalid_reference_image", "\(line)")
                #expect(v["error"]?["data"]?["field"] == "/referenceImages/0")
                #expect(v["error"]?["message"]?.stringValue?.contains("not a regular file") == true, "\(line)")
            }
            // The daemon still answers.
            c.send(#"{"jsonrpc":"2.0","id":"h","method":"daemon.health"}"#)
            #expect(await c.nextLine()?.contains(#""id":"h""#) == true)
        } catch {
            await daemon.terminate()
            throw error
        }
        await daemon.terminate()
    }
}
