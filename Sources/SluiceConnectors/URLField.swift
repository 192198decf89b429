import SluiceCore
import SluiceHTTP

/// The one reader of URL keys in connector files. A URL is taken apart (`HTTPURL`), never
/// prefix-matched: http or https, a host, an optional numeric port, no whitespace or control
/// character. Problems are reported at the key.
extension MappingReader {
    /// An http(s) URL; nil (reported) when missing-and-required or malformed.
    func httpURL(_ key: String, required: Bool = false) -> String? {
        guard let text = string(key, required: required) else { return nil }
        return checkedURL(text, key: key) ? text : nil
    }

    /// An http(s) URL that is itself a credential (a chat webhook's path): read as a secret
    /// (`${ENV}` or `file:`), so it is scrubbed from outcomes.
    func secretHTTPURL(_ key: String, required: Bool = false) -> Secret? {
        guard let url = secret(key, required: required) else { return nil }
        return checkedURL(url.value, key: key) ? url : nil
    }

    /// An http(s) URL as a base for API paths: without trailing slashes.
    func baseHTTPURL(_ key: String, required: Bool = false) -> String? {
        guard var url = httpURL(key, required: required) else { return nil }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    private func checkedURL(_ text: String, key: String) -> Bool {
        guard HTTPURL(text) != nil else {
            // The value is not quoted back: a webhook URL is a credential.
            report((node[key] ?? node).error("\(key) must start with http:// or https:// and name a host, without spaces"))
            return false
        }
        return true
    }
}
