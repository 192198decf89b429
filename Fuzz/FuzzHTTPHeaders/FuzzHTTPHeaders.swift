import FuzzSupport
@testable import SluiceHTTP

/// HTTP header handling both ways: the outgoing encoder every request header passes through
/// (`HTTPHeaderField.wireLine`: a finding's text must never end its line or start another
/// header), reply header lines (`HeaderLine.parse`, what a target sends back), `Retry-After`
/// values, URL redaction for logs and the secret-header test.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, count)
    bytes.withUnsafeBytes { line in
        if let field = HeaderLine.parse(line), field.name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
            FuzzDriver.violated("header name not lower-cased: \(field.name)")
        }
    }
    let text = String(decoding: bytes, as: UTF8.self)
    // The input split at its first NUL into a name and a value, as a header template renders them.
    let cut = bytes.firstIndex(of: 0) ?? bytes.count
    let name = String(decoding: bytes[..<cut], as: UTF8.self)
    let value = String(decoding: bytes[min(cut + 1, bytes.count)...], as: UTF8.self)
    for (n, v) in [(name, value), ("X-Sluice-Finding-Id", text)] {
        guard let line = HTTPHeaderField.wireLine(name: n, value: v) else {
            if HTTPHeaderField.isValidName(n) { FuzzDriver.violated("a valid name was refused: \(n)") }
            continue
        }
        // One line, the name as given, then the value without a byte that could end it.
        if line.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 || $0 == 0x7F }) { FuzzDriver.violated("control byte on the wire: \(line)") }
        // Bytes, not Characters: a value starting with a combining mark joins the space before it
        // into one grapheme, and `hasPrefix` then failed on a correct line (found by this harness).
        if !line.utf8.starts(with: (n + ": ").utf8) { FuzzDriver.violated("name changed: \(line)") }
        if Array(line.utf8).withUnsafeBytes({ HeaderLine.parse($0)?.name }) != n.lowercased() { FuzzDriver.violated("the wire line reads back as another header: \(line)") }
    }
    if let wait = RetryAfter.parse(text, now: 1_700_000_000), wait < .zero || wait > .seconds(RetryAfter.maxSeconds) {
        FuzzDriver.violated("Retry-After out of bounds: \(wait)")
    }
    _ = RetryAfter.httpDate(text)
    _ = HTTPRequest.redactURL(text)
    _ = HTTPRequest.isSecretHeader(text)
    return 0
}

@_cdecl("FuzzHTTPHeaders_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
