import Testing
@testable import SluiceCore

/// A selection must name a path's members exactly as `JSON.value(atPath:)` does, byte for byte,
/// or the Hold stage's copy reads a rule's key differently from the whole event (issue 10 audit).
@Suite struct JSONPathSelectionTests {
    static func selected(_ paths: [String], of doc: String) throws -> JSON {
        let members = try JSONParser().parse(Array(doc.utf8)) { JSONPathSelection(paths).members(of: $0.root) }.get()
        return .object(members)
    }

    /// `.` then a combining mark is one Character: a Character split kept "a.\u{301}b" whole.
    @Test func aDotBeforeACombiningMarkStillSplitsThePath() throws {
        let doc = #"{"a": {"\u0301b": 1}}"#
        let path = "a.\u{301}b"
        #expect(try JSON.parse(doc).value(atPath: path) == (try JSON.parse("1")))
        #expect(try Self.selected([path], of: doc).value(atPath: path) == (try JSON.parse("1")))
    }

    /// "é" and "e\u{301}" are equal Strings but two member names: both paths are selected.
    @Test func canonicallyEquivalentNamesAreTwoPaths() throws {
        let doc = #"{"\u00e9": 1, "e\u0301": 2}"#
        let selection = try Self.selected(["\u{e9}", "e\u{301}"], of: doc)
        #expect(selection.value(atPath: "\u{e9}") == (try JSON.parse("1")))
        #expect(selection.value(atPath: "e\u{301}") == (try JSON.parse("2")))
        #expect(JSONPathSelection(["e\u{301}"]).hasRoot("\u{e9}") == false)
    }
}
