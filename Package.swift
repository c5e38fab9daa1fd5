// swift-tools-version:6.1
import PackageDescription

// Layers, with one-way dependencies (see docs/architecture.md):
//   AtelierCore      pure model: tasks, jobs, validation, catalog, cost, routing. Foundation only.
//   AtelierImaging   pure image code: deterministic renderer, PNG/JPEG/WebP encoders, header probing, decoding
//                    (libpng, libjpeg-turbo, libwebp) and SSIM.
//   AtelierProviders the Provider seam, per-provider codecs (pure) and clients over the HTTPTransport protocol
//                    (implemented with AsyncHTTPClient in the engine).
//   AtelierEngine    scheduler, durable store (GRDB), result files, delivery, event bus.
//   AtelierRPC       the wire protocol (JSON-RPC 2.0 over NDJSON) shared by server and client.
//   AtelierServer    the Unix-domain socket face of the daemon (SwiftNIO).
//   AtelierHTTP      the HTTP face (Hummingbird): Prometheus metrics, health; the engine never imports it.
//   AtelierClient    the Swift client library other services depend on.
let package = Package(
    name: "atelier",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AtelierCore", targets: ["AtelierCore"]),
        .library(name: "AtelierClient", targets: ["AtelierClient"]),
        .executable(name: "atelierd", targets: ["atelierd"]),
        .executable(name: "atelier", targets: ["atelier"]),
        .executable(name: "atelier-bench", targets: ["atelier-bench"]),
        .executable(name: "atelier-fakes", targets: ["atelier-fakes"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // The operator's HTTP face (--http): /metrics, /healthz; Prometheus exposition through swift-metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // Heap for the shared timer of waits' timeouts (already in the graph through swift-nio).
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CAtelierZlib", path: "Sources/CAtelierZlib"),
        // Image decoding (and WebP encoding) with the libraries made for it; Debian -dev packages via scripts/setup-deps.
        .systemLibrary(name: "CAtelierPNG", path: "Sources/CAtelierPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CAtelierJPEG", path: "Sources/CAtelierJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CAtelierWebP", path: "Sources/CAtelierWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),
        .target(name: "AtelierCore"),
        // AVX2 base64 block decoding (Base64TolerantDecoder.decodeInPlace, Base64SpanDecoder); see the comment at the top of its source.
        .target(name: "CAtelierBase64"),
        .target(
            name: "AtelierImaging", dependencies: ["CAtelierZlib", "CAtelierBase64", "CAtelierPNG", "CAtelierJPEG", "CAtelierWebP"]),
        .target(
            name: "AtelierProviders",
            dependencies: [
                "AtelierCore",
                "AtelierImaging",
                // SHA-256 of results in the decoding pass; NIOThreadPool for file work off the cooperative pool.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "AtelierEngine",
            dependencies: [
                "AtelierCore",
                "AtelierProviders",
                "AtelierImaging",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                // The PostgreSQL store (Store/Postgres: several daemons, one queue).
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        .target(name: "AtelierRPC", dependencies: ["AtelierCore", .product(name: "NIOCore", package: "swift-nio")]),
        .target(
            name: "AtelierServer",
            dependencies: [
                "AtelierCore",
                "AtelierRPC",
                "AtelierEngine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "AtelierClient",
            dependencies: [
                "AtelierCore",
                "AtelierRPC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "atelierd",
            dependencies: [
                "AtelierCore",
                "AtelierRPC",
                "AtelierServer",
                "AtelierHTTP",
                "AtelierOperations",
                "AtelierEngine",
                "AtelierProviders",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The HTTP face of the daemon (Hummingbird): Prometheus metrics, health, the bearer token.
        .target(
            name: "AtelierHTTP",
            dependencies: [
                "AtelierCore",
                "AtelierEngine",
                // The console's API calls the socket's method table (RPCDispatcher), so both faces validate alike.
                "AtelierRPC",
                "AtelierServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The web console: plain HTML, CSS and JavaScript modules, no build step (docs/operations.md, "The console").
            resources: [.copy("Console")]
        ),
        // What running as a service needs besides the faces: JSON log lines with secrets scrubbed, systemd readiness.
        .target(name: "AtelierOperations", dependencies: ["AtelierCore", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(
            name: "atelier",
            dependencies: [
                "AtelierClient",
                "AtelierCore",
                "AtelierRPC",
                // `atelier store migrate` reads the SQLite store and writes the PostgreSQL one directly.
                "AtelierEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "atelier-bench",
            dependencies: [
                "AtelierRPC",
                "AtelierCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Loopback fakes of the provider APIs (tests and the demo's simulation mode).
        .target(
            name: "AtelierTesting",
            dependencies: [
                "AtelierCore",
                "AtelierImaging",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "atelier-fakes", dependencies: ["AtelierTesting"]),
        .testTarget(name: "AtelierCoreTests", dependencies: ["AtelierCore"]),
        .testTarget(name: "AtelierImagingTests", dependencies: ["AtelierImaging"]),
        .testTarget(name: "AtelierProvidersTests", dependencies: ["AtelierProviders", "AtelierCore"]),
        // What the engine and integration tests share: waits that fail loudly (eventually) and the engine fixture.
        .target(
            name: "AtelierTestSupport",
            dependencies: ["AtelierCore", "AtelierEngine", "AtelierProviders", .product(name: "Logging", package: "swift-log")],
            path: "Tests/AtelierTestSupport"
        ),
        .testTarget(
            name: "AtelierEngineTests",
            dependencies: ["AtelierEngine", "AtelierCore", "AtelierProviders", "AtelierImaging", "AtelierTestSupport"]
        ),
        .testTarget(
            name: "AtelierPostgresTests",
            dependencies: [
                "AtelierEngine", "AtelierCore", "AtelierTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // The three-daemon tests: spawned daemons, the typed client, the provider fakes.
                "AtelierClient", "AtelierRPC", "AtelierTesting",
            ]),
        .testTarget(
            name: "AtelierIntegrationTests",
            dependencies: [
                "AtelierClient", "AtelierCore", "AtelierRPC", "AtelierServer", "AtelierEngine", "AtelierTesting", "AtelierTestSupport",
                "AtelierHTTP", "AtelierOperations",
            ],
            resources: []
        ),
    ]
)
