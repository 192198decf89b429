import SluiceCore
import SluiceHTTP

extension MappingReader {
    /// The `tls:` block every connector that opens connections accepts (HTTP and SIEM targets):
    ///
    /// ```yaml
    /// tls:
    ///   ca_file: /etc/ssl/siem-ca.pem     # trusted CAs instead of the system bundle
    ///   cert_file: /etc/sluice/client.pem # client certificate (mTLS)
    ///   key_file: /etc/sluice/client.key
    ///   key_password: ${KEY_PASSWORD}
    ///   verify: true                      # peer and host name; on by default
    /// ```
    func tlsOptions(_ key: String = "tls") -> TLSOptions {
        var tls = TLSOptions()
        guard let t = nested(key, what: key) else { return tls }
        tls.caBundlePath = t.string("ca_file")
        tls.clientCertPath = t.string("cert_file")
        tls.clientKeyPath = t.string("key_file")
        tls.keyPassword = t.secret("key_password")?.value
        if let v = t.bool("verify") { tls.verifyPeer = v; tls.verifyHost = v }
        if (tls.clientCertPath == nil) != (tls.clientKeyPath == nil) {
            t.report(t.node.error("'cert_file' and 'key_file' go together"))
        }
        return tls
    }
}
