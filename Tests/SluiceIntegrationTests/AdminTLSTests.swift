import Foundation
import SluiceTestSupport
import Testing

/// The admin server over HTTPS (`--admin-tls-cert`, `--admin-tls-key`), checked with curl
/// against the test CA: HTTPS answers, plain HTTP on the same port does not.
@Suite(.serialized) struct AdminTLSTests {
    @Test func theAdminServerSpeaksHTTPSWithTheConfiguredCertificate() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        try await withRunHarness { harness in
            let (broker, _, config) = try await harness.brokerAndWebhook()
            let port = try LoopbackPort.free()
            let sluice = try harness.sluice(broker, group: "tls", config: config,
                                            extra: ["--admin-listen", "127.0.0.1:\(port)", "--admin-tls-cert", pki.serverCert, "--admin-tls-key", pki.serverKey])
            #expect(await LoopbackPort.accepts(port, within: 60), "\(sluice.output)")
            let curl = URL(fileURLWithPath: "/usr/bin/curl")
            let https = try await CommandRun.result(of: curl, ["-sS", "--max-time", "30", "--cacert", pki.caCert, "https://127.0.0.1:\(port)/-/healthy"])
            #expect(https.status == 0 && https.output == "ok\n", "\(https.output)")
            let plain = try await CommandRun.result(of: curl, ["-sS", "--max-time", "30", "http://127.0.0.1:\(port)/-/healthy"])
            #expect(plain.output != "ok\n", "plain HTTP must not be served: \(plain.output)")
            let untrusted = try await CommandRun.result(of: curl, ["-sS", "--max-time", "30", "https://127.0.0.1:\(port)/-/healthy"])
            #expect(untrusted.status != 0, "a client without the CA refuses the certificate")
        }
    }

    @Test func aMissingKeyStopsTheRunAtStart() throws {
        let pki = try TestPKI()
        defer { pki.remove() }
        // A config of its own: the shipped one has a kafka connector, which an offline run refuses first.
        let config = try TestConfig.webhook("http://127.0.0.1:9")
        defer { config.remove() }
        let run = try CommandRun.run(PackagePaths.sluiceBinary, ["run", "--input", "/dev/null", "--routes", config.routes,
                                                                  "--connectors", config.connectors,
                                                                  "--admin-listen", "127.0.0.1:0", "--admin-tls-cert", pki.serverCert,
                                                                  "--admin-tls-key", pki.path("missing.key")])
        #expect(run.status != 0)
        #expect(run.output.contains("cannot read the private key"), "\(run.output)")
    }
}
