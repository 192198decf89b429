import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An XML element and everything under it, as the Query protocol's responses are read
/// (EC2, IAM, STS, SNS): small documents, looked up by slash-separated paths of element names.
///
/// ```swift
/// let tree = try XMLTree.parse(body)
/// tree.text("Errors/Error/Code")                       // "InvalidInstanceID.NotFound"
/// tree.all("reservationSet/item/instancesSet/item")    // each instance
/// ```
public struct XMLTree: Sendable, Equatable {
    /// The element's name, namespace prefix included when it had one.
    public var name: String
    public var attributes: [String: String]
    /// The element's own character data, whitespace-trimmed.
    public var text: String
    public var children: [XMLTree]

    public init(name: String, attributes: [String: String] = [:], text: String = "", children: [XMLTree] = []) {
        self.name = name
        self.attributes = attributes
        self.text = text
        self.children = children
    }

    /// Parses a document and returns its root element; nil when it is not well-formed XML.
    public static func parse(_ bytes: [UInt8]) -> XMLTree? {
        let builder = TreeBuilder()
        let parser = XMLParser(data: Data(bytes))
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false  // no XXE from a response
        parser.delegate = builder
        guard parser.parse(), builder.stack.isEmpty else { return nil }
        return builder.root
    }

    public static func parse(_ text: String) -> XMLTree? { parse(Array(text.utf8)) }

    /// The first direct child with this name.
    public func child(_ name: String) -> XMLTree? { children.first { $0.name == name } }

    /// The first element at `path` below this one (`"Errors/Error"`); `""` is this element.
    public subscript(path: String) -> XMLTree? { all(path).first }

    /// Every element at `path` below this one, in document order.
    public func all(_ path: String) -> [XMLTree] {
        var level = [self]
        for step in path.split(separator: "/") where !step.isEmpty {
            level = level.flatMap { $0.children.filter { $0.name == step } }
        }
        return level
    }

    /// The text of the first element at `path`, or nil when there is none.
    public func text(_ path: String) -> String? { self[path]?.text }

    /// The first element with this name at any depth (depth-first, this element included).
    public func first(named name: String) -> XMLTree? {
        if self.name == name { return self }
        for c in children { if let hit = c.first(named: name) { return hit } }
        return nil
    }
}

/// XMLParser's delegate: builds the tree with a stack of open elements.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [XMLTree] = []
    var root: XMLTree?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        stack.append(XMLTree(name: name, attributes: attributes))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += string
    }

    func parser(_ parser: XMLParser, foundCDATA data: Data) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += String(decoding: data, as: UTF8.self)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        guard var done = stack.popLast() else { return }
        done.text = done.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
    }
}
