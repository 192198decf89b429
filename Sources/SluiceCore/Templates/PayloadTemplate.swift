import Mustache

/// A Mustache template that renders a payload from a finding. Values are escaped for the
/// payload's format: JSON string escaping for JSON targets (so a finding title with quotes
/// cannot break the document), none for text.
public struct PayloadTemplate: Sendable {
    public enum Format: Sendable {
        case json, text
        /// A URL: every value is percent-encoded (`URLComponentContent`), so it stays inside the
        /// path segment or query value it was written in.
        case url
        /// JSON for Slack: values have `&`, `<` and `>` written as entities, as Slack's message
        /// formatting requires (`<!here>`, `<https://…|link>` in finding text stay text), then
        /// JSON string escaping.
        case slackJSON
        /// Text in Jira's wiki markup (Data Center descriptions and comments): values have every
        /// markup character backslash-escaped and line breaks made spaces, so finding text
        /// cannot add links, images, macros or headings.
        case jiraWiki
        /// JSON for the markdown chats (Microsoft Teams Adaptive Cards, Mattermost, Discord):
        /// values have a WORD JOINER (U+2060, invisible) after each `]`, so finding text can never
        /// close a link or image label onto its target — `[here](https://…)`, `![t](https://…)`,
        /// `[x][ref]` stay text in every markdown dialect, whether or not it honours backslash
        /// escapes — then JSON string escaping. URLs Sluice builds (console links) hold no `]`.
        case chatMarkdownJSON
        /// JSON for Google Chat: values have a WORD JOINER after each `<`, so finding text can
        /// start neither a link or mention of the text format (`<https://…|here>`, `<users/all>`)
        /// nor an HTML tag of card text (`<a href=…>`, `<img …>`), then JSON string escaping.
        case googleChatJSON

        /// Formats whose output is a JSON document (values inside JSON string literals).
        public var isJSON: Bool {
            switch self {
            case .json, .slackJSON, .chatMarkdownJSON, .googleChatJSON: return true
            case .text, .url, .jiraWiki: return false
            }
        }
    }

    public let source: String
    public let format: Format
    private let template: MustacheTemplate

    /// Compiles `source`; throws a message saying what is wrong (for `sluice validate`).
    public init(_ source: String, format: Format) throws(TemplateError) {
        PayloadTemplate.registerContentTypes
        if format.isJSON, let tag = PayloadTemplate.unescapedTag(in: source) {
            // {{{…}}} and {{&…}} skip escaping, and a new delimiter could hide them: either lets a
            // finding's text close the JSON string it sits in and write the payload's structure.
            throw TemplateError(message: "'\(tag)' would insert finding text unescaped into JSON; use {{name}} (values are JSON-escaped)")
        }
        self.source = source
        self.format = format
        // The library renders an unclosed `{{tag` as text; such a template is a mistake.
        let issues = TemplateCheck.syntaxIssues(source)
        if !issues.isEmpty {
            throw TemplateError(message: "invalid template: " + issues.map(\.description).joined(separator: "; "))
        }
        let pragma = switch format {
        case .json: "{{% CONTENT_TYPE: JSON }}"
        case .text: "{{% CONTENT_TYPE: TEXT }}"
        case .url: "{{% CONTENT_TYPE: URL }}"
        case .slackJSON: "{{% CONTENT_TYPE: SLACK_JSON }}"
        case .jiraWiki: "{{% CONTENT_TYPE: JIRA_WIKI }}"
        case .chatMarkdownJSON: "{{% CONTENT_TYPE: CHAT_MARKDOWN_JSON }}"
        case .googleChatJSON: "{{% CONTENT_TYPE: GOOGLE_CHAT_JSON }}"
        }
        do {
            template = try MustacheTemplate(string: pragma + source)
        } catch {
            throw TemplateError(message: "invalid template: \(error)")
        }
    }

    /// The first tag that would bypass escaping or change the delimiters (`{{{`, `{{&`, `{{=`,
    /// spaces allowed after `{{`), if any.
    static func unescapedTag(in source: String) -> String? {
        // One pass over the bytes: `range(of:)` on the rest copied it at every `{{` (a 10 MB
        // template of nested sections took minutes in `validate`).
        let b = Array(source.utf8)
        var i = 0
        while i + 1 < b.count {
            guard b[i] == UInt8(ascii: "{"), b[i + 1] == UInt8(ascii: "{") else {
                i += 1
                continue
            }
            i += 2
            var j = i
            while j < b.count, b[j] == UInt8(ascii: " ") || b[j] == UInt8(ascii: "\t") { j += 1 }
            if j < b.count, b[j] == UInt8(ascii: "{") || b[j] == UInt8(ascii: "&") || b[j] == UInt8(ascii: "=") {
                return "{{" + String(UnicodeScalar(b[j]))
            }
        }
        return nil
    }

    /// Renders with `event` as the context: `{{detail.title}}`, `{{#detail.resource.instanceDetails}}…`.
    public func render(_ event: JSONView) -> String {
        template.render(PayloadTemplate.context(event))
    }

    public func render(_ event: JSON) -> String {
        template.render(PayloadTemplate.context(event))
    }

    /// Renders with the event and, under `sluice`, the finding summary every default template uses;
    /// `hold` becomes `sluice.hold` (a delivery released after held repeats: `held_count`, `first_seen`, `last_seen`).
    public func render(_ event: JSON, summary: (any TemplateSummary)?, hold: HoldTemplateContext? = nil) -> String {
        guard summary != nil || hold != nil, var context = PayloadTemplate.context(event) as? [String: Any] else { return render(event) }
        var sluice = summary?.templateContext ?? [:]
        if let hold { sluice["hold"] = hold.templateContext }
        context["sluice"] = sluice
        return template.render(context)
    }

    /// Whether the template reads `sluice.hold.*` (then a delivery released by dedupe is rendered
    /// again with it; other targets keep the payload rendered at plan time).
    public var readsHold: Bool { source.contains("sluice.hold") }

    static func context(_ v: JSONView) -> Any {
        switch v.kind {
        case .object:
            var d: [String: Any] = [:]
            v.forEachMember { k, x in d[String(decoding: k, as: UTF8.self)] = context(x) }
            return d
        case .array:
            var a: [Any] = []
            v.forEachElement { a.append(context($0)) }
            return a
        case .string: return v.string ?? ""
        case .number: return v.int64.map { Int($0) as Any } ?? (v.double ?? 0) as Any
        case .bool: return v.bool ?? false
        case .null: return Optional<String>.none as Any
        }
    }

    /// `v` as a Mustache context (dictionaries, arrays, strings, numbers): also what a
    /// `TemplateSummary` builds its own context from.
    public static func context(_ v: JSON) -> Any {
        switch v {
        case .object(let m): return Dictionary(m.map { ($0.key, context($0.value)) }, uniquingKeysWith: { $1 })
        case .array(let a): return a.map(context)
        case .string(let s): return s
        case .number(let d, let text): return Int(text).map { $0 as Any } ?? d
        case .bool(let b): return b
        case .null: return Optional<String>.none as Any
        }
    }

    private static let registerContentTypes: Void = {
        MustacheContentTypes.register(JSONStringContent(), named: "JSON")
        MustacheContentTypes.register(URLComponentContent(), named: "URL")
        MustacheContentTypes.register(SlackJSONContent(), named: "SLACK_JSON")
        MustacheContentTypes.register(JiraWikiContent(), named: "JIRA_WIKI")
        MustacheContentTypes.register(MarkupBreakingJSONContent(after: ["]"]), named: "CHAT_MARKDOWN_JSON")
        MustacheContentTypes.register(MarkupBreakingJSONContent(after: ["<"]), named: "GOOGLE_CHAT_JSON")
    }()
}

/// Escapes a value for the inside of a JSON string literal.
struct JSONStringContent: MustacheContentType {
    func escapeText(_ text: String) -> String {
        var out = ""
        JSON.writeString(text, to: &out)
        return String(out.dropFirst().dropLast())
    }
}

/// Slack's three control characters as entities ("Formatting text for app surfaces": escape
/// `&`, `<`, `>`), then JSON string escaping.
struct SlackJSONContent: MustacheContentType {
    func escapeText(_ text: String) -> String {
        var entities = ""
        entities.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": entities += "&amp;"
            case "<": entities += "&lt;"
            case ">": entities += "&gt;"
            default: entities.unicodeScalars.append(scalar)
            }
        }
        return JSONStringContent().escapeText(entities)
    }
}

/// Chat markup made inert by a WORD JOINER (U+2060) after each character of `after`, then JSON
/// string escaping. The joiner is invisible and is no markup character in any chat's syntax, so the
/// construct that character would open or close is broken while the text reads the same.
struct MarkupBreakingJSONContent: MustacheContentType {
    static let wordJoiner: Unicode.Scalar = "\u{2060}"
    let after: Set<Unicode.Scalar>

    func escapeText(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            out.unicodeScalars.append(scalar)
            if after.contains(scalar) { out.unicodeScalars.append(Self.wordJoiner) }
        }
        return JSONStringContent().escapeText(out)
    }
}

/// Jira wiki markup ("Text Formatting Notation"): a backslash before each character that starts
/// or ends markup (`*_-+^~?{}[]!|#\`) makes it literal; CR and LF become spaces so a value never
/// starts a line (headings `h1.`, quotes `bq.`, lists and rules act only at a line's start).
struct JiraWikiContent: MustacheContentType {
    static let markup: Set<Unicode.Scalar> = ["*", "_", "-", "+", "^", "~", "?", "{", "}", "[", "]", "!", "|", "#", "\\"]

    func escapeText(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar == "\r" || scalar == "\n" {
                out += " "
            } else {
                if Self.markup.contains(scalar) { out += "\\" }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// Percent-encodes a value for any URL component: every byte but RFC 3986's unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`), so a value can never add a `/`, `?`, `#`, `&`, `=`, `@`
/// or `:` of its own.
public struct URLComponentContent: MustacheContentType {
    public init() {}

    public func escapeText(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public struct TemplateError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
