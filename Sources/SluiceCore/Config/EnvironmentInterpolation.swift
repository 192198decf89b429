/// `${VAR}` and `${VAR:-default}` interpolation in route, connector and config files.
/// `$${` escapes a literal `${`. An unset variable with no default is an error, so a typo never
/// silently routes findings nowhere.
public enum EnvironmentInterpolation {
    public struct Failure: Error, Sendable {
        public let line: Int
        public let column: Int
        public let message: String
    }

    public static func apply(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.contains("${") else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var line = 1
        var column = 1
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "$", text[i...].hasPrefix("$${") {
                out += "${"
                i = text.index(i, offsetBy: 3)
                column += 3
                continue
            }
            if c == "$", text[i...].hasPrefix("${") {
                guard let close = text[i...].firstIndex(of: "}") else {
                    throw Failure(line: line, column: column, message: "unterminated ${ in interpolation")
                }
                let inner = text[text.index(i, offsetBy: 2)..<close]
                let name: Substring
                let fallback: Substring?
                if let sep = inner.range(of: ":-") {
                    name = inner[..<sep.lowerBound]
                    fallback = inner[sep.upperBound...]
                } else {
                    name = inner
                    fallback = nil
                }
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw Failure(line: line, column: column, message: "invalid variable name '\(name)' in ${...}")
                }
                if let value = environment[String(name)] {
                    out += value
                } else if let fallback {
                    out += fallback
                } else {
                    throw Failure(line: line, column: column, message: "environment variable \(name) is not set (use ${\(name):-default} for a default)")
                }
                column += text.distance(from: i, to: close) + 1
                i = text.index(after: close)
                continue
            }
            out.append(c)
            if c == "\n" { line += 1; column = 1 } else { column += 1 }
            i = text.index(after: i)
        }
        return out
    }
}
