// swift-tools-version:6.0
// LipSync: lip-sync checking and repair. Data flows Media -> Audio/Vision -> Sync/Generate -> CLI.
import PackageDescription

let package = Package(
    name: "LipSync",
    products: [
        .executable(name: "lipsync", targets: ["LipSyncCLI"]),
        .executable(name: "lipsync-bench", targets: ["LipSyncBench"]),
        .library(name: "Media", targets: ["Media"]),
        .library(name: "Audio", targets: ["Audio"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Vision", targets: ["Vision"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Sync", targets: ["Sync"]),
        .library(name: "Generate", targets: ["Generate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Thin C shims: module maps only, flags from pkg-config.
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev",
                                         "libswscale-dev", "libswresample-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        .target(name: "Parallel"),
        // Direct convolution kernels compiled for AVX2 and AVX-512 and chosen at run time.
        .target(name: "CKernels"),
        // oneDNN (Debian's libdnnl-dev) behind Conv2d; no pkg-config file ships with it.
        .target(name: "COneDNN", linkerSettings: [.linkedLibrary("dnnl")]),
        .target(name: "Media", dependencies: ["CFFmpeg"]),
        .target(name: "Audio", dependencies: ["Media", "CFFTW", "Parallel"]),
        .target(name: "NN", dependencies: ["COpenBLAS", "CKernels", "COneDNN"]),
        // Model-agnostic training (loop, schedule, checkpoints, log) beside the engine, not inside a model.
        .target(name: "Training", dependencies: ["NN"]),
        .target(name: "Vision", dependencies: ["Media", "NN"]),
        .target(name: "Sync", dependencies: ["Media", "Audio", "NN", "Training", "Vision"]),
        .target(name: "Generate", dependencies: ["Media", "Audio", "NN", "Training", "Vision", "Sync"]),
        .executableTarget(name: "LipSyncCLI", dependencies: [
            "Media", "Audio", "NN", "Training", "Vision", "Sync", "Generate",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "LipSyncBench", dependencies: [
            "Media", "Audio", "NN", "Vision", "Sync", "Generate", "COpenBLAS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "MediaTests", dependencies: ["Media"]),
        .testTarget(name: "AudioTests", dependencies: ["Audio", "Media"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Training"]),
        .testTarget(name: "VisionTests", dependencies: ["Vision", "Media", "NN"]),
        .testTarget(name: "SyncTests", dependencies: ["Sync", "Media", "Audio", "NN", "Training"]),
        .testTarget(name: "GenerateTests", dependencies: ["Generate", "Sync", "Media", "Audio", "NN", "Training", "Vision"]),
        // Runs the built `lipsync` binary (exit codes, JSON, a tiny training run).
        .testTarget(name: "CLITests", dependencies: ["LipSyncCLI"]),
    ]
)
