/// A set of dotted paths, copied out of a document together: the owned `JSON` holds each path's
/// whole value at its place and nothing else, so `value(atPath:)` on the copy answers as on a copy
/// of the whole document for every selected path (and every prefix of one is an object holding
/// only selected members). Copying a 2.7 KB finding whole was most of what the Hold stage cost
/// per finding when it needed three of its fields (docs/state.md).
public struct JSONPathSelection: Sendable, Equatable {
    /// One path component; `whole` when a selected path ends here (its children then don't matter).
    struct Node: Sendable, Equatable {
        var key: String
        /// `key`'s UTF-8, compared with a document's keys (length first, then bytes).
        var bytes: [UInt8]
        var whole = false
        var children: [Node] = []

        init(key: String) {
            self.key = key
            bytes = Array(key.utf8)
        }

        func named(_ other: UnsafeBufferPointer<UInt8>) -> Bool {
            bytes.count == other.count && bytes.withUnsafeBufferPointer { mine in
                guard let a = mine.baseAddress, let b = other.baseAddress else { return true }  // both empty
                return memcmpBytes(a, b, mine.count)
            }
        }
    }

    private var root = Node(key: "")

    /// `paths` split on `.` as `JSON.value(atPath:)` splits them (empty components dropped): at
    /// the byte, not the Character, or a `.` followed by a combining mark would not split.
    public init(_ paths: some Sequence<String>) {
        for path in paths {
            let parts = path.utf8.split(separator: UInt8(ascii: ".")).map { String(decoding: $0, as: UTF8.self) }
            if !parts.isEmpty { Self.insert(parts[...], into: &root) }
        }
    }

    public var isEmpty: Bool { root.children.isEmpty }

    /// Whether some selected path starts with the member `key`.
    public func hasRoot(_ key: String) -> Bool { root.children.contains { $0.bytes.elementsEqual(key.utf8) } }

    private static func insert(_ parts: ArraySlice<String>, into node: inout Node) {
        guard let first = parts.first else { return node.whole = true }
        if node.whole { return }
        // Bytes, not String ==: "é" and "e\u{301}" are one String but two keys to `value(atPath:)`.
        if let i = node.children.firstIndex(where: { $0.bytes.elementsEqual(first.utf8) }) {
            insert(parts.dropFirst(), into: &node.children[i])
        } else {
            var child = Node(key: first)
            insert(parts.dropFirst(), into: &child)
            node.children.append(child)
        }
    }

    /// The selected members of `view` (an object; anything else selects nothing), in document order.
    public func members(of view: JSONView) -> [(key: String, value: JSON)] {
        Self.select(root, from: view)
    }

    private static func select(_ node: Node, from view: JSONView) -> [(key: String, value: JSON)] {
        guard view.kind == .object else { return [] }
        var out: [(key: String, value: JSON)] = []
        out.reserveCapacity(node.children.count)
        // Only an object's first member of a name counts, as `JSON`'s subscript reads it. A bit
        // per child (past 64 children a later duplicate is let through to `seenMore`).
        var seen: UInt64 = 0
        var seenMore = Set<Int>()
        view.forEachMember { key, value in
            guard let i = node.children.firstIndex(where: { $0.named(key) }) else { return }
            if i < 64 {
                let bit: UInt64 = 1 << UInt64(i)
                if seen & bit != 0 { return }
                seen |= bit
            } else if !seenMore.insert(i).inserted {
                return
            }
            let child = node.children[i]
            if child.whole {
                out.append((child.key, JSON(value)))
            } else {
                let inner = select(child, from: value)
                if !inner.isEmpty { out.append((child.key, .object(inner))) }
            }
        }
        return out
    }
}
