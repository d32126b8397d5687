// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "Kauri",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kauri", targets: ["kauri"]),
        .executable(name: "kauri-load", targets: ["KauriLoad"]),
        .executable(name: "kauri-hello", targets: ["KauriHello"]),
        .executable(name: "kauri-ledger-bench", targets: ["KauriLedgerBench"]),
        .executable(name: "kauri-identity-bench", targets: ["KauriIdentityBench"]),
        .executable(name: "kauri-payments-bench", targets: ["KauriPaymentsBench"]),
        .library(name: "KauriCore", targets: ["KauriCore"]),
        .library(name: "KauriDatabase", targets: ["KauriDatabase"]),
        .library(name: "KauriHTTP", targets: ["KauriHTTP"]),
        .library(name: "KauriLedger", targets: ["KauriLedger"]),
        .library(name: "KauriMessaging", targets: ["KauriMessaging"]),
        .library(name: "KauriIdentity", targets: ["KauriIdentity"]),
        .library(name: "KauriWebhooks", targets: ["KauriWebhooks"]),
        .library(name: "KauriPayments", targets: ["KauriPayments"]),
        .library(name: "KauriEscrow", targets: ["KauriEscrow"]),
        .library(name: "KauriSandbox", targets: ["KauriSandbox"]),
        .library(name: "KauriServer", targets: ["KauriServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sql-kit", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit", from: "2.17.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        .target(
            name: "KauriCore",
            dependencies: []
        ),
        .target(
            name: "KauriDatabase",
            dependencies: [
                "KauriCore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KauriHTTP",
            dependencies: [
                "KauriCore",
                "KauriDatabase",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "KauriLedger",
            dependencies: [
                "KauriCore",
                "KauriDatabase",
                "KauriHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "KauriMessaging",
            dependencies: [
                "KauriCore",
                "KauriDatabase",
                "KauriHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "KauriIdentity",
            dependencies: [
                "KauriCore",
                "KauriDatabase",
                "KauriHTTP",
                "KauriMessaging",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            resources: [.copy("Resources/common-passwords.txt")]
        ),
        .target(
            name: "KauriWebhooks",
            dependencies: [
                "KauriCore",
                "KauriDatabase",
                "KauriHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "KauriPayments",
            dependencies: [
                "KauriCore",
                "KauriDatabase",
                "KauriHTTP",
                "KauriLedger",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "KauriEscrow",
            dependencies: [
                "KauriCore",
                "KauriDatabase",
                "KauriHTTP",
                "KauriLedger",
                "KauriMessaging",
                "KauriPayments",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "KauriSandbox",
            dependencies: [
                "KauriCore",
                "KauriHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "KauriServer",
            dependencies: [
                "KauriCore",
                "KauriDatabase",
                "KauriHTTP",
                "KauriLedger",
                "KauriMessaging",
                "KauriIdentity",
                "KauriWebhooks",
                "KauriPayments",
                "KauriEscrow",
                "KauriSandbox",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "kauri",
            dependencies: [
                "KauriServer",
                "KauriIdentity",
                "KauriDatabase",
                "KauriCore",
                "KauriLedger",
                "KauriSandbox",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "KauriLoad",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "bench/KauriLoad"
        ),
        .executableTarget(
            name: "KauriHello",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird")
            ],
            path: "bench/KauriHello"
        ),
        .executableTarget(
            name: "KauriLedgerBench",
            dependencies: [
                "KauriLedger",
                "KauriDatabase",
                "KauriCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "bench/KauriLedgerBench"
        ),
        .executableTarget(
            name: "KauriIdentityBench",
            dependencies: [
                "KauriServer",
                "KauriIdentity",
                "KauriMessaging",
                "KauriDatabase",
                "KauriCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "bench/KauriIdentityBench"
        ),
        .executableTarget(
            name: "KauriPaymentsBench",
            dependencies: [
                "KauriServer",
                "KauriPayments",
                "KauriEscrow",
                "KauriLedger",
                "KauriSandbox",
                "KauriDatabase",
                "KauriCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "bench/KauriPaymentsBench"
        ),
        .target(
            name: "KauriTestSupport",
            dependencies: [
                "KauriDatabase",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "KauriCoreTests",
            dependencies: ["KauriCore"]
        ),
        .testTarget(
            name: "KauriDatabaseTests",
            dependencies: ["KauriDatabase", "KauriCore", "KauriTestSupport"]
        ),
        .testTarget(
            name: "KauriHTTPTests",
            dependencies: [
                "KauriHTTP",
                "KauriCore",
                "KauriDatabase",
                "KauriTestSupport",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "KauriLedgerTests",
            dependencies: [
                "KauriLedger",
                "KauriTestSupport",
                "KauriDatabase",
                "KauriCore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "KauriMessagingTests",
            dependencies: [
                "KauriMessaging",
                "KauriSandbox",
                "KauriTestSupport",
                "KauriDatabase",
                "KauriCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "KauriIdentityTests",
            dependencies: [
                "KauriIdentity",
                "KauriHTTP",
                "KauriCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "KauriWebhooksTests",
            dependencies: [
                "KauriWebhooks",
                "KauriTestSupport",
                "KauriDatabase",
                "KauriHTTP",
                "KauriCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "KauriEscrowTests",
            dependencies: [
                "KauriEscrow",
                "KauriCore",
            ]
        ),
        .testTarget(
            name: "KauriPaymentsTests",
            dependencies: [
                "KauriPayments",
                "KauriSandbox",
                "KauriTestSupport",
                "KauriDatabase",
                "KauriLedger",
                "KauriHTTP",
                "KauriCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "KauriServerTests",
            dependencies: [
                "KauriServer",
                "KauriEscrow",
                "KauriTestSupport",
                "KauriIdentity",
                "KauriMessaging",
                "KauriSandbox",
                "KauriDatabase",
                "KauriLedger",
                "KauriHTTP",
                "KauriPayments",
                "KauriWebhooks",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
