//! The glob parser. Errors carry the character offset of the problem so a diagnostic can point
//! inside the pattern, not only at it.

use super::Token;

/// Why a glob is malformed, and where in it (in characters from its start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct GlobError {
    pub offset: usize,
    pub reason: String,
}

fn err<T>(offset: usize, reason: impl Into<String>) -> Result<T, GlobError> {
    Err(GlobError {
        offset,
        reason: reason.into(),
    })
}

pub(super) fn parse(text: &str) -> Result<Vec<Token>, GlobError> {
    if !text.contains(['{', '[', '\\']) {
        return Ok(plain(text));
    }
    general(text)
}

/// Any glob: classes, braces and escapes need to look ahead and report positions in
/// characters, so the text is read as characters first.
fn general(text: &str) -> Result<Vec<Token>, GlobError> {
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    // At most a token per character: one allocation instead of one per doubling.
    let mut out = Vec::with_capacity(chars.len());
    while pos < chars.len() {
        if chars[pos] == '{' {
            let open = pos;
            pos += 1;
            let mut alternatives = Vec::new();
            let mut current = Vec::new();
            loop {
                match chars.get(pos) {
                    None => return err(open, "unclosed `{`"),
                    Some('}') => {
                        pos += 1;
                        alternatives.push(std::mem::take(&mut current));
                        break;
                    }
                    Some(',') => {
                        pos += 1;
                        alternatives.push(std::mem::take(&mut current));
                    }
                    Some('{') => return err(pos, "braces cannot be nested"),
                    Some(_) => current.push(simple_token(&chars, &mut pos)?),
                }
            }
            out.push(Token::Alt(alternatives));
        } else {
            out.push(simple_token(&chars, &mut pos)?);
        }
    }
    Ok(out)
}

/// A glob of characters, `*` and `?` only (most globs of a policy): read straight from the
/// text, without the copy into characters that classes and braces need to look back.
fn plain(text: &str) -> Vec<Token> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // `**` means the same as `*`, as in `simple_token`.
            '*' if out.last() == Some(&Token::AnyRun) => {}
            '*' => out.push(Token::AnyRun),
            '?' => out.push(Token::AnyOne),
            other => out.push(Token::Char(other)),
        }
    }
    out
}

/// Any token but an alternation, advancing `pos` past it.
fn simple_token(chars: &[char], pos: &mut usize) -> Result<Token, GlobError> {
    let start = *pos;
    let c = chars[start];
    *pos += 1;
    Ok(match c {
        '*' => {
            // `**` means the same as `*`; keep one so matching does not backtrack twice.
            while chars.get(*pos) == Some(&'*') {
                *pos += 1;
            }
            Token::AnyRun
        }
        '?' => Token::AnyOne,
        '\\' => match chars.get(*pos) {
            Some(&escaped) => {
                *pos += 1;
                Token::Char(escaped)
            }
            None => return err(start, "a trailing `\\` escapes nothing"),
        },
        '[' => class(chars, pos, start)?,
        other => Token::Char(other),
    })
}

fn class(chars: &[char], pos: &mut usize, open: usize) -> Result<Token, GlobError> {
    let negated = matches!(chars.get(*pos), Some('!' | '^'));
    if negated {
        *pos += 1;
    }
    let mut ranges = Vec::new();
    loop {
        let item_start = *pos;
        let lo = match chars.get(*pos) {
            None => return err(open, "unclosed `[`"),
            Some(']') if ranges.is_empty() => {
                return err(
                    *pos,
                    "empty character class (write `\\]` for a literal `]`)",
                );
            }
            Some(']') => {
                *pos += 1;
                return Ok(Token::Class { negated, ranges });
            }
            Some(_) => class_char(chars, pos, open)?,
        };
        let is_range =
            chars.get(*pos) == Some(&'-') && !matches!(chars.get(*pos + 1), Some(']') | None);
        if is_range {
            *pos += 1;
            let hi = class_char(chars, pos, open)?;
            if hi < lo {
                return err(item_start, format!("range `{lo}-{hi}` is reversed"));
            }
            ranges.push((lo, hi));
        } else {
            ranges.push((lo, lo));
        }
    }
}

fn class_char(chars: &[char], pos: &mut usize, open: usize) -> Result<char, GlobError> {
    match chars.get(*pos) {
        None => err(open, "unclosed `[`"),
        Some('\\') => match chars.get(*pos + 1) {
            Some(&c) => {
                *pos += 2;
                Ok(c)
            }
            None => err(open, "unclosed `[`"),
        },
        Some(&c) => {
            *pos += 1;
            Ok(c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_globs_read_straight_from_the_text_as_the_general_parser_reads_them() {
        let alphabet = ['a', '*', '?', '}', ',', ']', '/', 'é', '日', '-'];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 9) as usize;
            let text: String = (0..len)
                .map(|i| alphabet[((seed >> (i * 4 + 8)) % alphabet.len() as u64) as usize])
                .collect();
            assert_eq!(Ok(plain(&text)), general(&text), "{text:?}");
        }
        assert_eq!(plain("a**b"), general("a**b").unwrap());
    }

    #[test]
    fn malformed_globs_say_where() {
        assert_eq!(parse("ab[cd").unwrap_err().offset, 2);
        assert_eq!(parse("x{a,b").unwrap_err().reason, "unclosed `{`");
        assert_eq!(parse("{a,{b}}").unwrap_err().offset, 3);
        assert!(parse("a\\").is_err());
        assert!(parse("[]").is_err());
        assert!(parse("[z-a]").is_err());
        assert_eq!(
            parse("[a-]").unwrap(),
            vec![Token::Class {
                negated: false,
                ranges: vec![('a', 'a'), ('-', '-')]
            }]
        );
    }
}
