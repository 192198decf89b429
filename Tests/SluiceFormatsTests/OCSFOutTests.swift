import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceFormats

/// OCSF out (docs/formats.md §10): the Swift conversion equals the reviewed examples in
/// examples/ocsf-out/ and validates against the OCSF schema with the checker's own validator
/// (every packaged version from 1.1.0 on).
@Suite struct OCSFOutTests {
    static let sources = [
        ("01-ec2-cryptominer.json", "01-ec2-cryptominer.json"),
        ("asff/02-inspector-ecr-critical-cve.json", "asff-02-inspector-ecr-critical-cve.json"),
        ("ocsf/02-edr-detection-critical-1.1.json", "ocsf-02-edr-detection-critical-1.1.json"),
        ("falco/01-k8s-terminal-shell-sidekick.json", "falco-01-k8s-terminal-shell-sidekick.json"),
    ]

    static func convert(_ fixture: String) throws -> JSON {
        var out: [JSON] = []
        let bytes = try FindingViewTests.fixture(fixture)
        if let r = FindingDecoder().decode(bytes, { if let o = $0.ocsfDetectionFinding() { out.append(o) } }) { throw r }
        return try #require(out.first)
    }

    @Test(arguments: sources)
    func conversionEqualsTheReviewedExample(fixture: String, example: String) throws {
        let want = try JSON.parse(try String(contentsOf: PackagePaths.root.appendingPathComponent("examples/ocsf-out/\(example)"), encoding: .utf8))
        let got = try Self.convert(fixture)
        #expect(FindingViewTests.canonical(got) == FindingViewTests.canonical(want), "\(fixture): \(got.serialized())")
    }

    @Test func everyFormatConvertsToAValidDetectionFinding() throws {
        // All fixtures, hostile ones included, through the schema validator of check-formats.py.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-ocsf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [String] = []
        for (name, _) in FindingViewTests.expected {
            var n = 0
            let bytes = try FindingViewTests.fixture(name)
            _ = FindingDecoder().decode(bytes) { f in
                guard let doc = f.ocsfDetectionFinding() else { return }
                let url = dir.appendingPathComponent("\(name.replacingOccurrences(of: "/", with: "-"))-\(n).json")
                n += 1
                try? Data(doc.serialized().utf8).write(to: url)
                files.append(url.path)
            }
        }
        #expect(files.count == 31)
        let script = """
        import importlib.util, json, re, sys
        spec = importlib.util.spec_from_file_location("check_formats", sys.argv[1])
        cf = importlib.util.module_from_spec(spec); spec.loader.exec_module(cf)
        c = cf.Checker(True)
        if not (c.ocsf and c.jsonschema): print("validator missing"); sys.exit(2)
        versions = [v for v in sorted(c.ocsf.get_packaged_versions()) if re.fullmatch(r"1\\.([1-9]|\\d\\d)\\.\\d+", v)]
        for path in sys.argv[2:]:
            doc = json.load(open(path, encoding="utf-8"))
            for v in versions:
                d = json.loads(json.dumps(doc)); d["metadata"]["version"] = v
                c.validate_ocsf(path + "@" + v, d)
        for e in c.errors: print("error:", e)
        print(c.counts, "errors", len(c.errors))
        sys.exit(1 if c.errors else 0)
        """
        let (status, text) = try CommandRun.run(PackagePaths.root.appendingPathComponent(".tools/venv/bin/python"),
            ["-c", script, PackagePaths.root.appendingPathComponent("examples/check-formats.py").path] + files, in: PackagePaths.root)
        #expect(status == 0, "\(text.suffix(3000))")
        #expect(text.contains("errors 0"), "\(text.suffix(3000))")
    }
}
