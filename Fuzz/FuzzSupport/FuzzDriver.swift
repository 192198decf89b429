/// The glue every harness shares. SwiftPM links an executable with `main` aliased to
/// `<target>_main`, so each harness defines that symbol and hands over to libFuzzer's driver
/// (`LLVMFuzzerRunDriver`, in the runtime that `-sanitize=fuzzer` links) with its callback.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

public enum FuzzDriver {
    /// Runs libFuzzer with the command line (`-max_total_time=60 corpus/`, or files to replay).
    public static func run(
        _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv, callback)
    }

    /// The input as bytes (libFuzzer may pass a null pointer for an empty input).
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
        guard let data, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: count))
    }

    /// Input split at its first NUL byte: two independent parts from one input.
    public static func split(_ bytes: [UInt8]) -> (first: [UInt8], second: [UInt8]) {
        guard let nul = bytes.firstIndex(of: 0) else { return (bytes, []) }
        return (Array(bytes[..<nul]), Array(bytes[(nul + 1)...]))
    }

    /// A failed property of a harness: reported as a crash, which libFuzzer saves and minimises.
    public static func violated(_ what: String) -> Never {
        fatalError("fuzz property violated: \(what)")
    }
}
