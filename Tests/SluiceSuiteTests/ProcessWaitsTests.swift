import Foundation
import SluiceTestSupport
import Testing

/// Keeps `Process.waitUntilExit()` out of the code: swift-corelibs-foundation's stores the waiting
/// thread's run loop and run-loop source in the process and clears them again without a lock, so
/// two waiters on one process can release an object twice (see `Process.waitUntilGone()`).
@Suite struct ProcessWaitsTests {
    /// "directory/path:line" of each line of Swift code under `directories` of `root` (comments
    /// left out) that calls it.
    static func calls(under directories: [String], of root: URL = PackagePaths.root) throws -> [String] {
        var found: [String] = []
        for directory in directories {
            let base = root.appendingPathComponent(directory)
            let walker = try #require(FileManager.default.enumerator(atPath: base.path))
            let files = walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.sorted()
            for file in files where !file.hasSuffix("ProcessWaitsTests.swift") {  // its samples are the call
                let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let code = line.range(of: "//").map { line[..<$0.lowerBound] } ?? line[...]
                    if code.contains(".waitUntilExit(") { found.append("\(directory)/\(file):\(index + 1)") }
                }
            }
        }
        return found
    }

    @Test func noCodeWaitsWithWaitUntilExit() throws {
        let found = try Self.calls(under: ["Sources", "Tests"])
        #expect(found == [], "wait with Process.waitUntilGone() (or waitForExit() in async code) instead")
    }

    @Test func theScanFindsACallAndNotAComment() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("process-waits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("T/sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try """
            // p.waitUntilExit() in a comment
            let p = Process()
            try p.run(); p.waitUntilExit()
            p.waitUntilGone()  // not waitUntilExit()
            """.write(to: root.appendingPathComponent("T/sub/a.swift"), atomically: true, encoding: .utf8)
        try "p.waitUntilExit()".write(to: root.appendingPathComponent("T/b.txt"), atomically: true, encoding: .utf8)
        let found = try Self.calls(under: ["T"], of: root)
        #expect(found == ["T/sub/a.swift:3"])
    }
}
