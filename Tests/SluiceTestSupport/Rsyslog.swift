import Foundation

/// A real rsyslogd (Debian's rsyslog and rsyslog-gnutls) as a child process on free loopback
/// ports: imudp (RFC 5426), imptcp (octet-counted framing, RFC 6587), and two imtcp listeners
/// over gtls (RFC 5425), one of which demands a client certificate. Every message it parses is
/// written by omfile as one JSON line of rsyslog's own RFC 5424 properties.
public final class Rsyslog {
    public let directory: URL
    public let udpPort = freeLoopbackPort(), tcpPort = freeLoopbackPort(), tlsPort = freeLoopbackPort(), mtlsPort = freeLoopbackPort()
    public var output: URL { directory.appendingPathComponent("messages.ndjson") }
    private var process: Process?

    public init(pki: TestPKI) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rsyslog-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let d = directory.path
        let properties = ["pri": "pri", "severity": "syslogseverity", "facility": "syslogfacility", "hostname": "hostname",
                          "app": "app-name", "procid": "procid", "msgid": "msgid", "sd": "structured-data", "msg": "msg",
                          "input": "inputname", "version": "protocol-version"]
        let config = """
            global(workDirectory="\(d)" maxMessageSize="64k"
                   defaultNetstreamDriverCAFile="\(pki.caCert)"
                   defaultNetstreamDriverCertFile="\(pki.serverCert)" defaultNetstreamDriverKeyFile="\(pki.serverKey)")
            module(load="imudp")
            module(load="imptcp")
            module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
            template(name="fields" type="list" option.jsonf="on") {
            \(properties.sorted { $0.key < $1.key }.map { "  property(outname=\"\($0.key)\" name=\"\($0.value)\" format=\"jsonf\")" }.joined(separator: "\n"))
            }
            ruleset(name="findings") { action(type="omfile" file="\(output.path)" template="fields") }
            input(type="imudp" address="127.0.0.1" port="\(udpPort)" ruleset="findings")
            input(type="imptcp" address="127.0.0.1" port="\(tcpPort)" ruleset="findings")
            input(type="imtcp" address="127.0.0.1" port="\(tlsPort)" ruleset="findings")
            input(type="imtcp" address="127.0.0.1" port="\(mtlsPort)" ruleset="findings" streamDriver.authMode="x509/certvalid")
            """
        try config.write(to: directory.appendingPathComponent("rsyslog.conf"), atomically: true, encoding: .utf8)
        try await start()
    }

    /// Starts rsyslogd and waits, without holding a pool thread, until every TCP input listens.
    public func start() async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", Self.supervisor, "/usr/sbin/rsyslogd", "-n", "-f", directory.appendingPathComponent("rsyslog.conf").path,
                       "-i", directory.appendingPathComponent("rsyslogd.pid").path]
        let log = directory.appendingPathComponent("rsyslogd.log")
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        process = p
        for port in [tcpPort, tlsPort, mtlsPort] where await !LoopbackPort.accepts(port, within: 60) {
            await stopAndWait()
            throw HarnessError("rsyslogd did not listen on \(port): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
    }

    /// Runs rsyslogd, kills it on SIGTERM (a test thread's blocked signals are inherited through
    /// exec, so rsyslogd itself may not see one), and never lets it outlive the test process.
    static let supervisor = """
        import os, signal, subprocess, sys, time
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        child = subprocess.Popen(sys.argv[1:])
        def stop(*_):
            child.kill()  # no graceful shutdown needed: omfile has flushed each batch already
            child.wait()
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        parent = os.getppid()
        while child.poll() is None:
            if os.getppid() != parent:
                stop()
            time.sleep(0.1)
        """

    /// Signals rsyslogd's supervisor and returns at once (a reaper thread waits): for `defer`.
    public func stop() {
        if let p = process { ChildProcess.stop(p) }
        process = nil
    }

    /// Stops rsyslogd and returns once it is gone, so its ports refuse connections.
    public func stopAndWait() async {
        if let p = process { await ChildProcess.stopAndWait(p) }
        process = nil
    }

    /// The messages written so far, each as rsyslog parsed it.
    public func messages() -> [[String: String]] {
        guard let data = FileManager.default.contents(atPath: output.path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: String] }
    }

    /// Waits until at least `count` messages were written (omfile flushes per message batch).
    public func waitForMessages(_ count: Int, timeout: Duration = .seconds(60)) async throws -> [[String: String]] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let m = messages()
            if m.count >= count || ContinuousClock.now > deadline { return m }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
