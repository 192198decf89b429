import Testing
@testable import SluiceCore

@Suite struct JSONTests {
    @Test func parsesAndNavigatesTheTape() throws {
        let parser = JSONParser()
        let result = parser.parse(#"{"a":{"b":[1,2.5,"x",true,null]},"n":-3,"big":18446744073709551615,"s":"h\u00e9"}"#) { doc in
            let root = doc.root
            #expect(root.kind == .object)
            #expect(root.count == 4)
            let b = root.value(atPath: "a.b")!
            #expect(b.kind == .array)
            var kinds: [JSONKind] = []
            b.forEachElement { kinds.append($0.kind) }
            #expect(kinds == [.number, .number, .string, .bool, .null])
            #expect(root["n"]?.int64 == -3)
            #expect(root["big"]?.double == 18446744073709551615.0)
            #expect(root["s"]?.string == "hé")
            return JSON(root)
        }
        let json = try result.get()
        #expect(json.value(atPath: "a.b") == [1, 2.5, "x", true, nil])
        #expect(json.serialized() == #"{"a":{"b":[1,2.5,"x",true,null]},"n":-3,"big":18446744073709551615,"s":"hé"}"#)
    }

    @Test(arguments: [
        ("not json", JSONRejection.notJSON),
        ("", JSONRejection.empty),
        (String(repeating: "[", count: 100) + String(repeating: "]", count: 100), JSONRejection.tooDeep),
    ])
    func rejectsBadInput(text: String, reason: JSONRejection) {
        let parser = JSONParser(maxBytes: 4096, maxDepth: 64)
        switch parser.parse(text, { _ in () }) {
        case .success: Issue.record("accepted \(text)")
        case .failure(let r): #expect(r == reason)
        }
    }

    @Test func rejectsInvalidUTF8AndOversize() {
        let parser = JSONParser(maxBytes: 64, maxDepth: 8)
        let bad: [UInt8] = Array("{\"a\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8)
        #expect(parser.parse(bad, { _ in true }) == .failure(.invalidUTF8))
        #expect(parser.parse(String(repeating: " ", count: 100) + "1", { _ in true }) == .failure(.tooLarge))
    }
}
