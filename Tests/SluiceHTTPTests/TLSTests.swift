import Foundation
import Testing
import SluiceTestSupport
@testable import SluiceHTTP

/// HTTPS and mTLS against the receiver wrapped in Python's `ssl`, with a CA and certificates
/// made by `openssl` for this run.
@Suite(.serialized) struct TLSTests {
    @Test func unknownCAIsRejectedAndATrustedBundleWorks() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let receiver = try await WebhookReceiver.start(tls: .init(certPath: pki.serverCert, keyPath: pki.serverKey))
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            #expect(receiver.url.hasPrefix("https://127.0.0.1:"))

            // Verification is on by default: our CA is in no system bundle.
            do throws(HTTPClientError) {
                _ = try await client.execute(HTTPRequest(url: receiver.url + "/hook", body: Array("x".utf8)))
                Issue.record("an unknown CA must be rejected")
            } catch {
                #expect(error.code == .tlsFailed, "\(error)")
                #expect(!error.isRetriable)
            }

            let trusted = TLSOptions(caBundlePath: pki.caCert)
            let response = try await client.execute(HTTPRequest(url: receiver.url + "/hook", body: Array("x".utf8), tls: trusted))
            #expect(response.status == 204)
            // The certificate also names "localhost".
            #expect(try await client.execute(HTTPRequest(url: "https://localhost:\(receiver.port)/hook", body: Array("y".utf8), tls: trusted)).status == 204)
            #expect(try receiver.records().map(\.body) == ["x", "y"])
        }
    }

    @Test func verificationCanBeTurnedOffExplicitly() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let receiver = try await WebhookReceiver.start(tls: .init(certPath: pki.serverCert, keyPath: pki.serverKey))
        try await withCleanup { cleanup async throws in  // the only `try` is in #expect, which closure inference does not see
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }
            let insecure = TLSOptions(verifyPeer: false, verifyHost: false)
            #expect(try await client.execute(HTTPRequest(url: receiver.url + "/hook", tls: insecure)).status == 204)
        }
    }

    @Test func mutualTLS() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let receiver = try await WebhookReceiver.start(tls: .init(certPath: pki.serverCert, keyPath: pki.serverKey, clientCAPath: pki.caCert))
        try await withCleanup { cleanup in
            cleanup.add { await receiver.stopAndWait() }
            let client = HTTPClient()
            cleanup.addOffPool { client.shutdown() }

            var tls = TLSOptions(caBundlePath: pki.caCert, clientCertPath: pki.clientCert, clientKeyPath: pki.clientKey)
            let response = try await client.execute(HTTPRequest(url: receiver.url + "/mtls", body: Array("m".utf8), tls: tls))
            #expect(response.status == 204)
            let records = try receiver.records()
            #expect(records.count == 1)
            #expect(records.first?.clientCN == "sluice-client")

            // The same from memory (libcurl blobs: a kubeconfig's key never touches the disk). A fresh
            // client: the open connection above already carries a client certificate.
            let blobs = HTTPClient()
            cleanup.addOffPool { blobs.shutdown() }
            func pem(_ path: String) throws -> PEMData { PEMData(Array(try Data(contentsOf: URL(fileURLWithPath: path)))) }
            var inMemory = TLSOptions()
            inMemory.caBundle = try pem(pki.caCert)
            inMemory.clientCert = try pem(pki.clientCert)
            inMemory.clientKey = try pem(pki.clientKey)
            #expect(!"\(inMemory)".contains("PRIVATE KEY"))
            #expect(try await blobs.execute(HTTPRequest(url: receiver.url + "/blob", body: Array("b".utf8), tls: inMemory)).status == 204)
            #expect(try receiver.records().last?.clientCN == "sluice-client")

            // No client certificate, or one from a CA the server does not trust: refused.
            for (cert, key) in [(nil, nil), (pki.strangerCert, pki.strangerKey)] as [(String?, String?)] {
                tls.clientCertPath = cert
                tls.clientKeyPath = key
                await #expect(throws: HTTPClientError.self) {
                    _ = try await client.execute(HTTPRequest(url: receiver.url + "/mtls", body: Array("no".utf8), timeout: .seconds(5), tls: tls))
                }
            }
            #expect(receiver.count == 2)

            // A client key file that does not exist is a TLS configuration error, not worth retrying.
            // (A fresh client: libcurl would otherwise reuse the open connection made with the same certificate.)
            let fresh = HTTPClient()
            cleanup.addOffPool { fresh.shutdown() }
            tls.clientCertPath = pki.clientCert
            tls.clientKeyPath = pki.path("missing.key")
            do throws(HTTPClientError) {
                _ = try await fresh.execute(HTTPRequest(url: receiver.url + "/mtls", tls: tls))
                Issue.record("a missing key must fail")
            } catch {
                #expect(error.code == .tlsFailed, "\(error)")
                #expect(!error.isRetriable)
            }
        }
    }
}
