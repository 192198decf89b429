import Foundation
import SluiceTestSupport
import Testing

@testable import SluiceRuntime

/// Issue 10 points 12 and 13: the NDJSON reader and the /metrics server stay bounded whatever
/// their input. The bounds hold by construction; the tests check outcomes, never a clock.
@Suite(.serialized) struct ResourceLimitTests {
    // MARK: Point 12: NDJSON lines

    @Test func aFortyMegabyteLineIsCutWithoutBufferingItAndTheNextLineIsIntact() {
        let maxLine = 1 << 20
        var splitter = NDJSONLineSplitter(maxLineBytes: maxLine)
        var pieces: [NDJSONLineSplitter.Piece] = []
        var mostBuffered = 0
        func feed(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { splitter.feed($0) { pieces.append($0) } }
            mostBuffered = max(mostBuffered, splitter.bufferedByteCount)
        }
        feed(Array("{\"a\":1}\n{\"huge\":\"".utf8))
        let block = [UInt8](repeating: UInt8(ascii: "x"), count: 64 << 10)
        for _ in 0..<640 { feed(block) }  // 40 MiB of one line, in 64 KiB reads
        feed(Array("\"}\n{\"b\":2}\n{\"c\":".utf8))
        splitter.finish { pieces.append($0) }

        #expect(mostBuffered <= maxLine, "never more than max_message_bytes held")
        #expect(pieces.count == 4)
        #expect(pieces.first == .line(Array("{\"a\":1}".utf8)))
        if case .oversized(let prefix, let byteCount) = pieces[1] {
            #expect(byteCount == 9 + 640 * (64 << 10) + 2)  // {"huge":" + 40 MiB + "}
            #expect(prefix.count == 4096)
            #expect(prefix.starts(with: Array("{\"huge\":\"xxx".utf8)))
        } else {
            Issue.record("expected the long line as oversized, got \(pieces[1])")
        }
        #expect(pieces[2] == .line(Array("{\"b\":2}".utf8)))
        #expect(pieces[3] == .line(Array("{\"c\":".utf8)), "the tail without a newline is a line too")
    }

    @Test func linesSplitAcrossEveryChunkBoundaryComeOutWhole() {
        let text = Array("one\ntwo\n\nthree-is-longer\nfour".utf8)
        for chunk in 1...text.count {
            var splitter = NDJSONLineSplitter(maxLineBytes: 10)
            var pieces: [NDJSONLineSplitter.Piece] = []
            var i = 0
            while i < text.count {
                let end = min(i + chunk, text.count)
                Array(text[i..<end]).withUnsafeBytes { splitter.feed($0) { pieces.append($0) } }
                i = end
            }
            splitter.finish { pieces.append($0) }
            #expect(pieces == [.line(Array("one".utf8)), .line(Array("two".utf8)), .line([]),
                               .oversized(prefix: Array("three-is-longer".utf8), byteCount: 15), .line(Array("four".utf8))],
                    "chunks of \(chunk)")
        }
    }

    @Test func anOversizedLineIsDeadLetteredTooLargeAndTheRunGoesOn() async throws {
        try await withRunHarness { harness in
            let (receiver, config) = try await harness.webhook()
            let findings = try Findings.unique(3)
            let input = config.directory.appendingPathComponent("huge.ndjson")
            _ = FileManager.default.createFile(atPath: input.path, contents: nil)
            let file = try FileHandle(forWritingTo: input)
            file.write(Data(findings[0].bytes + [0x0A]))
            file.write(Data("{\"source\":\"aws.guardduty\",\"padding\":\"".utf8))
            let block = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
            for _ in 0..<40 { file.write(block) }  // a 40 MiB line
            file.write(Data("\"}\n".utf8))
            file.write(Data(findings[1].bytes + [0x0A] + findings[2].bytes + [0x0A]))
            try file.close()

            let sluice = try harness.sluice(["run", "--input", input.path, "--routes", config.routes, "--connectors", config.connectors,
                                             "--log-level", "error"])
            let deadline = Date().addingTimeInterval(120)  // end of input ends the run; this only bounds a hang
            while sluice.process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            // The oversized line was dead-lettered: an offline run says so with exit status 2.
            #expect(!sluice.process.isRunning && sluice.process.terminationStatus == 2)
            #expect(Set(try receiver.receivedFindingIDs()) == Set(findings.map(\.id)))
            let letters = sluice.output.split(separator: "\n").filter { $0.hasPrefix("{\"reason\"") }
            #expect(letters.count == 1)
            #expect(letters.first?.contains("\"reason\":\"too_large\"") == true)
            #expect(letters.first?.contains("line of 41943079 bytes is over max_message_bytes (1048576)") == true)
        }
    }

    // Point 13 (/metrics bounded against idle and slow clients) is the admin server's now:
    // AdminServerTests.slowClientsNeverBlockProbes and idleConnectionsAreClosed.
}
