import Foundation
import SluiceTestSupport
import Testing

/// The example findings of every format (examples/findings/) keep the shapes their sources
/// publish: ASFF against botocore's Security Hub model, OCSF against the schema exports, Falco
/// against its output contract; the checker's self-test breaks fixtures and requires each break
/// to be reported, so a checker that stopped checking fails here too.
@Suite struct ExampleFixturesTests {
    @Test func everyFormatFixtureMatchesItsPublishedShape() async throws {
        let (status, text) = try await CommandRun.result(of: PackagePaths.root.appendingPathComponent(".tools/venv/bin/python"),
            [PackagePaths.root.appendingPathComponent("examples/check-formats.py").path, "--strict", "--self-test"], in: PackagePaths.root)
        #expect(status == 0, "\(text.suffix(2000))")
        #expect(text.contains(", 0 errors, 0 warnings"), "\(text.suffix(2000))")
        #expect(text.contains("15 self-test breaks tried"), "\(text.suffix(2000))")
    }
}
