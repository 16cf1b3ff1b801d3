//! `Authentication-Results` (RFC 8601) and `ARC-Authentication-Results` (RFC 8617 §4.1.1),
//! read as the receiving hosts wrote them. mxwatch verifies nothing here.
//!
//! Hand-written because mail-parser 0.11 keeps these fields as raw text and
//! mail-auth only writes them. The reader is tolerant on purpose: real fields
//! break the grammar (spaces around `=`, unquoted values with `/` or `@`,
//! vendor methods); what cannot be read is kept in `unparsed`, never dropped.

use serde::Serialize;

/// At most this many method results are kept per field.
const MAX_RESULTS: usize = 64;
/// Longer comments and values are cut.
const MAX_TEXT: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthResultsKind {
    AuthenticationResults,
    ArcAuthenticationResults,
}

/// Where the field stands relative to the hop where the message entered the recipient's MX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Above the entry hop's `Received`: written by the recipient's side.
    AfterEntry,
    /// Below it: already in the message when it arrived, so anyone upstream (the sender too) may
    /// have written it (RFC 8601 §5).
    BeforeEntry,
    /// No entry hop is known.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuthResults {
    pub kind: AuthResultsKind,
    /// The ARC instance (`i=`), for ARC-Authentication-Results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// Who did the checks (RFC 8601 §2.5): only results from your own authserv-id are yours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authserv_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `none`: the host checked nothing.
    pub none: bool,
    pub results: Vec<MethodResult>,
    /// Pieces that did not fit the grammar, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unparsed: Vec<String>,
    pub placement: Placement,
    pub raw: String,
    #[serde(skip)]
    pub header_index: usize,
}

/// One `method=result`, e.g. `dkim=pass header.d=example.com`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MethodResult {
    /// Lower case: `spf`, `dkim`, `dmarc`, `arc`, `iprev`, `auth`, …
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_version: Option<String>,
    /// Lower case: `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`, `policy`, …
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

/// `ptype.property=value`, e.g. `smtp.mailfrom=example.com`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Property {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Equals,
    Comment(String),
}

pub fn parse(kind: AuthResultsKind, header_index: usize, text: &str) -> AuthResults {
    let mut out = AuthResults {
        kind,
        instance: None,
        authserv_id: None,
        version: None,
        none: false,
        results: Vec::new(),
        unparsed: Vec::new(),
        placement: Placement::Unknown,
        raw: text.to_string(),
        header_index,
    };
    let mut segments = split_segments(text).into_iter();
    if kind == AuthResultsKind::ArcAuthenticationResults {
        // `i=N;` comes first (RFC 8617 §4.1.1); tolerate its absence.
        let mut peek = segments.clone();
        if let Some(first) = peek.next() {
            let tokens = tokenize(&first);
            if let [Token::Word(k), Token::Equals, Token::Word(v), ..] = tokens.as_slice()
                && k.eq_ignore_ascii_case("i")
            {
                out.instance = v.parse().ok();
                segments = peek;
            }
        }
    }
    if let Some(head) = segments.next() {
        let mut words = tokenize(&head).into_iter().filter_map(|t| match t {
            Token::Word(w) => Some(w),
            _ => None,
        });
        out.authserv_id = words.next().map(|w| cut(&w.to_ascii_lowercase()));
        out.version = words
            .next()
            .filter(|w| w.chars().all(|c| c.is_ascii_digit()));
    }
    for segment in segments {
        let trimmed = segment.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.eq_ignore_ascii_case("none") {
            out.none = true;
            continue;
        }
        if out.results.len() >= MAX_RESULTS {
            out.unparsed.push(format!(
                "(more than {MAX_RESULTS} results: the rest not read)"
            ));
            break;
        }
        match method_result(&tokenize(trimmed)) {
            Some(result) => out.results.push(result),
            None => out.unparsed.push(cut(trimmed)),
        }
    }
    out
}

/// `method[/version] = result [(comment)] [reason=…] [ptype.prop=value …]`.
fn method_result(tokens: &[Token]) -> Option<MethodResult> {
    let mut pairs: Vec<(String, String, Option<String>)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)) {
            (Token::Word(key), Some(Token::Equals), Some(Token::Word(value))) => {
                pairs.push((key.clone(), value.clone(), None));
                i += 3;
            }
            (Token::Word(key), Some(Token::Equals), _) => {
                // `key=` with nothing after it: an empty value.
                pairs.push((key.clone(), String::new(), None));
                i += 2;
            }
            (Token::Comment(c), _, _) => {
                if let Some(last) = pairs.last_mut()
                    && last.2.is_none()
                {
                    last.2 = Some(cut(c));
                }
                i += 1;
            }
            _ => return None,
        }
    }
    let mut pairs = pairs.into_iter();
    let (method, result, comment) = pairs.next()?;
    let (method, method_version) = match method.split_once('/') {
        Some((m, v)) => (m.trim().to_string(), Some(v.trim().to_string())),
        None => (method, None),
    };
    if method.is_empty() || result.is_empty() {
        return None;
    }
    let mut out = MethodResult {
        method: cut(&method.to_ascii_lowercase()),
        method_version,
        result: cut(&result.to_ascii_lowercase()),
        reason: None,
        comment,
        properties: Vec::new(),
    };
    for (key, value, _) in pairs {
        if key.eq_ignore_ascii_case("reason") && out.reason.is_none() {
            out.reason = Some(cut(&value));
        } else {
            out.properties.push(Property {
                name: cut(&key.to_ascii_lowercase()),
                value: cut(&value),
            });
        }
    }
    Some(out)
}

/// Splits at `;` outside comments and quoted strings.
fn split_segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && (quoted || depth > 0) {
            escaped = true;
        } else if quoted {
            quoted = c != '"';
        } else if c == '"' && depth == 0 {
            quoted = true;
        } else if c == '(' {
            depth = depth.saturating_add(1);
        } else if c == ')' {
            depth = depth.saturating_sub(1);
        } else if c == ';' && depth == 0 {
            out.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    out.push(current);
    out
}

fn tokenize(segment: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = segment.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            '=' => {
                flush(&mut word, &mut tokens);
                tokens.push(Token::Equals);
            }
            '(' => {
                flush(&mut word, &mut tokens);
                let mut depth = 1usize;
                let mut comment = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(next) = chars.next() {
                                comment.push(next);
                            }
                        }
                        '(' => {
                            depth += 1;
                            comment.push(c);
                        }
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            comment.push(c);
                        }
                        _ => comment.push(c),
                    }
                }
                tokens.push(Token::Comment(comment.trim().to_string()));
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(next) = chars.next() {
                                word.push(next);
                            }
                        }
                        '"' => break,
                        _ => word.push(c),
                    }
                }
                // An empty quoted string is still a value.
                if word.is_empty() {
                    tokens.push(Token::Word(String::new()));
                }
            }
            ')' => {} // a stray closing parenthesis: ignored
            _ => word.push(c),
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_string();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ar(text: &str) -> AuthResults {
        parse(AuthResultsKind::AuthenticationResults, 0, text)
    }

    #[test]
    fn a_gmail_style_field() {
        let r = ar(
            "mx.google.com; dkim=pass header.i=@example.com header.s=sel header.b=Ab12; \
             spf=pass (google.com: domain of a@example.com designates 192.0.2.1 as permitted sender) smtp.mailfrom=a@example.com; \
             dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com",
        );
        assert_eq!(r.authserv_id.as_deref(), Some("mx.google.com"));
        let methods: Vec<_> = r
            .results
            .iter()
            .map(|m| (m.method.as_str(), m.result.as_str()))
            .collect();
        assert_eq!(
            methods,
            [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")]
        );
        assert!(
            r.results[1]
                .comment
                .as_deref()
                .unwrap()
                .contains("designates")
        );
        assert_eq!(
            r.results[1].properties,
            [Property {
                name: "smtp.mailfrom".into(),
                value: "a@example.com".into()
            }]
        );
        assert!(r.unparsed.is_empty());
    }

    #[test]
    fn version_reason_none_and_spaces_around_equals() {
        let r = ar("host.example 1; none");
        assert_eq!(r.version.as_deref(), Some("1"));
        assert!(r.none);
        let r = ar(
            "h; dkim/1 = fail reason=\"bad; sig\" header.d = x.example; auth=pass (PLAIN) smtp.auth=alice",
        );
        assert_eq!(r.results[0].method, "dkim");
        assert_eq!(r.results[0].method_version.as_deref(), Some("1"));
        assert_eq!(r.results[0].reason.as_deref(), Some("bad; sig"));
        assert_eq!(r.results[0].properties[0].value, "x.example");
        assert_eq!(r.results[1].comment.as_deref(), Some("PLAIN"));
    }

    #[test]
    fn arc_instance_and_garbage_kept() {
        let r = parse(
            AuthResultsKind::ArcAuthenticationResults,
            3,
            "i=2; lists.example; arc=pass (i=1); what is this",
        );
        assert_eq!(r.instance, Some(2));
        assert_eq!(r.authserv_id.as_deref(), Some("lists.example"));
        assert_eq!(r.results[0].method, "arc");
        assert_eq!(r.unparsed, ["what is this"]);
        let r = ar("((((unbalanced; \"open quote; =;=");
        assert!(r.results.is_empty());
    }
}
