import FuzzSupport
import SluiceCore
@testable import SluiceConnectors
import SluiceGuardDuty

/// The syslog (RFC 5424) and CEF encoders: the input as a finding, through its summary into a
/// CEF line, and as raw text through every field encoder. A CEF line always has its 7 header
/// separators before the extensions, whatever the finding's text.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, count)
    let text = String(decoding: bytes, as: UTF8.self)
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
