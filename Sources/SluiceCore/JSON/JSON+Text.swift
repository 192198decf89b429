extension JSON {
    /// Parses JSON text of any size (patterns, route files, test events). `init(parsing:)` sizes
    /// its parser to the text exactly, which simdjson refuses for some very small documents.
    public static func parse(_ text: String, maxDepth: Int = 1024) throws(JSONRejection) -> JSON {
        let parser = JSONParser(maxBytes: max(text.utf8.count, 1 << 16), maxDepth: maxDepth)
        switch parser.parse(text, { JSON($0.root) }) {
        case .success(let v): return v
        case .failure(let e): throw e
        }
    }
}
