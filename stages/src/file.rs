//! Opening the files stages read: regular files only, and never a wait.
//!
//! A file found by a walk can be swapped for something else before a stage
//! opens it: a FIFO (whose `open` waits for a writer and whose reads wait
//! for data), a device (`/dev/zero` never ends), a socket. Opening without
//! blocking and then asking the opened descriptor what it is (not the path,
//! which may change again in between) refuses all of them at once, with a
//! permanent error naming what was found.

use std::fs::{File, FileType, OpenOptions};
use std::io;
use std::path::Path;

/// Opens `path` for reading if it is a regular file (a symbolic link to one
/// is followed). Anything else is an [`io::ErrorKind::InvalidInput`] error
/// saying what it is, returned without waiting.
///
/// # Errors
///
/// The error of opening or inspecting the file, or `InvalidInput` for a
/// FIFO, device, socket or directory.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking open: a FIFO without a writer opens at once instead
        // of waiting; no controlling terminal is taken from a tty. Reads of
        // a regular file are not affected by O_NONBLOCK.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file but {}", describe(kind)),
        ))
    }
}

/// What a file that is not a regular file is, in a few words.
fn describe(kind: FileType) -> &'static str {
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}
