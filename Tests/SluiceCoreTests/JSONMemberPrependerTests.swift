import SluiceCore
import Testing

/// A member put first into a parsed document's tape reads, and matches, as if it had been in the
/// text that was parsed.
@Suite struct JSONMemberPrependerTests {
    static let text = #"{"a":[1,{"b":"x","c":[true,null]}],"n":-2.5,"big":18446744073709551615,"s":"y\u0000z","e":{},"f":[]}"#

    @Test func theDocumentReadsAsTheTextWithTheMemberFirst() throws {
        let parser = JSONParser()
        let prepender = JSONMemberPrepender()
        var got: JSON?
        var count = 0
        var tail: JSON?
        _ = parser.parse(Self.text) { doc in
            _ = prepender.withLeadingMember("v", in: doc.root, object: { w in
                w.string("k", "quote \" and \u{1} é")
                w.int("i", 42)
                w.object("o") { o in
                    o.int("neg", -7)
                    o.object("empty") { _ in }
                }
            }) { root in
                got = JSON(root)
                count = root.count
                tail = root["f"].map(JSON.init)
            }
        }
        let want = try JSON.parse(#"{"v":{"k":"quote \" and \u0001 é","i":42,"o":{"neg":-7,"empty":{}}},"#
            + #""a":[1,{"b":"x","c":[true,null]}],"n":-2.5,"big":18446744073709551615,"s":"y\u0000z","e":{},"f":[]}"#)
        #expect(got == want)
        #expect(count == 7)
        #expect(tail == .array([]))
    }

    @Test func routesMatchTheMemberAndTheRestAlike() throws {
        let table = try RouteTable(routes: [
            Route(name: "member", match: ["v": ["i": [["numeric": [">", 40]]]]], targets: [RouteTarget(connector: "sink")]),
            Route(name: "rest", match: ["a": ["b": ["x"]], "s": [["prefix": "y"]]], targets: [RouteTarget(connector: "sink")]),
            Route(name: "nested", match: ["v": ["o": ["neg": [-7]]]], targets: [RouteTarget(connector: "sink")]),
            Route(name: "never", match: ["v": ["i": [41]]], targets: [RouteTarget(connector: "sink")]),
        ])
        let parser = JSONParser()
        let prepender = JSONMemberPrepender()
        var matched: [Int]?
        _ = parser.parse(Self.text) { doc in
            matched = prepender.withLeadingMember("v", in: doc.root, object: { w in
                w.int("i", 42)
                w.object("o") { $0.int("neg", -7) }
            }) { table.match($0) }
        }
        #expect(matched == [0, 1, 2])
    }

    @Test func onlyARootObjectTakesAMember() {
        let parser = JSONParser()
        let prepender = JSONMemberPrepender()
        var results: [Bool] = []
        for text in [#"[1,2]"#, #"{"a":{"b":1}}"#] {
            _ = parser.parse(text) { doc in
                results.append(prepender.withLeadingMember("v", in: doc.root, object: { _ in }) { _ in true } != nil)
                if let inner = doc.root["a"] { results.append(prepender.withLeadingMember("v", in: inner, object: { _ in }) { _ in true } != nil) }
            }
        }
        #expect(results == [false, true, false])
    }
}
