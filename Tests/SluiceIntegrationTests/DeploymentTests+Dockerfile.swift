import Foundation
import SluiceTestSupport
import Testing

/// `deploy/Dockerfile`, checked against the repository without a container engine: hadolint, its
/// structure (stages, what it copies, the librdkafka it gets, the binary's path, port, health
/// check, user), and its health check command run against a live admin server.
extension DeploymentTests {
    /// One Dockerfile instruction: its keyword (upper-cased) and its arguments, continuation
    /// lines joined and comment lines dropped, as Docker reads them.
    struct Instruction {
        let keyword: String
        let arguments: String
        let stage: Int
    }

    static func dockerfile() throws -> [Instruction] {
        let text = try String(contentsOfFile: deploy.appendingPathComponent("Dockerfile").path, encoding: .utf8)
        var out: [Instruction] = []
        var pending = ""
        var stage = -1
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") || (line.isEmpty && pending.isEmpty) { continue }
            if line.hasSuffix("\\") { pending += line.dropLast().trimmingCharacters(in: .whitespaces) + " "; continue }
            let whole = (pending + line).trimmingCharacters(in: .whitespaces)
            pending = ""
            guard let space = whole.firstIndex(of: " ") else { continue }
            let keyword = whole[..<space].uppercased()
            if keyword == "FROM" { stage += 1 }
            out.append(Instruction(keyword: keyword, arguments: String(whole[whole.index(after: space)...]), stage: stage))
        }
        return out
    }

    /// The repository's directories that Package.swift declares targets in (the fuzz targets,
    /// added only with SLUICE_FUZZ, left out): explicit `path:`s, and the default folders of the
    /// kinds of targets it has.
    static func targetDirectories() throws -> Set<String> {
        let manifest = try String(contentsOfFile: PackagePaths.root.appendingPathComponent("Package.swift").path, encoding: .utf8)
        let declared = String(manifest[..<(manifest.range(of: "SLUICE_FUZZ\"]")?.lowerBound ?? manifest.endIndex)])
        var dirs = Set<String>()
        let path = try Regex(#"path: "([^"/]+)"#)
        for m in declared.matches(of: path) { if let d = m.output[1].substring { dirs.insert(String(d)) } }
        if declared.contains(".target(") || declared.contains(".executableTarget(") { dirs.insert("Sources") }
        if declared.contains(".testTarget(") { dirs.insert("Tests") }
        if declared.contains(".plugin(") { dirs.insert("Plugins") }
        return dirs
    }

    @Test func dockerfilePassesHadolint() async throws {
        let hadolint = PackagePaths.root.appendingPathComponent(".tools/venv/bin/hadolint").path
        let (status, output) = try await Self.result(hadolint, ["--no-color", Self.deploy.appendingPathComponent("Dockerfile").path])
        #expect(status == 0, "\(output)")
    }

    /// Two stages, the last one the runtime; every file the build context must hold exists and
    /// is not kept out by the Dockerfile's ignore file; every directory SwiftPM needs (targets,
    /// the plugin, the pins) is copied before `swift build` runs.
    @Test func dockerfileCopiesWhatTheBuildNeedsFromTheRepository() throws {
        let instructions = try Self.dockerfile()
        let froms = instructions.filter { $0.keyword == "FROM" }
        #expect(froms.count == 2, "\(froms.map(\.arguments))")
        #expect(froms.first?.arguments.hasSuffix(" AS build") == true, "\(froms.map(\.arguments))")
        let copies = instructions.filter { $0.keyword == "COPY" && !$0.arguments.hasPrefix("--from=") }
        let ignored = try String(contentsOfFile: Self.deploy.appendingPathComponent("Dockerfile.dockerignore").path, encoding: .utf8)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        var copiedToBuild = Set<String>()
        for copy in copies {
            let words = copy.arguments.split(separator: " ").map(String.init)
            for source in words.dropLast() {
                #expect(FileManager.default.fileExists(atPath: PackagePaths.root.appendingPathComponent(source).path), "COPY \(source): not in the repository")
                #expect(!ignored.contains(source), "COPY \(source) is in Dockerfile.dockerignore")
                if copy.stage == 0 { copiedToBuild.insert(source) }
            }
        }
        let build = try #require(instructions.firstIndex { $0.keyword == "RUN" && $0.arguments.contains("swift build ") })
        let copiedBefore = Set(instructions[..<build].filter { $0.keyword == "COPY" }.flatMap { $0.arguments.split(separator: " ").dropLast().map(String.init) })
        let needed = try Self.targetDirectories().union(["Package.swift", "Package.resolved"])
        #expect(needed.isSubset(of: copiedBefore), "copied before swift build: \(copiedBefore.sorted()); needed: \(needed.sorted())")
        #expect(needed.contains("Plugins") && needed.contains("Benchmarks"), "\(needed.sorted())")
    }

    /// librdkafka ≥ 2.1 (scripts/setup says why): the build stage installs librdkafka-dev from a release
    /// that ships 2.1 or later, and the runtime stage is the same release (it gets the library
    /// copied from the build stage with the binary, which reads it from LD_LIBRARY_PATH).
    @Test func dockerfileGetsLibrdkafkaTwoPointOneOrLater() throws {
        let instructions = try Self.dockerfile()
        func argument(_ name: String) -> String? {
            instructions.first { $0.keyword == "ARG" && $0.arguments.hasPrefix(name + "=") }.map { String($0.arguments.dropFirst(name.count + 1)) }
        }
        // librdkafka-dev in each release's archive (Debian and Ubuntu package pages).
        let librdkafka: [String: (major: Int, minor: Int)] = [
            "focal": (1, 2), "jammy": (1, 8), "noble": (2, 3), "bullseye": (1, 6), "bookworm": (2, 0), "trixie": (2, 8),
        ]
        let ubuntuVersions = ["20.04": "focal", "22.04": "jammy", "24.04": "noble"]
        let swiftImage = try #require(argument("SWIFT_IMAGE"))
        let buildRelease = try #require(swiftImage.split(separator: "-").last.map(String.init))
        let runtimeImage = try #require(argument("RUNTIME_IMAGE"))
        let runtimeTag = try #require(runtimeImage.split(separator: ":").last.map(String.init))
        let runtimeRelease = ubuntuVersions[runtimeTag] ?? runtimeTag.split(separator: "-").first.map(String.init) ?? runtimeTag
        let version = try #require(librdkafka[buildRelease], "unknown release \(buildRelease) of \(swiftImage)")
        #expect(version.major > 2 || (version.major == 2 && version.minor >= 1), "\(buildRelease) ships librdkafka \(version)")
        #expect(runtimeRelease == buildRelease, "runtime \(runtimeImage) is not the build's release \(buildRelease)")
        #expect(instructions.contains { $0.stage == 0 && $0.keyword == "RUN" && $0.arguments.contains("librdkafka-dev") })
        #expect(instructions.contains { $0.stage == 1 && $0.keyword == "COPY" && $0.arguments == "--from=build /out/lib/ /opt/sluice/lib/" })
        #expect(instructions.contains { $0.stage == 1 && $0.keyword == "ENV" && $0.arguments == "LD_LIBRARY_PATH=/opt/sluice/lib" })
    }

    /// The binary is the `sluice` product, taken from the directory `swift build -c release`
    /// writes it to, and the entry point is where the runtime stage puts it; the port is the
    /// admin server's default and the Deployment's, and the image runs as a non-root user.
    @Test func dockerfileRunsTheReleaseBinaryAsNonRootOnTheAdminPort() throws {
        let instructions = try Self.dockerfile()
        let manifest = try String(contentsOfFile: PackagePaths.root.appendingPathComponent("Package.swift").path, encoding: .utf8)
        #expect(manifest.contains(#".executable(name: "sluice", targets: ["sluice"])"#))
        let build = try #require(instructions.first { $0.keyword == "RUN" && $0.arguments.contains("swift build ") }).arguments
        #expect(build.contains("swift build -c release --product sluice --static-swift-stdlib &&"), "\(build)")
        #expect(build.contains(#"cp "$(swift build -c release --product sluice --static-swift-stdlib --show-bin-path)/sluice" /out/sluice"#), "\(build)")
        #expect(instructions.contains { $0.stage == 1 && $0.keyword == "COPY" && $0.arguments == "--from=build /out/sluice /usr/local/bin/sluice" })
        #expect(instructions.last { $0.keyword == "ENTRYPOINT" }?.arguments == #"["/usr/local/bin/sluice"]"#)
        // Admin default: admin.listen 127.0.0.1:9464 (docs of RunSettings and AdminSettings).
        #expect(instructions.filter { $0.keyword == "EXPOSE" }.map(\.arguments) == ["9464"])
        let deployment = try String(contentsOfFile: Self.deploy.appendingPathComponent("kubernetes/deployment.yaml").path, encoding: .utf8)
        #expect(deployment.contains("containerPort: 9464"))
        let health = try #require(instructions.last { $0.keyword == "HEALTHCHECK" }).arguments
        #expect(health.contains("/dev/tcp/127.0.0.1/9464") && health.contains("GET /-/healthy "), "\(health)")
        let user = try #require(instructions.last { $0.keyword == "USER" }).arguments
        let uid = try #require(Int(user.split(separator: ":").first ?? ""), "USER \(user) is not numeric")
        #expect(uid != 0 && user.split(separator: ":").allSatisfy { $0 != "0" }, "USER \(user)")
        #expect(instructions.contains { $0.stage == 1 && $0.keyword == "RUN" && $0.arguments.contains("useradd --system --uid \(uid) ") })
    }

    /// The image's HEALTHCHECK command, as written (with its port pointed at a free one), passes
    /// against a live `sluice run`'s admin server and fails once that run has stopped.
    @Test func dockerfileHealthCheckCommandProbesALiveAdminServer() async throws {
        let health = try #require(try Self.dockerfile().last { $0.keyword == "HEALTHCHECK" }).arguments
        let exec = try #require(health.range(of: "CMD ")).upperBound
        let command = try #require(try JSONSerialization.jsonObject(with: Data(health[exec...].utf8)) as? [String])
        #expect(command.count == 3 && command[0] == "/bin/bash" && command[1] == "-c", "\(command)")
        try await withRunHarness { harness in
            let broker = try await harness.broker()
            let receiver = try await harness.receiver()
            let config = try harness.webhookConfig(receiver)
            let port = try LoopbackPort.free()
            let probe = command[2].replacingOccurrences(of: "/127.0.0.1/9464", with: "/127.0.0.1/\(port)")
            #expect(probe != command[2])
            let sluice = try harness.sluice(broker, group: "health-\(UUID().uuidString.prefix(6))", config: config,
                                            extra: ["--admin-listen", "127.0.0.1:\(port)"])
            #expect(await LoopbackPort.accepts(port, within: 60), "\(sluice.output)")
            let live = try await Self.result("/bin/bash", ["-c", probe])
            #expect(live.status == 0, "\(live.output)")
            sluice.stop()
            // SIGKILL is sent at once; wait until the listener is gone before probing it again.
            var closed = false
            for _ in 0..<1200 where !closed {
                guard let fd = LoopbackPort.connect(port) else { closed = true; break }
                close(fd)
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(closed)
            let stopped = try await Self.result("/bin/bash", ["-c", probe])
            #expect(stopped.status != 0, "\(stopped.output)")
        }
    }
}
