import SluiceCore
import Testing

/// Template escaping with hostile finding text: JSON targets get JSON string escaping, text
/// targets (Jira, ServiceNow descriptions) get the value verbatim — never HTML entities, never a
/// second round of template expansion.
@Suite struct PayloadTemplateTests {
    /// A title that tries every trick: quotes, backslash, line breaks, control bytes, markup and
    /// a Mustache tag of its own.
    static let hostile = "a \"quoted\" \\ back\nslash\r\t\u{01} <b>&amp;</b> {{sluice.account}} {{{raw}}} ünï 🚨"

    static let event: JSON = ["detail": ["title": .string(hostile), "n": 7]]

    @Test func jsonTargetsGetAValidStringWhateverTheTitle() throws {
        let template = try PayloadTemplate(#"{"title": "{{detail.title}}", "n": {{detail.n}}}"#, format: .json)
        let rendered = template.render(Self.event)
        #expect(rendered == #"{"title": "a \"quoted\" \\ back\nslash\r\t\u0001 <b>&amp;</b> {{sluice.account}} {{{raw}}} ünï 🚨", "n": 7}"#)
        let parsed = try JSON.parse(rendered)
        #expect(parsed["title"]?.stringValue == Self.hostile)
    }

    @Test(arguments: [#"{"t": "{{{detail.title}}}"}"#, #"{"t": "{{&detail.title}}"}"#, #"{"t": "{{ & detail.title}}"}"#,
                      #"{{=<% %>=}}{"t": "<%{detail.title}%>"}"#])
    func jsonTemplatesRefuseTagsThatSkipEscaping(source: String) {
        // Unescaped, a title with a quote would close the JSON string and write the payload.
        #expect(throws: TemplateError.self) { try PayloadTemplate(source, format: .json) }
    }

    @Test func textTemplatesMayUseTripleMustache() throws {
        // Text payloads have no escaping to skip: {{{…}}} renders the value as {{…}} does.
        let template = try PayloadTemplate("{{{detail.title}}}", format: .text)
        #expect(template.render(Self.event) == Self.hostile)
    }

    @Test func textTargetsGetTheValueVerbatim() throws {
        let template = try PayloadTemplate("Title: {{detail.title}}\nCount: {{detail.n}}", format: .text)
        #expect(template.render(Self.event) == "Title: \(Self.hostile)\nCount: 7")
    }

    @Test func aValueIsNeverExpandedAsATemplate() throws {
        let template = try PayloadTemplate("{{detail.title}}", format: .text)
        let rendered = template.render(Self.event)
        #expect(rendered.contains("{{sluice.account}}"))
        #expect(rendered.contains("{{{raw}}}"))
    }

    @Test func missingValuesRenderEmptyAndSectionsSkip() throws {
        let template = try PayloadTemplate("[{{detail.absent}}]{{#detail.absent}}never{{/detail.absent}}{{^detail.absent}}none{{/detail.absent}}", format: .text)
        #expect(template.render(Self.event) == "[]none")
    }
}
