import Yams

/// A YAML node with its file position, for loaders that must report `path:line:column`.
/// Yams keeps a `Mark` (0-based line and column) on every node; this type turns those into
/// diagnostics and converts scalars with YAML 1.2 core-schema typing.
public struct YAMLNode: @unchecked Sendable {  // Yams.Node is a value type of strings and arrays; never mutated after load
    public let node: Node
    public let path: String

    public init(node: Node, path: String) {
        self.node = node
        self.path = path
    }

    /// Loads one YAML document, then interpolates `${VAR}` from `environment` into its scalars.
    /// Parsing the file as written means a YAML error quotes the file as written (never a secret
    /// substituted into it), and a value can never change the document's structure: a `#` in a
    /// secret is not a comment, a newline in a variable does not add a key.
    public static func load(path: String, text: String, environment: [String: String]) throws(Diagnostics) -> YAMLNode? {
        // Counted from libyaml's events before Yams composes (and before interpolation walks the
        // tree): an alias bomb is refused at the alias that explodes.
        if let at = YAMLExpansionBound.firstAliasOverBound(text, maxNodes: maxNodes) {
            throw Diagnostics([Diagnostic(path: path, line: at.line, column: at.column,
                                          message: "here the file expands to more than \(maxNodes) YAML nodes once aliases are expanded: at most \(maxNodes) per file")])
        }
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else { return nil }
            node = composed
        } catch let error as YamlError {
            throw Diagnostics([YAMLNode.diagnostic(for: error, path: path)])
        } catch {
            throw Diagnostics([Diagnostic(path: path, message: "invalid YAML: \(type(of: error))")])
        }
        var problems: [Diagnostic] = []
        let interpolated = interpolate(node, environment: environment, path: path, problems: &problems)
        if !problems.isEmpty { throw Diagnostics(problems) }
        return YAMLNode(node: interpolated, path: path)
    }

    /// A configuration file's bytes as text. Invalid UTF-8 is an error at its first bad byte:
    /// decoded, it would become U+FFFD and a name or value nobody wrote.
    public static func text(of bytes: some Collection<UInt8>, path: String) throws(Diagnostics) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var line = 1, column = 1
        while case .valid(let scalar) = parser.parseScalar(from: &iterator) {
            if scalar.first == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
        }
        throw Diagnostics([Diagnostic(path: path, line: line, column: column, message: "invalid UTF-8: a configuration file must be UTF-8 text")])
    }

    /// The 1-based line and column (counted in Unicode scalars, as Yams counts) of the
    /// character at `offset`: where libyaml's reader stopped (a NUL or other control character).
    static func position(ofCharacter offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for c in text.prefix(offset) {
            if c.isNewline { line += 1; column = 1 } else { column += c.unicodeScalars.count }
        }
        return (line, column)
    }

    /// `node` with `${VAR}` replaced in every scalar (keys included); problems located in the file.
    static func interpolate(_ node: Node, environment: [String: String], path: String, problems: inout [Diagnostic]) -> Node {
        switch node {
        case .scalar(var scalar):
            guard scalar.string.contains("${") else { return node }
            do {
                let tag = scalar.tag
                scalar.string = try EnvironmentInterpolation.apply(scalar.string, environment: environment)
                scalar.tag = tag  // setting `string` resets it
            } catch {
                let line = (scalar.mark?.line ?? 1) + error.line - 1
                let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
                let column = error.line == 1 ? (scalar.mark?.column ?? 1) + (quoted ? 1 : 0) + error.column - 1 : error.column
                problems.append(Diagnostic(path: path, line: line, column: column, message: error.message))
            }
            return .scalar(scalar)
        case .mapping(let mapping):
            let pairs = mapping.map { (interpolate($0.key, environment: environment, path: path, problems: &problems),
                                       interpolate($0.value, environment: environment, path: path, problems: &problems)) }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark))
        case .sequence(let sequence):
            let items = sequence.map { interpolate($0, environment: environment, path: path, problems: &problems) }
            return .sequence(Node.Sequence(items, sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }

    /// The most nodes a file may hold once its aliases are expanded (see `YAMLExpansionBound`).
    /// A 40,000-item value list is far below it.
    public static let maxNodes = 1_000_000

    static func diagnostic(for error: YamlError, path: String) -> Diagnostic {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return Diagnostic(path: path, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)")
        case .composer(_, let problem, let mark, _):
            return Diagnostic(path: path, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)")
        case .reader(let problem, let offset, _, let yaml):
            let at = position(ofCharacter: offset ?? 0, in: yaml)
            return Diagnostic(path: path, line: at.line, column: at.column, message: "invalid YAML: \(problem)")
        default:
            return Diagnostic(path: path, message: "invalid YAML: \(error)")
        }
    }

    public var line: Int { (node.mark?.line ?? 0) }
    public var column: Int { (node.mark?.column ?? 0) }

    /// A diagnostic located at this node.
    public func error(_ message: String) -> Diagnostic {
        Diagnostic(path: path, line: max(line, 1), column: max(column, 1), message: message)
    }

    public var isMapping: Bool { node.mapping != nil }
    public var isSequence: Bool { node.sequence != nil }
    public var isNull: Bool { node.scalar.map { YAMLNode.isNullScalar($0) } ?? false }

    /// Mapping entries in document order, with the key node (for positions of unknown keys).
    public var entries: [(key: String, keyNode: YAMLNode, value: YAMLNode)] {
        guard let mapping = node.mapping else { return [] }
        return mapping.map { k, v in (k.string ?? "", YAMLNode(node: k, path: path), YAMLNode(node: v, path: path)) }
    }

    public subscript(key: String) -> YAMLNode? {
        guard let mapping = node.mapping else { return nil }
        return mapping[key].map { YAMLNode(node: $0, path: path) }
    }

    public var items: [YAMLNode] { node.sequence?.map { YAMLNode(node: $0, path: path) } ?? [] }

    public var string: String? { node.scalar?.string }

    /// Converts the node to JSON, typing plain scalars by the YAML 1.2 core schema (so a JSON
    /// pattern pasted into YAML keeps its numbers, booleans and nulls; quoted scalars stay strings).
    public func json() -> JSON {
        switch node {
        case .scalar(let s):
            if s.style != .plain { return .string(s.string) }
            if YAMLNode.isNullScalar(s) { return .null }
            switch s.string {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: break
            }
            if let number = YAMLNode.number(s.string) { return number }
            return .string(s.string)
        case .mapping(let m):
            return .object(m.map { k, v in (key: k.string ?? "", value: YAMLNode(node: v, path: path).json()) })
        case .sequence(let seq):
            return .array(seq.map { YAMLNode(node: $0, path: path).json() })
        case .alias:
            return .null
        }
    }

    static func isNullScalar(_ s: Node.Scalar) -> Bool {
        s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// YAML 1.2 core-schema numbers, kept with their text so `8.90` stays `8.90`.
    static func number(_ text: String) -> JSON? {
        guard let first = text.unicodeScalars.first, "+-.0123456789".unicodeScalars.contains(first) else { return nil }
        guard text.allSatisfy({ "+-.0123456789eE".contains($0) }), let d = Double(text), d.isFinite else { return nil }
        return .number(d, text: text.hasPrefix("+") ? String(text.dropFirst()) : text)
    }
}
