import Foundation

/// Paths of the package under test.
public enum PackagePaths {
    /// The package root, found from this file's location.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }()

    /// Where the built executables are: `$ATELIER_BIN_DIR`, else the directory of the running test binary.
    public static let binDirectory: String = {
        if let d = ProcessInfo.processInfo.environment["ATELIER_BIN_DIR"], !d.isEmpty { return d }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0], relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        var dir = exe.deletingLastPathComponent()
        // On Linux the test binary is `<bin>/atelierPackageTests.xctest`.
        if dir.lastPathComponent.hasSuffix(".xctest") { dir.deleteLastPathComponent() }
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("atelierd").path) { return dir.path }
        return root + "/.build/debug"
    }()

    /// The daemon under test.
    public static var atelierd: String { binDirectory + "/atelierd" }
    /// The CLI under test.
    public static var atelier: String { binDirectory + "/atelier" }
}
