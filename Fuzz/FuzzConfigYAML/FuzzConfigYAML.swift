import FuzzSupport
import SluiceCore
import SluiceGuardDuty
@testable import SluiceConnectors

/// Route and connector YAML loading: any text as a route file and as a connector file, through
/// `${VAR}` interpolation, Yams, the alias/node bound and every loader's validation. Only
/// diagnostics may come out, never a trap; a diagnostic always has a position in the file.
let environment = ["HOOK_URL": "http://127.0.0.1:9/hook", "TOKEN": "t0ken"]

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    // The lint and the criteria dialect run as in the executable, which registers them.
    GuardDutyRegistration.register()
    let text = String(decoding: FuzzDriver.bytes(data, count), as: UTF8.self)
    do { _ = try RouteLoader.load(path: "routes/fuzz.yaml", text: text, environment: environment) } catch {
        for d in error.items where d.path != "routes/fuzz.yaml" { FuzzDriver.violated("diagnostic for another file: \(d)") }
    }
    do {
        if let node = try YAMLNode.load(path: "connectors/fuzz.yaml", text: text, environment: environment) {
            _ = ConnectorLoader.definition(from: node)
        }
    } catch {
        _ = error.items
    }
    return 0
}

@_cdecl("FuzzConfigYAML_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
