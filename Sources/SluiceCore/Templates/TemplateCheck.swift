import Foundation

/// Checks on a Mustache payload template beyond what the Mustache library rejects: tags left
/// open (`{{detail.title`, which the library renders as text), sections closed out of order,
/// JSON payloads that are not JSON once rendered, and variables naming a finding field that a
/// registered `FindingFieldModel` says the finding cannot have (`{{detail.titel}}` renders
/// empty) or a member the `sluice` view does not have (`{{sluice.titel}}`).
public enum TemplateCheck {
    /// A problem at a 1-based line and column of the template text.
    public struct Issue: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var column: Int
        public var message: String
        public var description: String { "template line \(line), column \(column): \(message)" }
    }

    /// A tag of the template: its kind (`#`, `^`, `/`, `&`, `{`, `!`, `>`, `=` or none) and name.
    struct Tag {
        var sigil: Character?
        var name: String
        var line: Int
        var column: Int
    }

    /// The deepest nesting of sections a template may have; payloads nest a few.
    public static let maxSectionDepth = 32

    /// Mustache syntax errors: unclosed tags, unbalanced or mismatched sections, sections nested
    /// deeper than `maxSectionDepth`.
    public static func syntaxIssues(_ source: String) -> [Issue] {
        switch tags(source) {
        case .failure(let issue): return [issue]
        case .success(let tags):
            var issues: [Issue] = []
            var open: [Tag] = []
            for tag in tags {
                switch tag.sigil {
                case "#", "^":
                    open.append(tag)
                    if open.count > maxSectionDepth {
                        // The library parses and renders a section by recursion: 1,000 nested ones overflowed the stack.
                        return [Issue(line: tag.line, column: tag.column, message: "sections nested deeper than \(maxSectionDepth) levels")]
                    }
                case "/":
                    guard let top = open.popLast() else {
                        issues.append(Issue(line: tag.line, column: tag.column, message: "{{/\(tag.name)}} closes a section that is not open"))
                        continue
                    }
                    if top.name != tag.name {
                        issues.append(Issue(line: tag.line, column: tag.column,
                                            message: "{{/\(tag.name)}} closes {{\(top.sigil.map(String.init) ?? "")\(top.name)}} opened at line \(top.line), column \(top.column)"))
                    }
                default: break
                }
            }
            for tag in open {
                issues.append(Issue(line: tag.line, column: tag.column, message: "section {{\(tag.sigil.map(String.init) ?? "")\(tag.name)}} is never closed with {{/\(tag.name)}}"))
            }
            return issues
        }
    }

    /// The tags of `source`, or the first tag left open. A delimiter change (`{{=<% %>=}}`) ends
    /// the scan: what follows is left to the Mustache library.
    static func tags(_ source: String) -> Result<[Tag], Issue> {
        let chars = Array(source)
        var tags: [Tag] = []
        var i = 0, line = 1, column = 1
        func advance(_ n: Int) {
            for _ in 0..<n {
                if i < chars.count, chars[i] == "\n" { line += 1; column = 1 } else { column += 1 }
                i += 1
            }
        }
        func starts(_ s: String, at k: Int) -> Bool {
            let p = Array(s)
            return k + p.count <= chars.count && Array(chars[k..<(k + p.count)]) == p
        }
        while i < chars.count {
            guard starts("{{", at: i) else { advance(1); continue }
            let (tagLine, tagColumn) = (line, column)
            let triple = starts("{{{", at: i)
            let close = triple ? "}}}" : "}}"
            var j = i + (triple ? 3 : 2)
            while j < chars.count, !starts(close, at: j), !starts("{{", at: j) { j += 1 }
            guard j < chars.count, starts(close, at: j) else {
                let opened = String(chars[i..<min(chars.count, i + 24)]).split(separator: "\n").first.map(String.init) ?? ""
                return .failure(Issue(line: tagLine, column: tagColumn, message: "tag `\(opened)` is never closed with `\(close)`"))
            }
            var body = String(chars[(i + (triple ? 3 : 2))..<j]).trimmingCharacters(in: .whitespaces)
            var sigil: Character? = triple ? "{" : nil
            if !triple, let first = body.first, "#^/&!>=".contains(first) {
                sigil = first
                body = String(body.dropFirst()).trimmingCharacters(in: .whitespaces)
            }
            if sigil == "=" { return .success(tags) }
            tags.append(Tag(sigil: sigil, name: body, line: tagLine, column: tagColumn))
            advance(j + close.count - i)
        }
        return .success(tags)
    }

    /// For a template whose payload is a JSON document: the error when rendering it for `sample`
    /// (the format layer's sample finding) does not give JSON.
    public static func jsonIssue(_ template: PayloadTemplate, sample: TemplateSample) -> String? {
        let text = template.render(sample.event, summary: sample.summary)
        do {
            _ = try JSON.parse(text)
            return nil
        } catch {
            let shown = text.count > 120 ? String(text.prefix(120)) + "…" : text
            return "the payload is sent as JSON but, rendered for a sample \(sample.kind), is not JSON (\(error.rawValue)): \(shown)"
        }
    }

    /// Variables naming a finding path (`detail.…`) that a registered `FindingFieldModel` says
    /// the finding cannot have. Names inside sections are relative to the section and are
    /// checked only when they start with a model's root. With no model registered, only the
    /// `sluice` view (Sluice's own schema) is checked.
    public static func variableIssues(_ source: String) -> [Issue] {
        guard case .success(let tags) = tags(source) else { return [] }
        var issues: [Issue] = []
        for tag in tags where tag.sigil == nil || tag.sigil == "&" || tag.sigil == "{" || tag.sigil == "#" || tag.sigil == "^" {
            let path = tag.name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            // The view is Sluice's own schema, the same for every format (docs/formats.md §2, §9).
            if path.count > 1, path[0] == "sluice" {
                if let problem = SluiceViewSchema.problem(Array(path.dropFirst()), use: .template) {
                    issues.append(Issue(line: tag.line, column: tag.column, message: "\(problem), so {{\(tag.name)}} renders empty"))
                }
                continue
            }
            guard path.count > 1 else { continue }
            let models = FindingFieldModels.models(forTemplateRoot: path[0])
            // A path any model for this root has is fine; the first model words the warning.
            guard let model = models.first, !models.contains(where: { $0.shape(at: path) != nil }) else { continue }
            let alternatives = model.paths(endingWith: path[path.count - 1], limit: 3)
            let near = nearestPath(tag.name, in: model)
            let hint = near.map { " (did you mean {{\($0)}}?)" }
                ?? (alternatives.isEmpty ? "" : " (did you mean \(alternatives.map { "{{\($0)}}" }.joined(separator: " or "))?)")
            issues.append(Issue(line: tag.line, column: tag.column,
                                message: "a \(model.productName) finding has no field `\(tag.name)`, so {{\(tag.name)}} renders empty\(hint)"))
        }
        return issues
    }

    /// A path of the model one or two typos away: the longest valid prefix plus the nearest member.
    static func nearestPath(_ dotted: String, in model: any FindingFieldModel) -> String? {
        let path = dotted.split(separator: ".").map(String.init)
        var valid = [path[0]]
        for key in path.dropFirst() {
            if model.shape(at: valid + [key]) != nil { valid.append(key); continue }
            guard case .structure(let name)? = model.shape(at: valid)?.element,
                  let members = model.members(ofStructure: name),
                  let near = members.min(by: { editDistance($0, key) < editDistance($1, key) }),
                  editDistance(near, key) <= 2 else { return nil }
            valid.append(near)
        }
        let fixed = valid.joined(separator: ".")
        return fixed == dotted ? nil : fixed
    }
}
