//! Writing what the command prints without ever panicking on the way.
//!
//! Rust ignores SIGPIPE, so writing to a pipe whose reader has gone (`vpclab run X | head -1`)
//! returns an error of kind `BrokenPipe`, which `print!` turns into a panic (exit 101), as it
//! does a full disk. Here a closed pipe ends the command quietly with exit 0 (the reader has
//! what it wanted), and any other write error prints one line on standard error and exits 1.
//!
//! Commands whose output is their result (`run`, `test`, `check`, `export`) write through
//! [`to_stdout`]: locked and buffered (a run can print millions of lines), stopping at the
//! first error. Commands that only report progress on the side (`apply`, `serve`, `bench`)
//! print with [`say!`], which never stops the work it reports on (a half-applied scenario
//! because a terminal closed would be worse than a missing line): after the first error it
//! prints nothing more, and [`finish`] turns that error into the exit code once the work is
//! done.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Mutex;

/// Runs `body` with a locked, buffered standard output, then flushes it; a write error (in
/// `body` or the flush) becomes the exit code as the module says.
pub(crate) fn to_stdout(body: impl FnOnce(&mut dyn Write) -> io::Result<ExitCode>) -> ExitCode {
    let mut w = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    // On an error, dropping `w` tries to flush what is left and ignores the outcome.
    match body(&mut w).and_then(|code| w.flush().map(|()| code)) {
        Ok(code) => code,
        Err(e) => write_failed(&e),
    }
}

/// The exit for a failed write to standard output.
pub(crate) fn write_failed(e: &io::Error) -> ExitCode {
    if e.kind() == io::ErrorKind::BrokenPipe {
        ExitCode::SUCCESS
    } else {
        crate::fail(1, &format!("cannot write the output: {e}"))
    }
}

/// A line on standard error. Nothing is left to tell the user if that fails too, so the
/// error is ignored (`eprintln!` would panic).
pub(crate) fn warn(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// The first failed write of [`say!`], if any.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// Prints a line of progress on standard output, unless a line failed before.
pub(crate) fn say_line(line: std::fmt::Arguments<'_>) {
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_none()
        && let Err(e) = writeln!(io::stdout().lock(), "{line}")
    {
        *failed = Some(e);
    }
}

/// The exit code of a command that printed with [`say!`]: `code`, unless a line could not be
/// written for another reason than a closed pipe and the command otherwise succeeded.
pub(crate) fn finish(code: ExitCode) -> ExitCode {
    let failed = FAILED.lock().unwrap_or_else(|e| e.into_inner()).take();
    match failed {
        Some(e) if code == ExitCode::SUCCESS => write_failed(&e),
        _ => code,
    }
}

/// `println!` for progress lines: see [`say_line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say_line(format_args!($($arg)*))
    };
}
pub(crate) use say;
