import Foundation
import SluiceTestSupport
import Testing

/// The example findings of every format (examples/findings/) keep the shapes their sources
/// publish: ASFF against botocore's Security Hub model, OCSF against the schema exports, Falco
/// against its output contract; the checker's self-test breaks fixtures and requires each break
/// to be reported, so a checker that stopped checking fails here too.
@Suite struct ExampleFixturesTests {
    @Test func everyFormatFixtureMatchesItsPublishedShape() throws {
        let p = Process()
        p.executableURL = PackagePaths.root.appendingPathComponent(".tools/venv/bin/python")
        p.arguments = [PackagePaths.root.appendingPathComponent("examples/check-formats.py").path, "--strict", "--self-test"]
        p.currentDirectoryURL = PackagePaths.root
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text.suffix(2000))")
        #expect(text.contains(", 0 errors, 0 warnings"), "\(text.suffix(2000))")
        #expect(text.contains("15 self-test breaks tried"), "\(text.suffix(2000))")
    }
}
