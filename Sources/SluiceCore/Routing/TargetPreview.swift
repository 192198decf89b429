/// What a route target would receive for an event, without sending anything: the target's
/// template rendered, an EventBridge-style input transformer applied, or the event itself.
public enum TargetPreview {
    /// Renders `target`'s payload for `event`. Template errors come back as the payload text,
    /// prefixed with `error:` — `sluice validate` is where templates are rejected. `original`: what a
    /// target without a template receives (the record as it came; nil: the event).
    public static func payload(for target: RouteTarget, event: JSON, original: String? = nil) -> String {
        if let paths = target.inputPaths, let template = target.template {
            return InputTransformer.render(template: template, paths: paths, event: event)
        }
        if let template = target.template {
            let trimmed = template.drop { $0 == " " || $0 == "\n" }
            let format: PayloadTemplate.Format = trimmed.hasPrefix("{") || trimmed.hasPrefix("[") ? .json : .text
            do { return try PayloadTemplate(template, format: format).render(event) } catch { return "error: \(error.message)" }
        }
        return original ?? event.serialized()
    }
}

/// EventBridge's input transformer: `input_paths` name JSON paths (`$.detail.type`,
/// `$.detail.resource.instanceDetails.tags[0].value`) and the template refers to them as
/// `<name>`; `<aws.events.event>` is the whole event. Strings are inserted without quotes
/// (write `"<name>"` in a JSON template), other values as JSON; a missing path inserts nothing.
public enum InputTransformer {
    public static func render(template: String, paths: [String: String], event: JSON) -> String {
        var values: [String: String] = ["aws.events.event": event.serialized(), "aws.events.event.json": event.serialized()]
        for (name, path) in paths {
            guard let v = resolve(path, in: event) else {
                values[name] = ""
                continue
            }
            if case .string(let s) = v {
                var escaped = ""
                JSON.writeString(s, to: &escaped)
                values[name] = String(escaped.dropFirst().dropLast())
            } else {
                values[name] = v.serialized()
            }
        }
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "<") {
            out += rest[..<open]
            let after = rest[rest.index(after: open)...]
            if let close = after.firstIndex(of: ">"), let value = values[String(after[..<close])] {
                out += value
                rest = after[after.index(after: close)...]
            } else {
                out += "<"
                rest = after
            }
        }
        return out + rest
    }

    /// Follows `$.a.b[2].c`.
    public static func resolve(_ path: String, in event: JSON) -> JSON? {
        guard path.hasPrefix("$") else { return nil }
        var current: JSON? = event
        var token = ""
        var i = path.index(after: path.startIndex)
        func flush() {
            if !token.isEmpty { current = current?[token] }
            token = ""
        }
        while i < path.endIndex {
            let c = path[i]
            if c == "." {
                flush()
            } else if c == "[" {
                flush()
                guard let close = path[i...].firstIndex(of: "]"), let n = Int(path[path.index(after: i)..<close]) else { return nil }
                if case .array(let items)? = current, n >= 0, n < items.count { current = items[n] } else { return nil }
                i = close
            } else {
                token.append(c)
            }
            i = path.index(after: i)
        }
        flush()
        return current
    }
}
