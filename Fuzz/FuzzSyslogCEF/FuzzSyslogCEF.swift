import FuzzSupport
import SluiceCore
@testable import SluiceConnectors
import SluiceFormats
import SluiceGuardDuty
import SluiceHTTP

/// The syslog (RFC 5424) and CEF encoders: the input as a finding, through its summary into a
/// CEF line, and as raw text through every field encoder. A CEF line always has its 7 header
/// separators before the extensions, whatever the finding's text.
/// Each finding the decoder reads from the input (any format) also goes through the whole RFC 5424
/// message of a replayed delivery, JSON and CEF: the message holds no CR, LF or NUL, its
/// structured data parses back (each SD-PARAM closed, `"` `\` `]` escaped) with the finding id as
/// written (line breaks as spaces) and the replay's name last, and a CEF line ends with cs6.
// libFuzzer calls back from one thread only.
nonisolated(unsafe) let decoder = FindingDecoder()
let replayName = "fuzz-replay_1.2"
let connectors = [SyslogConnector.MessageFormat.json, .cef].map { format in
    SyslogConnector(name: "fuzz-\(format)", configuration: .init(host: "127.0.0.1", port: 514, transport: .udp, facility: 1, appName: "sluice",
                                                               hostname: "fuzz", sdID: nil, format: format, tls: TLSOptions()), timeout: .seconds(1))
}
let time = FindingTimestamp(iso8601: "2026-01-02T03:04:05.678Z")

/// The SD-PARAMs of the message's one SD-ELEMENT (RFC 5424 §6.3), values unescaped; nil when it
/// does not parse: seven header fields, then `[SD-ID *(SP PARAM-NAME="PARAM-VALUE")]` and a space.
func structuredData(_ message: [UInt8]) -> (params: [(String, String)], end: Int)? {
    var i = 0
    for _ in 0..<6 {
        guard let space = message[i...].firstIndex(of: 0x20) else { return nil }
        i = space + 1
    }
    guard i < message.count, message[i] == UInt8(ascii: "[") else { return nil }
    guard let idEnd = message[i...].firstIndex(where: { $0 == 0x20 || $0 == UInt8(ascii: "]") }) else { return nil }
    i = idEnd
    var params: [(String, String)] = []
    while i < message.count, message[i] == 0x20 {
        guard let eq = message[(i + 1)...].firstIndex(of: UInt8(ascii: "=")), eq + 1 < message.count, message[eq + 1] == UInt8(ascii: "\"") else { return nil }
        let name = String(decoding: message[(i + 1)..<eq], as: UTF8.self)
        var value: [UInt8] = []
        var j = eq + 2
        while j < message.count, message[j] != UInt8(ascii: "\"") {
            if message[j] == UInt8(ascii: "\\") {
                guard j + 1 < message.count, [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "]")].contains(message[j + 1]) else { return nil }
                j += 1
            } else if message[j] == UInt8(ascii: "]") {
                return nil  // an unescaped `]` would end the element early for a receiver
            }
            value.append(message[j])
            j += 1
        }
        guard j < message.count else { return nil }
        params.append((name, String(decoding: value, as: UTF8.self)))
        i = j + 1
    }
    guard i + 1 < message.count, message[i] == UInt8(ascii: "]"), message[i + 1] == 0x20 else { return nil }
    return (params, i + 1)
}

func checkMessages(_ bytes: [UInt8]) {
    guard let time else { FuzzDriver.violated("the fixed timestamp does not parse") }
    _ = decoder.decode(bytes) { finding in
        let summary = finding.materialized().summary
        var delivery = Delivery(payload: bytes, findingID: finding.findingID(), route: "fuzz", summary: summary)
        delivery.replay = replayName
        for connector in connectors {
            guard case .success(let message) = connector.makeMessage(for: delivery, at: time) else { continue }
            if message.contains(where: { $0 == 0x0D || $0 == 0x0A }) { FuzzDriver.violated("a CR or LF in the message") }
            guard let (params, end) = structuredData(message) else {
                FuzzDriver.violated("structured data does not parse: \(String(decoding: message.prefix(300), as: UTF8.self))")
            }
            if message[..<end].contains(0) { FuzzDriver.violated("a NUL before the message text") }
            if let id = delivery.findingID ?? summary?.id {
                let written = String(String.UnicodeScalarView(id.unicodeScalars.map { ["\r", "\n", "\0"].contains($0) ? " " : $0 }))
                if params.first(where: { $0.0 == "finding_id" })?.1 != written { FuzzDriver.violated("finding_id does not read back") }
            }
            if params.last?.0 != "replay" || params.last?.1 != replayName { FuzzDriver.violated("the replay param is not last") }
            // Bytes, not String.hasSuffix: a Prepend scalar before the space joins it in one Character.
            if connector.configuration.format == .cef, !message.reversed().starts(with: Array(" cs6Label=sluiceReplay cs6=\(replayName)".utf8).reversed()) {
                FuzzDriver.violated("a CEF line without cs6 at its end")
            }
        }
    }
}

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, count)
    let text = String(decoding: bytes, as: UTF8.self)
    checkMessages(bytes)
    if let event = try? JSON.parse(text), let summary = FindingSummary(event: event) {
        let line = SyslogConnector.cef(summary)
        if !line.hasPrefix("CEF:0|") { FuzzDriver.violated("CEF line without its version: \(line.prefix(80))") }
    }
    _ = SyslogConnector.cefHeader(text)
    _ = SyslogConnector.cefExtensionValue(text)
    _ = SyslogConnector.escapeParamValue(text)
    _ = SyslogConnector.headerField(text, max: 48)
    _ = SyslogConnector.isSDName(text)
    _ = SyslogConnector.octetCounted(bytes)
    return 0
}

@_cdecl("FuzzSyslogCEF_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
