//! From the bytes a person hands us to the header section mail-parser reads:
//! a whole message, a bare header block, or an mbox; CRLF or LF.

/// Larger input is refused: a message's header section is rarely over a few
/// hundred KiB, and the whole message is read into memory.
pub const MAX_INPUT_BYTES: usize = 10 * 1024 * 1024;

/// A header value shown or parsed raw is cut to this many bytes (the longest
/// legitimate fields, ARC seals and DKIM signatures, stay well under it).
pub const MAX_RAW_VALUE_BYTES: usize = 8 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error(
        "the input is {0} bytes, over the limit of {MAX_INPUT_BYTES} bytes (10 MiB): give the message's header section only"
    )]
    TooLarge(usize),
}

/// The header section, and what was done to find it.
pub struct Prepared<'a> {
    pub header_section: &'a [u8],
    pub notes: Vec<String>,
}

pub fn prepare(bytes: &[u8]) -> Result<Prepared<'_>, InputError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge(bytes.len()));
    }
    let mut notes = Vec::new();
    let mut rest = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Blank lines before the first field (a paste) would read as an empty header section.
    while let Some(line_end) = rest.iter().position(|&b| b == b'\n') {
        if rest[..line_end].iter().all(u8::is_ascii_whitespace) {
            rest = &rest[line_end + 1..];
        } else {
            break;
        }
    }
    if is_mbox_separator(rest) {
        let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        rest = rest.get(line_end + 1..).unwrap_or_default();
        notes.push(
            "mbox input: the first message is read (its \"From \" separator line skipped)".into(),
        );
    }
    let section = match header_end(rest) {
        Some(end) => &rest[..end],
        None => rest,
    };
    Ok(Prepared {
        header_section: section,
        notes,
    })
}

/// An mbox "From " line: `From sender date`, unlike a `From:` field (even one
/// written `From :` in the obsolete syntax).
fn is_mbox_separator(bytes: &[u8]) -> bool {
    bytes
        .strip_prefix(b"From ")
        .is_some_and(|after| !after.trim_ascii_start().starts_with(b":"))
}

/// The end of the header section: just past the first empty line's line break.
fn header_end(bytes: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    while line_start < bytes.len() {
        let line_end = bytes[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| line_start + p);
        let line = &bytes[line_start..line_end.unwrap_or(bytes.len())];
        if line.is_empty() || line == b"\r" {
            return Some(line_start);
        }
        line_start = line_end? + 1;
    }
    None
}

/// A field's value as it stood in the header, unfolded (line breaks and the
/// whitespace after them become one space), cut to [`MAX_RAW_VALUE_BYTES`].
pub fn raw_value(section: &[u8], header: &mail_parser::Header<'_>) -> String {
    let start = header.offset_start as usize;
    let end = header.offset_end as usize;
    let bytes = section.get(start..end.max(start)).unwrap_or_default();
    unfold(bytes)
}

pub fn unfold(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_RAW_VALUE_BYTES)];
    let text = String::from_utf8_lossy(cut);
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c == '\r' || c == '\n' || c == '\t' || c == ' ' {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    if bytes.len() > MAX_RAW_VALUE_BYTES {
        out.push_str(" […]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_dropped_and_crlf_tolerated() {
        let p = prepare(b"Subject: a\r\nTo: b@c.test\r\n\r\nbody: not a header\r\n").unwrap();
        assert_eq!(p.header_section, b"Subject: a\r\nTo: b@c.test\r\n");
        let p = prepare(b"Subject: a\n\nbody: x\n").unwrap();
        assert_eq!(p.header_section, b"Subject: a\n");
        let p = prepare(b"Subject: a\nTo: b").unwrap();
        assert_eq!(p.header_section, b"Subject: a\nTo: b");
    }

    #[test]
    fn an_mbox_separator_is_skipped_but_a_from_field_is_not() {
        let p = prepare(b"From bob@x.test Mon Nov 23 18:40:12 2026\nSubject: a\n\nb").unwrap();
        assert_eq!(p.header_section, b"Subject: a\n");
        assert_eq!(p.notes.len(), 1);
        let p = prepare(b"From : bob@x.test\nSubject: a\n").unwrap();
        assert!(p.header_section.starts_with(b"From :"));
        assert!(p.notes.is_empty());
    }

    #[test]
    fn leading_blank_lines_and_a_bom_are_skipped() {
        let p = prepare(b"\xEF\xBB\xBF\r\n  \nSubject: a\n").unwrap();
        assert_eq!(p.header_section, b"Subject: a\n");
    }

    #[test]
    fn oversized_input_is_refused() {
        let big = vec![b'a'; MAX_INPUT_BYTES + 1];
        assert_eq!(
            prepare(&big).err(),
            Some(InputError::TooLarge(MAX_INPUT_BYTES + 1))
        );
    }

    #[test]
    fn unfolding_joins_lines_with_one_space() {
        assert_eq!(unfold(b" a\r\n\tb  c\n d "), "a b c d");
        let long = vec![b'x'; MAX_RAW_VALUE_BYTES + 10];
        assert!(unfold(&long).ends_with(" […]"));
    }
}
