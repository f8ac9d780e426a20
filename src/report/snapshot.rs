//! Golden-file snapshots for the renderers: timestamps redacted, files under
//! `tests/golden/`, rewritten when `KUBEDRILL_BLESS=1`.

use std::path::PathBuf;

/// Replaces every RFC 3339 timestamp (`2024-05-01T10:00:00.000Z`, `…+02:00`) with `<TS>`.
pub(crate) fn redact_timestamps(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        match timestamp_len(rest) {
            Some(n) => {
                out.push_str("<TS>");
                rest = &rest[n..];
            }
            None => {
                let c = rest.chars().next().expect("rest is not empty");
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Length of the timestamp `s` starts with, if it starts with one.
fn timestamp_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| {
        b.len() >= from + n && b[from..from + n].iter().all(u8::is_ascii_digit)
    };
    let shape = "dddd-dd-ddTdd:dd:dd";
    let fixed = shape.bytes().enumerate().all(|(i, c)| match c {
        b'd' => digits(i, 1),
        c => b.get(i) == Some(&c),
    });
    if !fixed {
        return None;
    }
    let mut n = shape.len();
    if b.get(n) == Some(&b'.') && digits(n + 1, 1) {
        n += 1;
        while digits(n, 1) {
            n += 1;
        }
    }
    match b.get(n) {
        Some(b'Z') => Some(n + 1),
        Some(b'+' | b'-')
            if digits(n + 1, 2) && b.get(n + 3) == Some(&b':') && digits(n + 4, 2) =>
        {
            Some(n + 6)
        }
        _ => Some(n),
    }
}

/// Compares `actual` (timestamps redacted) with `tests/golden/<name>`; with
/// `KUBEDRILL_BLESS=1` writes the file instead.
pub(crate) fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let actual = redact_timestamps(actual);
    if std::env::var("KUBEDRILL_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create golden dir");
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with KUBEDRILL_BLESS=1 to write it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the rendered output first at line {}:\n  golden:   {:?}\n  rendered: {:?}\nrerun with KUBEDRILL_BLESS=1 if the change is intended",
            path.display(),
            line + 1,
            clip(expected.lines().nth(line)),
            clip(actual.lines().nth(line)),
        );
    }
}

/// A line short enough to read in a failure message.
fn clip(line: Option<&str>) -> String {
    match line {
        Some(l) => l.chars().take(160).collect(),
        None => "<end of file>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_timestamps;

    #[test]
    fn redacts_rfc3339_timestamps() {
        assert_eq!(
            redact_timestamps(
                "from 2024-05-01T10:00:00.000Z to 2024-05-01T10:00:20+02:00, 2024-05-01"
            ),
            "from <TS> to <TS>, 2024-05-01"
        );
    }
}
