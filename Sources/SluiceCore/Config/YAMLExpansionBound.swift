internal import CYaml

/// A 12-line YAML "alias bomb" names nine aliases of nine aliases of …: 387 million nodes once
/// expanded. Yams composes it at once (an alias shares its target), but anything that then walks
/// the tree — hashing a mapping key while composing, typing values, loading — takes minutes and
/// gigabytes. This pass reads libyaml's events before Yams composes anything and adds up, in one
/// pass and without building a node, how many nodes the file holds with every alias expanded.
enum YAMLExpansionBound {
    /// The 1-based position of the event (an alias, in a bomb) at which the expanded node count
    /// passes `maxNodes`, or nil when the file stays within it (or is not valid YAML: Yams then
    /// reports where).
    static func firstAliasOverBound(_ text: String, maxNodes: Int) -> (line: Int, column: Int)? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> (line: Int, column: Int)? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var expandedSize: [String: Int] = [:]               // anchor → nodes it stands for
            var open: [(anchor: String?, size: Int)] = []       // sequences and mappings being read
            var total = 0
            var event = yaml_event_t()
            while yaml_parser_parse(&parser, &event) == 1 {
                defer { yaml_event_delete(&event) }
                var added = 0
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return nil
                case YAML_SEQUENCE_START_EVENT:
                    open.append((anchor(event.data.sequence_start.anchor), 1))
                    total += 1
                case YAML_MAPPING_START_EVENT:
                    open.append((anchor(event.data.mapping_start.anchor), 1))
                    total += 1
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let closed = open.popLast() else { return nil }
                    if let name = closed.anchor { expandedSize[name] = closed.size }
                    if !open.isEmpty { open[open.count - 1].size += closed.size }
                case YAML_SCALAR_EVENT:
                    if let name = anchor(event.data.scalar.anchor) { expandedSize[name] = 1 }
                    added = 1
                case YAML_ALIAS_EVENT:
                    // Every size is at most the total so far, and the pass stops once the total
                    // passes maxNodes: no sum can overflow.
                    added = anchor(event.data.alias.anchor).flatMap { expandedSize[$0] } ?? 1
                default:
                    break
                }
                total += added
                if !open.isEmpty { open[open.count - 1].size += added }
                if total > maxNodes { return (Int(event.start_mark.line) + 1, Int(event.start_mark.column) + 1) }
            }
            return nil
        }
    }

    private static func anchor(_ name: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        name.map { String(cString: $0) }
    }
}
