import COpenBLAS
import Foundation

/// OpenBLAS picks its GEMM kernel from the CPU model when the library loads. A CPU newer than the
/// library (Debian 12's OpenBLAS 0.3.21 does not know Emerald Rapids, family 6 model 207) falls back
/// to the SSE3 "Prescott" kernel, although the CPU has AVX-512: measured on such a host, `lipsync
/// offset` ran at 3.4x real time on Prescott and 5.0x on SkylakeX. The kernel can only be chosen
/// before the library loads (OPENBLAS_CORETYPE, read by its constructor), so when the fallback is
/// detected the process starts itself again with the variable set. A user's own OPENBLAS_CORETYPE is
/// never overridden.
public enum BLASKernel {
    /// The kernel OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...).
    public static var name: String { String(cString: openblas_get_corename()) }

    /// The kernel this CPU's features support, when OpenBLAS fell back to a generic one; nil when
    /// OpenBLAS's own choice stands.
    public static func replacement(chosen: String, cpuFlags: Set<String>) -> String? {
        guard chosen.lowercased() == "prescott" else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Call first thing in `main`: re-executes this program with OPENBLAS_CORETYPE set when OpenBLAS
    /// fell back to a generic kernel on a CPU with AVX2 or AVX-512. Returns normally otherwise (or if
    /// the re-execution fails: the program then runs on the slower kernel).
    public static func useFastKernel() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["LIPSYNC_KERNEL_CHECKED"] == nil,
              let kernel = replacement(chosen: name, cpuFlags: cpuFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", kernel, 1)
        setenv("LIPSYNC_KERNEL_CHECKED", "1", 1)
        let args = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        argv.append(nil)
        // The resolved path, not /proc/self/exe itself, so the process keeps its name (ps, pkill).
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe"
        execv(exe, &argv)
    }
}
