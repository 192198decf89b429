import Mustache

/// A Mustache template that renders a payload from a finding. Values are escaped for the
/// payload's format: JSON string escaping for JSON targets (so a finding title with quotes
/// cannot break the document), none for text.
public struct PayloadTemplate: Sendable {
    public enum Format: Sendable { case json, text }

    public let source: String
    public let format: Format
    private let template: MustacheTemplate

    /// Compiles `source`; throws a message saying what is wrong (for `sluice validate`).
    public init(_ source: String, format: Format) throws(TemplateError) {
        PayloadTemplate.registerContentTypes
        self.source = source
        self.format = format
        // The library renders an unclosed `{{tag` as text; such a template is a mistake.
        let issues = TemplateCheck.syntaxIssues(source)
        if !issues.isEmpty {
            throw TemplateError(message: "invalid template: " + issues.map(\.description).joined(separator: "; "))
        }
        let pragma = format == .json ? "{{% CONTENT_TYPE: JSON }}" : "{{% CONTENT_TYPE: TEXT }}"
        do {
            template = try MustacheTemplate(string: pragma + source)
        } catch {
            throw TemplateError(message: "invalid template: \(error)")
        }
    }

    /// Renders with `event` as the context: `{{detail.title}}`, `{{#detail.resource.instanceDetails}}…`.
    public func render(_ event: JSONView) -> String {
        template.render(PayloadTemplate.context(event))
    }

    public func render(_ event: JSON) -> String {
        template.render(PayloadTemplate.context(event))
    }

    /// Renders with the event and, under `sluice`, the finding summary every default template uses.
    public func render(_ event: JSON, summary: FindingSummary?) -> String {
        guard let summary, var context = PayloadTemplate.context(event) as? [String: Any] else { return render(event) }
        context["sluice"] = summary.templateContext
        return template.render(context)
    }

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

    static func context(_ v: JSON) -> Any {
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

public struct TemplateError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
