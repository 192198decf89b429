import FuzzSupport
import SluiceCore
import SluiceFormats

/// The one decode-and-normalise path every command uses (issue 11.2, 14): any bytes go through
/// format recognition (auto and each explicit format), the split of multi-finding records, the
/// bare-GuardDuty wrap and the `sluice` view; each finding's summary, template context and OCSF
/// rendering are built. Properties besides "no trap":
/// - a finding's `sluice` is its view and only its view: the record's own `sluice` (or `sluice.…`
///   key) never survives; the view the decoder wrote into the event's tape reads as the view's JSON;
/// - the parts of a split record are numbered 0..<count, in order;
/// - the hot path (no view) and the view path agree on rejection and on the number of findings;
/// - an OCSF rendering is JSON the router's own parser reads back;
/// - the Hold stage's copy (`eventWithView(keeping:)`, a `JSONPathSelection` of paths the event's
///   own keys spell, any bytes included, with empty components added) reads every selected path as
///   the whole event does.
// libFuzzer calls back from one thread only.
nonisolated(unsafe) let withView = FindingDecoder(limits: .standard, format: .auto, injectsView: true)
nonisolated(unsafe) let hotPath = FindingDecoder(limits: .standard, format: .auto, injectsView: false)
nonisolated(unsafe) let explicit = InputFormat.allCases.filter { $0 != .auto }.map { FindingDecoder(format: $0) }
nonisolated(unsafe) let reader = JSONParser(maxBytes: 16 << 20, maxDepth: 256)

func readBack(_ bytes: [UInt8]) -> JSON? {
    var value: JSON?
    _ = reader.parse(bytes) { value = JSON($0.root) }
    return value
}

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, count)
    var parts: [FindingView.Part] = []
    let rejected = withView.decode(bytes) { finding in
        parts.append(finding.part)
        let (_, summary) = finding.materialized()
        _ = summary?.templateContext
        _ = finding.findingID()
        checkSelection(finding, salt: bytes.count)
        guard let view = finding.view() else { return }
        guard case .object(let members) = JSON(finding.event) else { FuzzDriver.violated("a finding's event is not an object") }
        let own = members.filter { $0.key == "sluice" || $0.key.hasPrefix("sluice.") }
        guard own.count == 1, own[0].key == "sluice", own[0].value == view.json else {
            FuzzDriver.violated("the event's sluice is not its view (\(own.count) sluice members)")
        }
        if let ocsf = finding.ocsfDetectionFinding(), readBack(Array(ocsf.serialized().utf8)) == nil {
            FuzzDriver.violated("the OCSF rendering does not read back")
        }
    }
    for (i, part) in parts.enumerated() where part.index != i || part.count != parts.count {
        FuzzDriver.violated("part \(part.index)/\(part.count) at position \(i) of \(parts.count)")
    }
    var hotCount = 0
    let hotRejected = hotPath.decode(bytes) { _ in hotCount += 1 }
    if (rejected == nil) != (hotRejected == nil) || (rejected == nil && hotCount != parts.count) {
        FuzzDriver.violated("view path (\(String(describing: rejected)), \(parts.count)) != hot path (\(String(describing: hotRejected)), \(hotCount))")
    }
    for decoder in explicit { _ = decoder.decode(bytes) { _ = $0.materialized() } }
    return 0
}

/// Dotted paths of `json`'s object members, depth first, at most `limit` of them.
func memberPaths(_ json: JSON, prefix: String = "", depth: Int = 0, limit: Int, into paths: inout [String]) {
    guard depth < 6, case .object(let members) = json else { return }
    for (key, value) in members where paths.count < limit {
        let path = prefix.isEmpty ? key : prefix + "." + key
        paths.append(path)
        memberPaths(value, prefix: path, depth: depth + 1, limit: limit, into: &paths)
    }
}

/// Selects some of the event's own paths (which ones depends on `salt`), spelt as written and
/// with empty components (`.a..b.`, which `value(atPath:)` skips), and checks the copy.
func checkSelection(_ finding: DecodedFinding, salt: Int) {
    let whole = finding.eventWithView()
    var paths: [String] = []
    memberPaths(whole, limit: 48, into: &paths)
    let chosen = paths.enumerated().filter { ($0.offset &+ salt) % 3 != 0 }.map { i, path in
        i % 4 == 1 ? "." + path.split(separator: ".", omittingEmptySubsequences: false).joined(separator: "..") + "." : path
    }
    let kept = finding.eventWithView(keeping: JSONPathSelection(chosen))
    for path in chosen where path.utf8.contains(where: { $0 != UInt8(ascii: ".") }) {
        let selected = kept.value(atPath: path)?.serialized(), expected = whole.value(atPath: path)?.serialized()
        if selected != expected {
            FuzzDriver.violated("path \(path.debugDescription) reads \(selected ?? "nil") on the selection, \(expected ?? "nil") on the whole event")
        }
    }
}

@_cdecl("FuzzFindingDecoder_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
