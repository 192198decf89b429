import Foundation

extension Pipe {
    /// A pipe whose two ends no child process inherits by accident. Foundation's `Pipe` opens
    /// them without close-on-exec and relies on each spawn closing every descriptor it found
    /// open; a pipe made by another test between that scan and the fork leaks into the child.
    /// A server child (Tansu, a receiver) that inherits the writing end of someone's stdin or
    /// stdout pipe holds it open for its whole life: the reader never sees end of file, and a run
    /// waiting for the end of its input never exits. Process still gives the child its own end:
    /// `dup2` onto 0, 1 or 2 clears the flag on the copy.
    public static func closedOnExec() -> Pipe {
        let pipe = Pipe()
        for fd in [pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForWriting.fileDescriptor] {
            _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
        }
        return pipe
    }
}
