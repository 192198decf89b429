import Testing
@testable import SluiceCore

/// What the fuzzers found (docs/fuzzing.md), each pinned with literal expectations.
@Suite struct FuzzFindingsTests {
    /// FuzzJSONMatch, 2026-12-07: a member named "" at the root was no step for the reference
    /// matcher, so `{"": {"detail": {…}}}` flattened to `detail.region` and the reference matched
    /// a `detail` pattern the compiled matcher (rightly) did not.
    @Test func aRootMemberNamedEmptyIsAStepOfItsOwn() throws {
        let pattern = #"{"detail": {"region": [{"anything-but": {"prefix": "us-"}}], "accountId": [{"exists": true}]}}"#
        let nested = #"{"": {"detail": {"region": "eu-west-1", "accountId": "444455556666"}}}"#
        #expect(try PatternCheck.matches(pattern, nested) == false)
        #expect(ReferenceMatcher.flatten(try JSON.parse(nested)).map(\.path) == [".detail.region", ".detail.accountId"])
        // The same members without the empty step match both.
        #expect(try PatternCheck.matches(pattern, #"{"detail": {"region": "eu-west-1", "accountId": "444455556666"}}"#) == true)
        // Below the root an empty name was a step already, and stays one.
        #expect(ReferenceMatcher.flatten(try JSON.parse(#"{"a": {"": {"b": 1}}, "": 2}"#)).map(\.path) == ["a..b", ""])
    }
}
