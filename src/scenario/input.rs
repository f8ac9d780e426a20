//! Reading a scenario or `--vars` file safely: regular files only, up to a size limit,
//! checked before anything is read (a FIFO would block, `/dev/zero` never ends).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Largest scenario or vars file accepted, in bytes (4 MiB).
pub const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

/// What a non-regular file is, in words.
fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Reads `path` as UTF-8 text if it is a regular file of at most [`MAX_INPUT_BYTES`].
/// The file is checked before it is read (and opened non-blocking, so a FIFO swapped in
/// after the check cannot hang); a leading UTF-8 byte-order mark is removed.
pub fn read_checked(path: &Path) -> Result<String, String> {
    let refuse = |t: std::fs::FileType| {
        format!(
            "cannot read: {} is {}; give a regular file",
            path.display(),
            kind_of(t)
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(refuse(meta.file_type()));
    }
    let too_big = |len: u64| {
        format!(
            "cannot read: the file is {len} bytes; the limit is {MAX_INPUT_BYTES} bytes (4 MiB)"
        )
    };
    if meta.len() > MAX_INPUT_BYTES {
        return Err(too_big(meta.len()));
    }
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(refuse(meta.file_type()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        format!("cannot read: not UTF-8 text (invalid byte on line {line})")
    })?;
    Ok(strip_bom(text))
}

/// Removes a leading UTF-8 byte-order mark.
pub fn strip_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }
}
