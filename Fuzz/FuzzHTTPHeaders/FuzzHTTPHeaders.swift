import FuzzSupport
import SluiceCore
@testable import SluiceActions
@testable import SluiceConnectors
@testable import SluiceHTTP

/// HTTP header handling both ways: the outgoing encoder every request header passes through
/// (`HTTPHeaderField.wireLine`: a finding's text must never end its line or start another
/// header), reply header lines (`HeaderLine.parse`, what a target sends back), `Retry-After`
/// values, URL redaction for logs and the secret-header test. Then the places where request
/// headers are really built from finding text (`fuzzBuiltRequests`).
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
    fuzzBuiltRequests(bytes, name: name, value: value)
    return 0
}

/// Made once: `WebhookConnector` needs a client, and none is ever asked to send.
let client = HTTPClient(maxConnections: 1, maxPerHost: 1)
let signer = StandardWebhookSigner(secret: Secret("whsec_" + String(repeating: "QUJD", count: 8)))

/// The header lines libcurl would be handed (`HTTPHeaderField.requestLines`, what `HTTPClient`
/// uses) for requests whose headers come from finding text: a webhook's (`X-Sluice-Finding-Id`,
/// `X-Sluice-Route`, the signing headers, a configured header), marked for a replay as the
/// connector framework marks it (`X-Sluice-Replay` through `RequestMarking`), and an `http`
/// action step's (rendered `headers:` parameter, `X-Sluice-Finding-Id`, `X-Sluice-Run-Id`).
/// Input parts (split at NULs): header name, header value, finding id, route, replay name.
func fuzzBuiltRequests(_ bytes: [UInt8], name: String, value: String) {
    let parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    func part(_ i: Int) -> String { i < parts.count ? parts[i] : String(decoding: bytes, as: UTF8.self) }
    var delivery = Delivery(payload: bytes, findingID: part(2), route: part(3))
    delivery.replay = part(4)
    let webhook = WebhookConnector(configuration: .init(url: "http://hooks.example/in", method: "POST", headers: [(name, value)],
                                                        tls: TLSOptions(), signing: signer), client: client, timeout: .seconds(1))
    let marking = ReplayMarking.headers(for: CollectionOfOne(delivery))
    if marking.count != 1 { FuzzDriver.violated("a replayed delivery is not marked: \(marking)") }
    let marked = RequestMarking.$headers.withValue(marking) { RequestMarking.applied(to: webhook.makeRequest(for: delivery, now: 1_700_000_000)) }
    checkLines(of: marked.headers, replayMarked: true)

    var parameters = ActionParameters(["url": .string("http://hooks.example/act"), "headers": .map([name: value])])
    parameters.values["body"] = .string(part(1))
    let step = ActionRequest(finding: .object([("id", .string(part(2)))]), findingID: part(2), route: part(3), step: "notify",
                             runID: part(3) + ":" + part(2), parameters: parameters)
    do throws(ActionError) {
        let request = try HTTPActionExecutor.makeRequest(step)
        checkLines(of: request.headers, replayMarked: false)
    } catch {
        if HTTPHeaderField.isValidName(name) { FuzzDriver.violated("an http step with a valid header name was refused: \(error.message)") }
    }
}

/// No CR, LF, NUL or DEL in any line; each header's line reads back as that header; a request
/// is refused exactly when a name is not a token; a marked request has one `X-Sluice-Replay`.
func checkLines(of headers: [(name: String, value: String)], replayMarked: Bool) {
    let (lines, refused) = HTTPHeaderField.requestLines(headers)
    if refused != headers.contains(where: { !HTTPHeaderField.isValidName($0.name) }) { FuzzDriver.violated("refusal disagrees with the names: \(headers.map { $0.name })") }
    for line in lines where line.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 || $0 == 0x7F }) {
        FuzzDriver.violated("control byte in a request header line: \(line)")
    }
    let sent = headers.filter { HTTPHeaderField.isValidName($0.name) }
    let readBack = lines.dropFirst().prefix(sent.count).map { line in Array(line.utf8).withUnsafeBytes { HeaderLine.parse($0)?.name } }
    if readBack != sent.map({ $0.name.lowercased() }) { FuzzDriver.violated("header lines read back as \(readBack), sent \(sent.map { $0.name })") }
    if replayMarked && !refused && readBack.filter({ $0 == ReplayMarking.header.lowercased() }).count != 1 {
        FuzzDriver.violated("a replayed delivery's request has not exactly one \(ReplayMarking.header): \(lines)")
    }
}

@_cdecl("FuzzHTTPHeaders_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
