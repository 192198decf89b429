import Foundation
import SluiceConnectors
import SluiceCore
import SluiceTestSupport
import Testing

/// The catalogue's rule: one connector type = one source file, one registry line, one test file,
/// one example under `connectors/examples/` — and every example validates.
@Suite struct CatalogueTests {
    static let root = PackagePaths.root

    @Test(arguments: ConnectorRegistry.types.map(\.kind))
    func everyTypeHasAnExampleThatValidates(kind: String) throws {
        let path = Self.root.appendingPathComponent("connectors/examples/\(kind).yaml").path
        #expect(FileManager.default.fileExists(atPath: path), "missing connectors/examples/\(kind).yaml")
        guard FileManager.default.fileExists(atPath: path) else { return }
        let env = ["SLUICE_EXAMPLE": "1"]
        do {
            let defs = try ConnectorLoader.load(path: path, environment: env)
            #expect(defs.contains { $0.kind == kind }, "the example of \(kind) defines no instance of it")
        } catch {
            Issue.record("connectors/examples/\(kind).yaml does not validate: \(error.items.map(\.description).joined(separator: "; "))")
        }
    }

    @Test func typesAreListedOnceWithADescription() {
        let kinds = ConnectorRegistry.types.map(\.kind)
        #expect(Set(kinds).count == kinds.count)
        for t in ConnectorRegistry.types { #expect(!t.summary.isEmpty) }
    }
}
