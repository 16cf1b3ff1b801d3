//! The pure parsers of SMTP replies (RFC 5321 §4.2): one reply line, the EHLO keywords and the
//! host a greeting announces. The probe's reader feeds them bytes; the reply they describe is the
//! model type [`Reply`] of `observation::smtp`.

use crate::observation::smtp::Reply;

impl Reply {
    /// The EHLO keywords (first word of each line after the first), upper case.
    pub fn ehlo_keywords(&self) -> Vec<String> {
        self.lines
            .iter()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_ascii_uppercase)
            .collect()
    }

    /// The host name a 220 greeting announces: its first word (RFC 5321 §4.3.1).
    pub fn greeting_host(&self) -> Option<String> {
        let first = self.lines.first()?.split_whitespace().next()?;
        let host = first.trim_end_matches('.').to_ascii_lowercase();
        let plausible = host.contains('.')
            && host.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':')
            });
        plausible.then_some(host)
    }
}

/// One parsed reply line: `code`, whether more lines follow (`-`), and the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyLine {
    pub code: u16,
    pub more: bool,
    pub text: String,
}

/// Parses one reply line without its CRLF. Pure, total: any bytes give a line or an error.
pub fn parse_reply_line(line: &[u8]) -> Result<ReplyLine, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(format!("not an SMTP reply line: {:?}", preview(line)));
    }
    let code = u16::from(line[0] - b'0') * 100
        + u16::from(line[1] - b'0') * 10
        + u16::from(line[2] - b'0');
    if !(200..600).contains(&code) {
        return Err(format!("reply code {code} is outside 2xx-5xx"));
    }
    let (more, rest) = match line.get(3) {
        None => (false, &line[3..]),
        Some(b' ') => (false, &line[4..]),
        Some(b'-') => (true, &line[4..]),
        Some(_) => return Err(format!("malformed reply line: {:?}", preview(line))),
    };
    Ok(ReplyLine {
        code,
        more,
        text: String::from_utf8_lossy(rest).into_owned(),
    })
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines() {
        assert_eq!(
            parse_reply_line(b"250-mx.example.com Hello\r").unwrap(),
            ReplyLine {
                code: 250,
                more: true,
                text: "mx.example.com Hello".into()
            }
        );
        assert!(!parse_reply_line(b"220").unwrap().more);
        assert!(parse_reply_line(b"HELLO there").is_err());
        assert!(parse_reply_line(b"999 what").is_err());
        assert!(parse_reply_line(b"250_x").is_err());
        assert!(parse_reply_line(b"\xff\x00\x01").is_err());
    }

    #[test]
    fn greeting_and_ehlo() {
        let greeting = Reply {
            code: 220,
            lines: vec!["MX1.Example.COM ESMTP Postfix".into()],
        };
        assert_eq!(greeting.greeting_host().as_deref(), Some("mx1.example.com"));
        let bare = Reply {
            code: 220,
            lines: vec!["ready".into()],
        };
        assert_eq!(bare.greeting_host(), None);
        let ehlo = Reply {
            code: 250,
            lines: vec![
                "mx1 hello".into(),
                "PIPELINING".into(),
                "starttls".into(),
                "SIZE 1000".into(),
            ],
        };
        assert_eq!(ehlo.ehlo_keywords(), ["PIPELINING", "STARTTLS", "SIZE"]);
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reply_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_reply_line(&bytes);
        }
    }
}
