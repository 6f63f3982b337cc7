//! The DSL's tokens as the grammar (`grammar/policy.pest`) defines them, matched on bytes: each
//! function takes a byte offset and gives the offset just past the token, or `None` where the
//! grammar's rule does not match. None of them looks for a word boundary the grammar does not
//! ask for (`policy` matches the start of `policyx`, as pest's literal does).

/// A token's matcher: where the token that starts at an offset ends, if one does.
pub(super) type Token = fn(&[u8], usize) -> Option<usize>;

/// The characters of a bare glob: any but whitespace and `"#,:()[]{}>\`.
const GLOB: [bool; 256] = table(b" \t\r\n\"#,:()[]{}>\\");
/// The characters of a bare principal: any but whitespace and `,[]#"`.
const PRINCIPAL: [bool; 256] = table(b" \t\r\n,[]#\"");
/// `word_char`: ASCII letters and digits, `_`, `-` and `.`.
const WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.';
        b += 1;
    }
    t
};

/// Every byte but the ASCII `stops`: a byte of a multi-byte character is never a stop, so a
/// run of taken bytes always ends on a character boundary.
const fn table(stops: &[u8]) -> [bool; 256] {
    let mut t = [true; 256];
    let mut i = 0;
    while i < stops.len() {
        t[stops[i] as usize] = false;
        i += 1;
    }
    t
}

/// The grammar's implicit `(WHITESPACE | COMMENT)*` between tokens.
pub(super) fn skip(b: &[u8], mut at: usize) -> usize {
    while let Some(&c) = b.get(at) {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => at += 1,
            b'#' => {
                at = memchr::memchr(b'\n', &b[at..]).map_or(b.len(), |n| at + n);
            }
            _ => break,
        }
    }
    at
}

pub(super) fn literal(b: &[u8], at: usize, lit: &[u8]) -> Option<usize> {
    b.get(at..at + lit.len())
        .filter(|s| *s == lit)
        .map(|_| at + lit.len())
}

/// One byte `c`.
pub(super) fn byte(b: &[u8], at: usize, c: u8) -> Option<usize> {
    (b.get(at) == Some(&c)).then_some(at + 1)
}

fn run(b: &[u8], at: usize, class: &[bool; 256]) -> usize {
    let len = b
        .get(at..)
        .unwrap_or_default()
        .iter()
        .position(|&c| !class[usize::from(c)]);
    len.map_or(b.len(), |n| at + n)
}

fn nonempty(at: usize, end: usize) -> Option<usize> {
    (end > at).then_some(end)
}

fn word_char_at(b: &[u8], at: usize) -> bool {
    b.get(at).is_some_and(|&c| WORD[usize::from(c)])
}

/// `word`: `word_char+`.
pub(super) fn word(b: &[u8], at: usize) -> Option<usize> {
    nonempty(at, run(b, at, &WORD))
}

/// `string`: `"`, then any characters but `"` and `\` or a `\` and any character, then `"`.
pub(super) fn string(b: &[u8], at: usize) -> Option<usize> {
    let mut i = byte(b, at, b'"')?;
    loop {
        let n = memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        i += n;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        // A backslash takes the next character, whatever it is; past its first byte the rest
        // of a multi-byte character is neither `"` nor `\`.
        i += 2;
        if i > b.len() {
            return None;
        }
    }
}

/// `bare_glob`: glob characters, the first not `-`.
pub(super) fn bare_glob(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) == Some(&b'-') {
        return None;
    }
    nonempty(at, run(b, at, &GLOB))
}

/// `glob`, and also `channel`, `rule_id` and the group name when `bare` is `word`.
pub(super) fn string_or(b: &[u8], at: usize, bare: Token) -> Option<usize> {
    if b.get(at) == Some(&b'"') {
        string(b, at)
    } else {
        bare(b, at)
    }
}

/// `principal`: principal characters.
pub(super) fn principal(b: &[u8], at: usize) -> Option<usize> {
    nonempty(at, run(b, at, &PRINCIPAL))
}

fn digits(b: &[u8], at: usize) -> Option<usize> {
    let n = b
        .get(at..)?
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len() - at);
    nonempty(at, at + n)
}

fn minus(b: &[u8], at: usize) -> usize {
    byte(b, at, b'-').unwrap_or(at)
}

/// `integer`: `-`? digits.
pub(super) fn integer(b: &[u8], at: usize) -> Option<usize> {
    digits(b, minus(b, at))
}

/// `number`: `-`? digits, then optionally `.` digits, then optionally an exponent.
pub(super) fn number(b: &[u8], at: usize) -> Option<usize> {
    let mut end = digits(b, minus(b, at))?;
    if let Some(frac) = byte(b, end, b'.').and_then(|i| digits(b, i)) {
        end = frac;
    }
    if let Some(e) = byte(b, end, b'e').or_else(|| byte(b, end, b'E')) {
        let sign = byte(b, e, b'+').or_else(|| byte(b, e, b'-')).unwrap_or(e);
        if let Some(exp) = digits(b, sign) {
            end = exp;
        }
    }
    Some(end)
}

/// `duration`: digits, an optional unit, and no word character after.
pub(super) fn duration(b: &[u8], at: usize) -> Option<usize> {
    let mut end = digits(b, at)?;
    if let Some(unit) = literal(b, end, b"ms").or_else(|| {
        b.get(end)
            .filter(|c| matches!(c, b's' | b'm' | b'h' | b'd'))
            .map(|_| end + 1)
    }) {
        end = unit;
    }
    (!word_char_at(b, end)).then_some(end)
}

/// `outcome`: one of the five names, and no word character after.
pub(super) fn outcome(b: &[u8], at: usize) -> Option<usize> {
    const NAMES: [&[u8]; 5] = [
        b"auto-approve",
        b"notify-and-proceed",
        b"request-approval",
        b"escalate",
        b"deny",
    ];
    let end = NAMES.iter().find_map(|name| literal(b, at, name))?;
    (!word_char_at(b, end)).then_some(end)
}

/// `kw_version`: `version` not followed by a word character.
pub(super) fn kw_version(b: &[u8], at: usize) -> Option<usize> {
    literal(b, at, b"version").filter(|&end| !word_char_at(b, end))
}

/// `kw_on`: `on` followed by whitespace or a quote.
pub(super) fn kw_on(b: &[u8], at: usize) -> Option<usize> {
    literal(b, at, b"on")
        .filter(|&end| matches!(b.get(end), Some(b' ' | b'\t' | b'\r' | b'\n' | b'"')))
}

/// `adapt_key`: one of the `adapt` settings' names, and no word character after.
pub(super) fn adapt_key(b: &[u8], at: usize) -> Option<usize> {
    crate::ir::ADAPT_SETTINGS
        .iter()
        .find_map(|(_, word)| literal(b, at, word.as_bytes()))
        .filter(|&end| !word_char_at(b, end))
}

/// `adapt_value`: a number with no word character after, or else a word.
pub(super) fn adapt_value(b: &[u8], at: usize) -> Option<usize> {
    number(b, at)
        .filter(|&end| !word_char_at(b, end))
        .or_else(|| word(b, at))
}
