import FuzzSupport
@testable import SluiceHTTP

/// HTTP header handling as it stands: reply header lines (`HeaderLine.parse`, what a target
/// sends back), `Retry-After` values, URL redaction for logs and the secret-header test. When
/// the outgoing header encoder is centralised (issue 10 point 3), point this harness at it too.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, count)
    bytes.withUnsafeBytes { line in
        if let field = HeaderLine.parse(line), field.name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
            FuzzDriver.violated("header name not lower-cased: \(field.name)")
        }
    }
    let text = String(decoding: bytes, as: UTF8.self)
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
