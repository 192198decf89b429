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

    /// Only an object's first member of a name is selected, as `JSON`'s subscript reads it: for
    /// the first 64 selected names (a bit each) and past them, with the later duplicate first.
    @Test func aRepeatedMemberNameSelectsItsFirstValueOnly() throws {
        let names = (0..<70).map { "k\($0)" }
        let members = names.map { "\"\($0)\": 1" } + ["\"k3\": 2", "\"k68\": 2"]
        let doc = "{" + (["\"k68\": 0"] + members).joined(separator: ", ") + "}"
        let selection = try Self.selected(names, of: doc)
        let whole = try JSON.parse(doc)
        for name in names { #expect(selection.value(atPath: name) == whole[name], "\(name)") }
        #expect(selection.value(atPath: "k3") == (try JSON.parse("1")))
        #expect(selection.value(atPath: "k68") == (try JSON.parse("0")))
        guard case .object(let kept) = selection else { return #expect(Bool(false), "not an object") }
        #expect(kept.count == 70)
    }
}
