// swift-tools-version: 6.1
import PackageDescription

// librdkafka >= 2.1 lives in /usr/local (scripts/setup builds it there when Debian's is older);
// the rpath makes the binary load that build rather than any older system copy.
let localLib: [LinkerSetting] = [
    .unsafeFlags(["-L/usr/local/lib", "-Xlinker", "-rpath", "-Xlinker", "/usr/local/lib"])
]
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // No default traits: swift-configuration is not needed (settings come from our own config file).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // MARK: C libraries
        .systemLibrary(name: "CRdKafka", path: "Sources/CRdKafka"),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl"),
        .systemLibrary(name: "CJansson", path: "Sources/CJansson", pkgConfig: "jansson"),
        // posix_spawn's closefrom file action, which Swift's Glibc module leaves out (exec executor).
        .systemLibrary(name: "CSpawn", path: "Sources/CSpawn"),
        .target(
            name: "CSimdjson",
            path: "Sources/CSimdjson",
            cxxSettings: [.unsafeFlags(["-O3"])],
            linkerSettings: [.linkedLibrary("simdjson"), .linkedLibrary("stdc++")]
        ),

        // MARK: Sluice libraries
        .target(
            name: "SluiceCore",
            dependencies: [
                "CSimdjson", "CJansson",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: strict
        ),
        // GuardDuty's own knowledge, apart from the format-neutral engine: the finding summary
        // templates read (`TemplateSummary`), filter criteria (a `PatternDialect` the executable
        // registers), the EventBridge envelope, the sample finding templates are checked with.
        .target(name: "SluiceGuardDuty", dependencies: ["SluiceCore"], swiftSettings: strict),
        // Finding formats (GuardDuty, ASFF, OCSF, Falco): the one decode-and-normalise entry
        // point and the `sluice.*` view (docs/formats.md).
        .target(
            name: "SluiceFormats",
            dependencies: ["SluiceCore", "SluiceGuardDuty", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "SluiceKafka",
            dependencies: [
                "CRdKafka", "SluiceCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict,
            linkerSettings: localLib
        ),
        .target(
            name: "SluiceHTTP",
            dependencies: [
                "CCurl",
                "SluiceCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SluiceAWS",
            dependencies: ["SluiceCore", "SluiceHTTP", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "SluiceConnectors",
            dependencies: ["SluiceCore", "SluiceGuardDuty", "SluiceFormats", "SluiceKafka", "SluiceHTTP", "SluiceAWS", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "SluiceActions",
            dependencies: ["CSpawn", "SluiceCore", "SluiceGuardDuty", "SluiceFormats", "SluiceKafka", "SluiceHTTP", "SluiceAWS", "SluiceConnectors", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Admin HTTP server (probes, /metrics, API, dashboard): knows the runtime only through
        // the `AdminRuntime` protocol it defines.
        .target(
            name: "SluiceAdmin",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            resources: [.embedInCode("Resources/dashboard.html")],
            swiftSettings: strict
        ),
        .target(
            name: "SluiceState",
            dependencies: [
                "SluiceCore", "SluiceGuardDuty", "SluiceKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict,
            linkerSettings: localLib
        ),
        // Dead-letter browsing and replay (`sluice dlq`): letters, filters, progress ledger, engine.
        // Knows the runtime only through `ReplayDispatch`, which SluiceRuntime implements.
        .target(
            name: "SluiceReplay",
            dependencies: ["SluiceCore", "SluiceFormats", "SluiceKafka", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict,
            linkerSettings: localLib
        ),
        .target(
            name: "SluiceRuntime",
            dependencies: [
                "SluiceCore", "SluiceGuardDuty", "SluiceFormats", "SluiceKafka", "SluiceHTTP", "SluiceConnectors", "SluiceActions", "SluiceState", "SluiceAdmin", "SluiceReplay",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Route tests for CI (`sluice test --suite`).
        .target(
            name: "SluiceSuite",
            dependencies: ["SluiceCore", "SluiceRuntime"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceCore", "SluiceGuardDuty", "SluiceFormats", "SluiceKafka", "SluiceRuntime", "SluiceConnectors", "SluiceActions", "SluiceSuite", "SluiceState", "SluiceAdmin", "SluiceReplay",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            // mimalloc: records are allocated on the source thread and freed on delivery threads;
            // glibc's malloc spent a sixth of the router's CPU on that at 100k+ findings/s.
            linkerSettings: localLib + [.linkedLibrary("mimalloc")],
            plugins: ["BuildInfoPlugin"]
        ),

        // `sluice --version` names the git commit it was built from.
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),

        // MARK: Benchmarks (`make bench`, `make bench-match`)
        // Generated findings and mixed route sets: the benchmark's workload and the differential test's.
        .target(
            name: "SluiceMatchWorkload",
            dependencies: ["SluiceCore"],
            path: "Benchmarks/MatchWorkload",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sluice-bench-match",
            dependencies: ["SluiceCore", "SluiceFormats", "SluiceMatchWorkload"],
            path: "Benchmarks/MatchBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sluice-bench",
            dependencies: ["CRdKafka", "SluiceCore", "SluiceKafka", "SluiceState", "SluiceTestSupport", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/PipelineBenchmark",
            swiftSettings: strict,
            linkerSettings: localLib
        ),

        // MARK: Tests
        .target(
            name: "SluiceTestSupport",
            dependencies: ["SluiceCore", "SluiceKafka", .product(name: "Logging", package: "swift-log")],
            path: "Tests/SluiceTestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore", "SluiceGuardDuty", "SluiceTestSupport", "SluiceMatchWorkload"], swiftSettings: strict),
        .testTarget(name: "SluiceGuardDutyTests", dependencies: ["SluiceGuardDuty", "SluiceCore", "SluiceTestSupport"], swiftSettings: strict),
        .testTarget(name: "SluiceFormatsTests", dependencies: ["SluiceFormats", "SluiceCore", "SluiceGuardDuty", "SluiceConnectors", "SluiceTestSupport"], swiftSettings: strict,
                    linkerSettings: localLib),
        .testTarget(name: "SluiceKafkaTests", dependencies: ["SluiceKafka", "SluiceTestSupport"], swiftSettings: strict, linkerSettings: localLib),
        .testTarget(
            name: "SluiceStateTests",
            dependencies: ["SluiceState", "SluiceTestSupport", "SluiceKafka", "SluiceCore"],
            swiftSettings: strict,
            linkerSettings: localLib
        ),
        .testTarget(
            name: "SluiceReplayTests",
            dependencies: ["SluiceReplay", "SluiceTestSupport", "SluiceKafka", "SluiceCore"],
            swiftSettings: strict,
            linkerSettings: localLib
        ),
        .testTarget(name: "SluiceHTTPTests", dependencies: ["SluiceHTTP", "SluiceTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "SluiceConnectorTests",
            dependencies: ["SluiceConnectors", "SluiceTestSupport", "SluiceCore", "SluiceGuardDuty", "SluiceFormats", "SluiceHTTP", "SluiceKafka", "SluiceAWS"],
            swiftSettings: strict,
            linkerSettings: localLib
        ),
        .testTarget(name: "SluiceAWSTests", dependencies: ["SluiceAWS", "SluiceTestSupport", "SluiceHTTP"], swiftSettings: strict),
        .testTarget(
            name: "SluiceActionsTests",
            dependencies: ["SluiceActions", "SluiceTestSupport", "SluiceAWS", "SluiceHTTP", "SluiceKafka", "SluiceCore", "SluiceGuardDuty"],
            swiftSettings: strict,
            linkerSettings: localLib
        ),
        .testTarget(name: "SluiceRuntimeTests", dependencies: ["SluiceRuntime", "SluiceConnectors", "SluiceFormats", "SluiceTestSupport",
                                                       .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                    swiftSettings: strict, linkerSettings: localLib),
        .testTarget(
            name: "SluiceSuiteTests",
            dependencies: ["SluiceSuite", "SluiceRuntime", "SluiceCore", "SluiceTestSupport"],
            swiftSettings: strict,
            linkerSettings: localLib
        ),
        .testTarget(
            name: "SluiceAdminTests",
            dependencies: ["SluiceAdmin", "SluiceTestSupport", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SluiceIntegrationTests",
            dependencies: ["SluiceRuntime", "SluiceReplay", "SluiceTestSupport", "SluiceKafka", "SluiceCore", "SluiceGuardDuty", "SluiceAWS", "SluiceHTTP", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict,
            linkerSettings: localLib
        ),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)

// MARK: Fuzzing (`make fuzz` only)
// libFuzzer harnesses, added only when SLUICE_FUZZ is set: scripts/fuzz builds them with
// -sanitize=fuzzer in .build/fuzz, so the normal build and `make test` never compile them.
if Context.environment["SLUICE_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/FuzzSupport", swiftSettings: strict))
    let harnesses: [(String, [Target.Dependency])] = [
        ("FuzzJSONMatch", ["SluiceCore", "SluiceGuardDuty"]), ("FuzzPattern", ["SluiceCore", "SluiceGuardDuty"]), ("FuzzTemplate", ["SluiceCore", "SluiceGuardDuty"]),
        ("FuzzConfigYAML", ["SluiceCore", "SluiceGuardDuty", "SluiceConnectors"]), ("FuzzSyslogCEF", ["SluiceCore", "SluiceGuardDuty", "SluiceHTTP", "SluiceConnectors", "SluiceFormats"]),
        ("FuzzHTTPHeaders", ["SluiceCore", "SluiceHTTP", "SluiceConnectors", "SluiceActions"]), ("FuzzFindingDecoder", ["SluiceCore", "SluiceFormats"]),
        ("FuzzTopicRecords", ["SluiceCore", "SluiceKafka", "SluiceState", "SluiceActions", "SluiceReplay"]),
    ]
    for (name, dependencies) in harnesses {
        package.targets.append(.executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies, path: "Fuzz/\(name)",
                                                 swiftSettings: strict, linkerSettings: localLib))
    }
}
