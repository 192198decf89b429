import SluiceCore
import Testing

@Suite struct JSONBuilderTests {
    @Test func buildsAndSerializesInInsertionOrder() {
        let doc: JSONBuilder = ["event_action": "trigger", "payload": ["severity": 8.0, "ratio": 0.25, "ok": true, "tags": ["a", "b"]]]
        doc["dedup_key"] = .string("id \"quoted\"\n")
        #expect(doc.text == #"{"event_action":"trigger","payload":{"severity":8,"ratio":0.25,"ok":true,"tags":["a","b"]},"dedup_key":"id \"quoted\"\n"}"#)
    }

    @Test func patchesAParsedTemplateAndReportsBadJSON() throws {
        let doc = try JSONBuilder.parse(Array(#"{"text":"hi","n":[1,2]}"#.utf8)).get()
        doc["routing_key"] = "k"
        doc["text"] = nil
        #expect(doc["n"]?.count == 2)
        #expect(doc.string("routing_key") == "k")
        #expect(doc.text == #"{"n":[1,2],"routing_key":"k"}"#)
        guard case .failure(let e) = JSONBuilder.parse(Array("{oops".utf8)) else { Issue.record("expected an error"); return }
        #expect(e.message.contains("line 1"))
    }

    @Test func convertsOwnedJSON() throws {
        let json = try JSON.parse(#"{"a":[1,2.5,"x",null,false],"b":{"c":"d"}}"#)
        #expect(JSONBuilder(json).text == #"{"a":[1,2.5,"x",null,false],"b":{"c":"d"}}"#)
    }
}
