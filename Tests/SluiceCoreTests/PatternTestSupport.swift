import Foundation
import Testing
@testable import SluiceCore

/// Locates ../shared beside the package root (CI clones the project with shared/ beside it).
enum SharedData {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let root = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")

    static func path(_ relative: String) -> String? {
        let p = root.appendingPathComponent(relative).path
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    static func json(_ relative: String) throws -> JSON? {
        guard let p = path(relative), let data = FileManager.default.contents(atPath: p) else { return nil }
        return try JSON.parse(String(decoding: data, as: UTF8.self), maxDepth: 1024)
    }
}

/// A route table's answers on events, checked against answers written out by hand: the
/// compiled matcher's (one scratch for all the events, as the runtime reuses it) and the
/// brute-force reference's.
enum RouteAnswers {
    static func check(_ table: RouteTable, _ cases: [(event: String, expected: [Int])], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let parser = JSONParser(maxBytes: 1 << 20, maxDepth: 64)
        let scratch = MatchScratch()
        for (text, expected) in cases {
            let reference = table.referenceMatch(try JSON.parse(text))
            let compiled = try parser.parse(Array(text.utf8)) { table.match($0.root, scratch: scratch) }.get()
            #expect(reference == expected, "reference on \(text)", sourceLocation: sourceLocation)
            #expect(compiled == expected, "compiled on \(text)", sourceLocation: sourceLocation)
        }
    }
}

/// Runs one pattern against one event through every matcher Sluice has and checks they agree.
enum PatternCheck {
    /// The compiled matcher's answer (through a one-route table).
    static func compiled(_ pattern: JSON, _ event: JSON) throws -> Bool {
        let table = try RouteTable(routes: [Route(name: "r", match: pattern, targets: [RouteTarget(connector: "c")])])
        let parser = JSONParser(maxBytes: 1 << 22, maxDepth: 1024)
        let result = parser.parse(event.serialized()) { doc in table.match(doc.root) }
        return try !result.get().isEmpty
    }

    /// Both answers; records an issue when they differ.
    static func evaluate(_ pattern: JSON, _ event: JSON, sourceLocation: SourceLocation = #_sourceLocation) throws -> Bool {
        let p = try Pattern(json: pattern)
        let reference = ReferenceMatcher.matches(p, event)
        let fast = try compiled(pattern, event)
        #expect(reference == fast, "reference \(reference) != compiled \(fast) for \(pattern.serialized()) on \(event.serialized())", sourceLocation: sourceLocation)
        return reference
    }

    static func matches(_ pattern: String, _ event: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Bool {
        try evaluate(try JSON.parse(pattern), try JSON.parse(event), sourceLocation: sourceLocation)
    }

    static func rejection(_ pattern: String) -> String? {
        do {
            _ = try Pattern(text: pattern)
            return nil
        } catch { return error.message }
    }
}
