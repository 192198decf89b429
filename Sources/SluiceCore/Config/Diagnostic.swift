/// A problem in a route, connector or config file, located for `path:line:column: message`
/// output (`sluice validate`). Lines and columns are 1-based; 0 means "the whole file".
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var column: Int
    public var message: String
    /// A warning is printed but does not fail validation (a likely mistake, not an invalid file).
    public var isWarning: Bool

    public init(path: String, line: Int = 0, column: Int = 0, message: String, isWarning: Bool = false) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        self.isWarning = isWarning
    }

    /// The same place and text, as a warning.
    public var asWarning: Diagnostic {
        var d = self
        d.isWarning = true
        return d
    }

    public var description: String {
        let text = isWarning ? "warning: " + message : message
        return line > 0 ? "\(path):\(line):\(column): \(text)" : "\(path):1:1: \(text)"
    }
}

/// Every problem found while loading a set of files. Loading reports all of them, not the first.
public struct Diagnostics: Error, Sendable, CustomStringConvertible {
    public var items: [Diagnostic]
    public init(_ items: [Diagnostic]) { self.items = items }
    public var description: String { items.map(\.description).joined(separator: "\n") }
}
