import Foundation
import SluiceTestSupport
import Testing

/// Keeps closure literals out of `#expect`/`#require` arguments inside closure bodies, where Swift
/// 6.3.1 can run one closure's code for another (see the note atop AwaitedCleanup.swift). The
/// compiler's own parser finds them: `swiftc -dump-parse` shows the macros unexpanded.
@Suite struct ClosuresInAssertionsTests {
    /// One `#expect`/`#require` of the dump: whether its argument holds a closure literal (the
    /// closure that is the argument, as in `#expect(throws:) { … }`, does not count) and whether the
    /// nearest body around it is a closure's.
    struct Assertion {
        var file = ""
        /// The first line of its argument (the dump gives the macro itself no range).
        var line = Int.max
        var holdsAClosure = false
        var inAClosure = false
    }

    /// The bodies a closure literal is numbered in; the nearest one around a macro decides.
    static let contexts: Set<String> = ["closure_expr", "func_decl", "constructor_decl", "accessor_decl", "destructor_decl"]

    /// Reads a `-dump-parse` tree by its indentation: each node is a line opening with `(kind`.
    static func assertions(inParseDump dump: String) -> [Assertion] {
        var open: [(depth: Int, kind: String, assertion: Int?)] = []
        var found: [Assertion] = []
        for line in dump.split(separator: "\n", omittingEmptySubsequences: true) {
            let text = line.drop { $0 == " " }
            guard text.first == "(" else { continue }
            let depth = line.count - text.count
            let kind = String(text.dropFirst().prefix { $0 != " " && $0 != ")" })
            while let last = open.last, last.depth >= depth { open.removeLast() }
            let enclosing = open.compactMap(\.assertion)
            if let range = text.range(of: "range=["), let end = text[range.upperBound...].range(of: " - ") {
                // "path:line:col"
                let parts = text[range.upperBound..<end.lowerBound].split(separator: ":")
                if parts.count >= 3, let number = Int(parts[parts.count - 2]) {
                    for index in enclosing where number < found[index].line {
                        found[index].line = number
                        found[index].file = parts.dropLast(2).joined(separator: ":")
                    }
                }
            }
            if kind == "closure_expr", let innermost = enclosing.last {
                let kinds = open.suffix(3).map(\.kind)
                let isTheArgument = kinds == ["macro_expansion_expr", "argument_list", "argument"]
                if !isTheArgument { found[innermost].holdsAClosure = true }
            }
            var assertion: Int?
            if kind == "macro_expansion_expr", text.contains(#"name="expect""#) || text.contains(#"name="require""#) {
                let context = open.last { Self.contexts.contains($0.kind) }?.kind
                found.append(Assertion(inAClosure: context == "closure_expr"))
                assertion = found.count - 1
            }
            open.append((depth, kind, assertion))
        }
        return found
    }

    /// "file:line" of each assertion to rewrite, in file and line order (a macro can appear twice
    /// in the dump).
    static func sites(_ assertions: [Assertion]) -> [String] {
        let rewrite = assertions.filter { $0.holdsAClosure && $0.inAClosure }
        let ordered = Set(rewrite.map { LocatedLine(file: $0.file, line: $0.line) }).sorted { ($0.file, $0.line) < ($1.file, $1.line) }
        return ordered.map { "\($0.file):\($0.line)" }
    }

    struct LocatedLine: Hashable {
        var file: String
        var line: Int
    }

    /// The toolchain's `swiftc -dump-parse` of `files` (paths relative to `dir`): its exit status and
    /// the tree (on standard output for one file, on standard error for several).
    static func parseDump(_ files: [String], in dir: URL) async throws -> (status: Int32, dump: String) {
        try await offPool {
            let swiftc = Process()
            swiftc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            swiftc.arguments = ["swiftc", "-dump-parse"] + files
            swiftc.currentDirectoryURL = dir
            let pipe = Pipe()
            swiftc.standardError = pipe
            swiftc.standardOutput = pipe
            try swiftc.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            swiftc.waitUntilGone()
            return (swiftc.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }

    @Test func noClosureLiteralInAnAssertionInsideAClosure() async throws {
        let tests = PackagePaths.root.appendingPathComponent("Tests")
        let walker = try #require(FileManager.default.enumerator(atPath: tests.path))
        let files = walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.sorted().map { "Tests/" + $0 }
        #expect(files.count > 100, "the test files were not found under \(tests.path)")
        let (status, dump) = try await Self.parseDump(files, in: PackagePaths.root)
        #expect(status == 0, "swiftc -dump-parse failed: \(dump.prefix(2000))")
        let parsed = Self.assertions(inParseDump: dump)
        #expect(parsed.count > 1000, "the parse dump was not read: \(parsed.count) assertions")
        let sites = Self.sites(parsed)
        #expect(sites == [], "compute the value before the macro, as AwaitedCleanup.swift's note says")
    }

    @Test func theScanFindsAClosureInAnAssertionInAClosureAndOnlyThere() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("closures-in-assertions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
            import Testing
            func inClosure(_ body: () throws -> Void) rethrows { try body() }
            @Test func sample() throws {
                let xs = [1, 2, 3]
                #expect(xs.filter { $0 > 1 }.count == 2)
                inClosure {
                    #expect(xs.contains { $0 == 3 })
                    #expect(throws: (any Error).self) { throw CancellationError() }
                    let big = xs.filter { $0 > 1 }
                    #expect(big.count == 2)
                    func nested() { #expect(xs.allSatisfy { $0 > 0 }) }
                    try inClosure {
                        let first = try #require(
                            xs.first { $0 == 1 })
                        #expect(first == 1)
                    }
                }
            }
            """.write(to: dir.appendingPathComponent("Sample.swift"), atomically: true, encoding: .utf8)
        let (status, dump) = try await Self.parseDump(["Sample.swift"], in: dir)
        #expect(status == 0, "\(dump.prefix(2000))")
        let parsed = Self.assertions(inParseDump: dump)
        let sites = Self.sites(parsed)
        // line 14: the `#require(` on 13 is reported where its argument starts
        #expect(sites == ["Sample.swift:7", "Sample.swift:14"])
    }
}
