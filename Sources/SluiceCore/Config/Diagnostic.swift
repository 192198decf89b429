/// A problem in a route, connector or config file, located for `path:line:column: message`
/// output (`sluice validate`). Lines and columns are 1-based; 0 means "the whole file".
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(path: String, line: Int = 0, column: Int = 0, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        line > 0 ? "\(path):\(line):\(column): \(message)" : "\(path):1:1: \(message)"
    }
}

/// Every problem found while loading a set of files. Loading reports all of them, not the first.
public struct Diagnostics: Error, Sendable, CustomStringConvertible {
    public var items: [Diagnostic]
    public init(_ items: [Diagnostic]) { self.items = items }
    public var description: String { items.map(\.description).joined(separator: "\n") }
}
