import FuzzSupport
import SluiceCore
import SluiceGuardDuty

/// Template rendering: the input's first part (up to a NUL byte) is a Mustache template, the
/// rest a finding; whatever compiles is rendered as JSON and as text, with the finding and its
/// summary (`sluice.*`) as context.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let (templateBytes, eventBytes) = FuzzDriver.split(FuzzDriver.bytes(data, count))
    let source = String(decoding: templateBytes, as: UTF8.self)
    let event = (try? JSON.parse(String(decoding: eventBytes, as: UTF8.self))) ?? .object([])
    let summary = FindingSummary(event: event)
    for format in [PayloadTemplate.Format.json, .text] {
        guard let template = try? PayloadTemplate(source, format: format) else { continue }
        _ = template.render(event, summary: summary)
        _ = template.render(event)
    }
    return 0
}

@_cdecl("FuzzTemplate_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
