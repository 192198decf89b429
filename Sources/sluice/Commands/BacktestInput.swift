import Foundation
import SluiceCore

/// NDJSON read in fixed-size chunks, line by line: memory stays flat whatever the file's size
/// (the whole file used to be read first: 240 MB RSS for a 178 MB history).
final class NDJSONLineReader {
    /// Bytes read so far, for progress.
    private(set) var bytesRead = 0
    /// The input's size when it is a regular file (nil for stdin or a pipe).
    let totalBytes: Int?

    private let file: UnsafeMutablePointer<FILE>
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    /// Bytes after each line that stay readable: the parser then reads the line in place.
    private let padding: Int
    private let maxLine: Int

    init(path: String, chunk: Int = 1 << 20, maxLine: Int, padding: Int) throws {
        if path == "-" {
            guard let f = fdopen(dup(STDIN_FILENO), "rb") else { throw CocoaError(.fileReadUnknown) }
            file = f
            totalBytes = nil
        } else {
            guard let f = fopen(path, "rb") else { throw CocoaError(.fileReadNoSuchFile) }
            file = f
            var info = stat()
            totalBytes = fstat(fileno(f), &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : nil
        }
        capacity = max(chunk, 64)
        self.padding = padding
        self.maxLine = max(maxLine, capacity)
        buffer = .allocate(byteCount: capacity + padding, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        fclose(file)
    }

    /// Calls `body` with each line, without its newline (the bytes are valid during the call,
    /// with `padding` readable bytes after them); a line longer than `maxLine` is skipped and
    /// reported once through `tooLong`.
    func forEachLine(_ body: (UnsafeRawBufferPointer) -> Void, tooLong: () -> Void) {
        var filled = 0
        var skipping = false
        while true {
            let n = fread(buffer + filled, 1, capacity - filled, file)
            bytesRead += n
            if n == 0 {
                if filled > 0 && !skipping { body(UnsafeRawBufferPointer(start: buffer, count: filled)) }
                return
            }
            let end = filled + n
            var start = 0
            var scan = filled
            while scan < end, let nl = memchr(buffer + scan, 0x0A, end - scan) {
                let at = buffer.distance(to: nl)
                if skipping {
                    skipping = false
                } else {
                    body(UnsafeRawBufferPointer(start: buffer + start, count: at - start))
                }
                start = at + 1
                scan = start
            }
            if skipping {
                filled = 0
                continue
            }
            let rest = end - start
            if rest == capacity {
                // One line fills the buffer: grow it up to the longest line allowed, then skip.
                if capacity < maxLine {
                    let bigger = UnsafeMutableRawPointer.allocate(byteCount: min(capacity * 2, maxLine) + padding, alignment: 64)
                    bigger.copyMemory(from: buffer, byteCount: rest)
                    buffer.deallocate()
                    buffer = bigger
                    capacity = min(capacity * 2, maxLine)
                    filled = rest
                } else {
                    tooLong()
                    skipping = true
                    filled = 0
                }
                continue
            }
            if start > 0 && rest > 0 { memmove(buffer, buffer + start, rest) }
            filled = rest
        }
    }
}

/// A finding's time as seconds since 1970, from ISO 8601 text (`2025-05-20T03:29:41.077Z`,
/// `2025-05-20T03:29:41+02:00`, `2025-05-20`). Strict: anything else is nil.
enum FindingTime {
    static func parse(_ text: String) -> Double? {
        var text = text
        return text.withUTF8 { parse($0) }
    }

    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> Double? {
        var i = 0
        func digits(_ count: Int) -> Int? {
            guard i + count <= b.count else { return nil }
            var v = 0
            for k in 0..<count {
                let d = b[i + k] &- UInt8(ascii: "0")
                if d > 9 { return nil }
                v = v * 10 + Int(d)
            }
            i += count
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")), let day = digits(2),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var seconds = Double(CivilDate.days(year: Int64(year), month: Int64(month), day: Int64(day))) * 86_400
        if i == b.count { return seconds }
        guard expect(UInt8(ascii: "T")) || expect(UInt8(ascii: " ")), let hour = digits(2), expect(UInt8(ascii: ":")), let minute = digits(2),
              hour < 24, minute < 60 else { return nil }
        seconds += Double(hour * 3600 + minute * 60)
        if expect(UInt8(ascii: ":")) {
            guard let second = digits(2), second <= 60 else { return nil }
            seconds += Double(second)
            if expect(UInt8(ascii: ".")) {
                var scale = 0.1
                var any = false
                while i < b.count, b[i] &- UInt8(ascii: "0") <= 9 {
                    seconds += Double(b[i] &- UInt8(ascii: "0")) * scale
                    scale /= 10
                    i += 1
                    any = true
                }
                if !any { return nil }
            }
        }
        if expect(UInt8(ascii: "Z")) { return i == b.count ? seconds : nil }
        guard i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return i == b.count ? seconds : nil }
        let sign: Double = b[i] == UInt8(ascii: "+") ? 1 : -1
        i += 1
        guard let oh = digits(2) else { return nil }
        _ = expect(UInt8(ascii: ":"))
        guard let om = digits(2), oh < 24, om < 60, i == b.count else { return nil }
        return seconds - sign * Double(oh * 3600 + om * 60)
    }
}
