extension JSON {
    /// Parses JSON text of any size (patterns, route files, test events). The parser gets at
    /// least 64 KiB: simdjson refuses some tiny documents when its capacity equals their length.
    public static func parse(_ text: String, maxDepth: Int = 1024) throws(JSONRejection) -> JSON {
        let parser = JSONParser(maxBytes: max(text.utf8.count, 1 << 16), maxDepth: maxDepth)
        switch parser.parse(text, { JSON($0.root) }) {
        case .success(let v): return v
        case .failure(let e): throw e
        }
    }
}
