//! Property tests for globs (spec section 2): `Glob::is_match` against an independent oracle, a
//! regular expression translated here from the glob's text, and `Glob::to_regex` against
//! `is_match`. Malformed globs must be errors, and no input may make the parser panic.

use proptest::prelude::*;
use regex::Regex;
use rekall_policy::glob::Glob;

// ---------------------------------------------------------------------------------------------
// The oracle: glob text -> regex, written from the spec, independently of src/glob.

/// Translates glob text to an anchored regex, or `None` when the glob is malformed.
///
/// `*` any run (newlines included), `?` one character, `[...]` / `[!...]` / `[^...]` a class
/// of single characters and `lo-hi` ranges (`\x` escapes inside, `-` first or last is
/// literal), `{a,b}` alternation without nesting, `\x` the character x.
fn oracle(glob: &str) -> Option<Regex> {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("(?s)^(?:");
    let mut i = 0;
    let mut in_braces = false;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => {
                let escaped = *chars.get(i)?;
                i += 1;
                out.push_str(&regex::escape(&escaped.to_string()));
            }
            '[' => {
                out.push('[');
                if matches!(chars.get(i), Some('!' | '^')) {
                    out.push('^');
                    i += 1;
                }
                let mut items = 0;
                loop {
                    let c = *chars.get(i)?;
                    if c == ']' {
                        if items == 0 {
                            return None; // `[]` and `[!]` are empty classes
                        }
                        i += 1;
                        break;
                    }
                    let lo = class_char(&chars, &mut i)?;
                    let is_range =
                        chars.get(i) == Some(&'-') && !matches!(chars.get(i + 1), Some(']') | None);
                    out.push_str(&regex::escape(&lo.to_string()));
                    if is_range {
                        i += 1;
                        let hi = class_char(&chars, &mut i)?;
                        if hi < lo {
                            return None;
                        }
                        out.push('-');
                        out.push_str(&regex::escape(&hi.to_string()));
                    }
                    items += 1;
                }
                out.push(']');
            }
            '{' if in_braces => return None, // no nesting
            '{' => {
                in_braces = true;
                out.push_str("(?:");
            }
            ',' if in_braces => out.push('|'),
            '}' if in_braces => {
                in_braces = false;
                out.push(')');
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    if in_braces {
        return None; // unclosed `{`
    }
    out.push_str(")$");
    Some(Regex::new(&out).unwrap_or_else(|e| panic!("oracle built a bad regex {out:?}: {e}")))
}

/// One character of a class, `\x` meaning x.
fn class_char(chars: &[char], i: &mut usize) -> Option<char> {
    let c = *chars.get(*i)?;
    *i += 1;
    if c == '\\' {
        let escaped = *chars.get(*i)?;
        *i += 1;
        return Some(escaped);
    }
    Some(c)
}

/// `Glob::to_regex`, anchored.
fn compiled(glob: &Glob) -> Regex {
    let pattern = format!("^(?:{})$", glob.to_regex());
    Regex::new(&pattern).unwrap_or_else(|e| panic!("to_regex of {glob} gave {pattern:?}: {e}"))
}

#[test]
fn the_oracle_reads_the_spec_examples() {
    let m = |g: &str, t: &str| oracle(g).unwrap().is_match(t);
    assert!(m("*", "a/b\nc"));
    assert!(m("deploy*", "deploy-prod"));
    assert!(!m("deploy*", "redeploy"));
    assert!(m("prod-?", "prod-日"));
    assert!(m("[!a-c]x", "dx") && !m("[^a-c]x", "bx"));
    assert!(m("{db,cache}/*", "cache/users"));
    assert!(m("{,x}y", "y"));
    assert!(m("\\*\\{", "*{"));
    assert!(m("a,b}", "a,b}"));
    assert!(m("[a-]", "-"));
    for bad in ["[", "[]", "[!]", "{", "{a,{b}}", "\\", "[z-a]", "a[b\\"] {
        assert!(oracle(bad).is_none(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Structured globs: every feature, and texts derived from them so that matches are common.

/// Characters that may appear literally, ASCII and not.
const LITERALS: &[char] = &[
    'a', 'b', 'c', 'x', '/', '-', '.', ':', ' ', '!', '^', ']', ',', '}', '+', '(', '$', '|', 'é',
    'ü', '日', '😀', '\n',
];
/// Characters that must be escaped to be literal.
const ESCAPABLE: &[char] = &['*', '?', '[', '{', '\\', ',', '}', ']'];
/// Characters of classes and ranges.
const CLASS_CHARS: &[char] = &[
    'a', 'b', 'c', 'x', 'é', 'ü', '日', '😀', '-', '!', '^', ']', '\\', '[', '{', '*', '/',
];
/// Everything a text may be made of.
const TEXT_CHARS: &[char] = &[
    'a', 'b', 'c', 'd', 'x', 'y', '/', '-', '.', ',', '}', ']', '*', '?', '[', '{', '\\', 'é', 'ü',
    'Ü', '日', '本', '😀', '\n', ' ', 'A',
];

#[derive(Debug, Clone)]
enum Piece {
    Lit(char),
    Escaped(char),
    Star,
    One,
    /// (negated, written with `^` rather than `!`, items as (lo, hi))
    Class(bool, bool, Vec<(char, char)>),
    Alt(Vec<Vec<Piece>>),
}

fn simple_piece() -> impl Strategy<Value = Piece> {
    let item = (
        prop::sample::select(CLASS_CHARS),
        prop::sample::select(CLASS_CHARS),
    )
        .prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) });
    let single = prop::sample::select(CLASS_CHARS).prop_map(|c| (c, c));
    prop_oneof![
        4 => prop::sample::select(LITERALS).prop_map(Piece::Lit),
        1 => prop::sample::select(ESCAPABLE).prop_map(Piece::Escaped),
        2 => Just(Piece::Star),
        2 => Just(Piece::One),
        2 => (any::<bool>(), any::<bool>(), prop::collection::vec(prop_oneof![single, item], 1..4))
            .prop_map(|(neg, caret, items)| Piece::Class(neg, caret, items)),
    ]
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        6 => simple_piece(),
        1 => prop::collection::vec(prop::collection::vec(simple_piece(), 0..3), 1..4)
            .prop_map(Piece::Alt),
    ]
}

fn write_class_char(out: &mut String, c: char) {
    // `]`, `\` and `-` always need escaping; `!` and `^` only first, but escaping is harmless.
    if matches!(c, ']' | '\\' | '-' | '!' | '^') {
        out.push('\\');
    }
    out.push(c);
}

fn write(out: &mut String, pieces: &[Piece], in_alt: bool) {
    for p in pieces {
        match p {
            Piece::Lit(c) if in_alt && matches!(c, ',' | '}') => {
                out.push('\\');
                out.push(*c);
            }
            Piece::Lit(c) => out.push(*c),
            Piece::Escaped(c) => {
                out.push('\\');
                out.push(*c);
            }
            Piece::Star => out.push('*'),
            Piece::One => out.push('?'),
            Piece::Class(neg, caret, items) => {
                out.push('[');
                if *neg {
                    out.push(if *caret { '^' } else { '!' });
                }
                for (lo, hi) in items {
                    write_class_char(out, *lo);
                    if lo != hi {
                        out.push('-');
                        write_class_char(out, *hi);
                    }
                }
                out.push(']');
            }
            Piece::Alt(alts) => {
                out.push('{');
                for (i, alt) in alts.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(out, alt, true);
                }
                out.push('}');
            }
        }
    }
}

fn glob_text(pieces: &[Piece]) -> String {
    let mut out = String::new();
    write(&mut out, pieces, false);
    out
}

/// A deterministic stream of choices drawn by proptest.
struct Choices<'a> {
    seeds: &'a [u32],
    next: usize,
}

impl Choices<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let s = self.seeds[self.next % self.seeds.len()] as usize;
        self.next += 1;
        s % n.max(1)
    }

    fn char(&mut self) -> char {
        TEXT_CHARS[self.pick(TEXT_CHARS.len())]
    }
}

/// A text that the pieces match, by construction.
fn derive(pieces: &[Piece], ch: &mut Choices<'_>, out: &mut String) {
    for p in pieces {
        match p {
            Piece::Lit(c) | Piece::Escaped(c) => out.push(*c),
            Piece::Star => {
                for _ in 0..ch.pick(4) {
                    out.push(ch.char());
                }
            }
            Piece::One => out.push(ch.char()),
            Piece::Class(false, _, items) => {
                let (lo, hi) = items[ch.pick(items.len())];
                let span = hi as u32 - lo as u32;
                // lo, hi, or a scalar value in between
                let c = match ch.pick(3) {
                    0 => lo,
                    1 => hi,
                    _ => {
                        char::from_u32(lo as u32 + ch.pick(span as usize + 1) as u32).unwrap_or(lo)
                    }
                };
                out.push(c);
            }
            Piece::Class(true, _, items) => {
                let outside: Vec<char> = TEXT_CHARS
                    .iter()
                    .copied()
                    .filter(|c| !items.iter().any(|(lo, hi)| lo <= c && c <= hi))
                    .collect();
                out.push(outside[ch.pick(outside.len())]);
            }
            Piece::Alt(alts) => derive(&alts[ch.pick(alts.len())], ch, out),
        }
    }
}

/// A near miss: one character of `text` changed, removed or added.
fn mutate(text: &str, ch: &mut Choices<'_>) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let at = ch.pick(chars.len() + 1);
    match ch.pick(3) {
        0 if at < chars.len() => chars[at] = ch.char(),
        1 if at < chars.len() => {
            chars.remove(at);
        }
        _ => chars.insert(at, ch.char()),
    }
    chars.into_iter().collect()
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TEXT_CHARS), 0..10)
        .prop_map(|v| v.into_iter().collect())
}

/// Asserts that the glob, the oracle and `to_regex` agree on `text`; returns the verdict.
fn agree(glob: &Glob, oracle: &Regex, compiled: &Regex, text: &str) -> Result<bool, TestCaseError> {
    let verdict = glob.is_match(text);
    prop_assert_eq!(
        verdict,
        oracle.is_match(text),
        "is_match vs oracle: glob {:?} text {:?} (oracle {})",
        glob.as_str(),
        text,
        oracle.as_str()
    );
    prop_assert_eq!(
        verdict,
        compiled.is_match(text),
        "is_match vs to_regex: glob {:?} text {:?} (to_regex {})",
        glob.as_str(),
        text,
        compiled.as_str()
    );
    Ok(verdict)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Well-formed globs parse, match the texts derived from them, and agree with both
    /// regular expressions on derived texts, their near misses and random texts.
    #[test]
    fn structured_globs_agree(
        pieces in prop::collection::vec(piece(), 0..6),
        seeds in prop::collection::vec(any::<u32>(), 1..40),
        randoms in prop::collection::vec(text(), 0..4),
    ) {
        let source = glob_text(&pieces);
        let glob = match Glob::new(&source) {
            Ok(g) => g,
            Err(e) => return Err(TestCaseError::fail(format!("{source:?} refused: {e}"))),
        };
        prop_assert_eq!(glob.as_str(), source.as_str());
        let oracle = oracle(&source).expect("the oracle accepts every generated glob");
        let compiled = compiled(&glob);
        let mut choices = Choices { seeds: &seeds, next: 0 };
        for _ in 0..3 {
            let mut derived = String::new();
            derive(&pieces, &mut choices, &mut derived);
            let matched = agree(&glob, &oracle, &compiled, &derived)?;
            prop_assert!(matched, "glob {:?} must match the text derived from it, {:?}", source, derived);
            let near = mutate(&derived, &mut choices);
            agree(&glob, &oracle, &compiled, &near)?;
        }
        for t in &randoms {
            agree(&glob, &oracle, &compiled, t)?;
        }
    }

    /// Raw strings over the glob's special characters (unescaped `]`, `-`, `!`, `^`, `,`,
    /// `}` in every position): the parser and the oracle agree on which are well-formed, and
    /// on what the well-formed ones match.
    #[test]
    fn raw_glob_text_agrees(
        source in prop::collection::vec(
            prop::sample::select(&['a', 'b', 'é', '日', '*', '?', '[', ']', '!', '^', '-', '{', '}', ',', '\\'][..]),
            0..10,
        ).prop_map(|v| v.into_iter().collect::<String>()),
        texts in prop::collection::vec(
            prop::collection::vec(prop::sample::select(&['a', 'b', 'é', '日', '-', ',', '}', ']', '!', '^'][..]), 0..6)
                .prop_map(|v| v.into_iter().collect::<String>()),
            1..8,
        ),
    ) {
        let parsed = Glob::new(&source);
        let oracle = oracle(&source);
        prop_assert_eq!(
            parsed.is_ok(),
            oracle.is_some(),
            "well-formedness of {:?}: parser says {:?}",
            source,
            parsed.as_ref().err()
        );
        if let (Ok(glob), Some(oracle)) = (parsed, oracle) {
            let compiled = compiled(&glob);
            for t in &texts {
                agree(&glob, &oracle, &compiled, t)?;
            }
            // The glob's own text, with the wildcards' metacharacters in it.
            agree(&glob, &oracle, &compiled, &source)?;
        }
    }

    /// A valid glob followed by an unclosed `[` or `{`, a nested brace, or a trailing
    /// backslash is an error.
    #[test]
    fn malformed_suffixes_are_errors(
        pieces in prop::collection::vec(piece(), 0..4),
        tail in "[a-cé日!^-]{0,4}",
        kind in 0..4u8,
    ) {
        let mut source = glob_text(&pieces);
        match kind {
            0 => { source.push('['); source.push_str(&tail); }
            1 => { source.push('{'); source.push_str(&tail.replace(['}'], "")); }
            2 => { source.push_str("{a,{"); source.push_str(&tail); source.push_str("}}"); }
            _ => { source.push_str(&tail); source.push('\\'); }
        }
        let result = Glob::new(&source);
        prop_assert!(result.is_err(), "{:?} was accepted", source);
        prop_assert!(oracle(&source).is_none());
        let e = result.unwrap_err();
        prop_assert!(e.offset <= source.chars().count(), "offset {} past the end of {:?}", e.offset, source);
    }

    /// No string makes the parser panic, and whatever it accepts can be matched and compiled.
    #[test]
    fn glob_new_never_panics(source in any::<String>(), text in any::<String>()) {
        if let Ok(glob) = Glob::new(&source) {
            let verdict = glob.is_match(&text);
            prop_assert_eq!(verdict, compiled(&glob).is_match(&text));
        }
    }

    /// The same, over an alphabet dense in special characters.
    #[test]
    fn glob_new_never_panics_on_special_characters(source in r"[\[\]{}\\*?!^,\-aé]{0,16}") {
        match Glob::new(&source) {
            Ok(glob) => {
                let _ = glob.is_match(&source);
                let _ = compiled(&glob);
            }
            Err(e) => prop_assert!(e.offset <= source.chars().count()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed globs, one by one.

#[test]
fn malformed_globs_are_errors_with_a_reason_and_an_offset() {
    let cases: &[(&str, usize, &str)] = &[
        ("[", 0, "unclosed `[`"),
        ("ab[cd", 2, "unclosed `[`"),
        ("[!a", 0, "unclosed `[`"),
        ("[a-", 0, "unclosed `[`"),
        ("[a\\", 0, "unclosed `[`"),
        ("{", 0, "unclosed `{`"),
        ("x{a,b", 1, "unclosed `{`"),
        ("{a,[b}", 3, "unclosed `[`"),
        ("{a,{b}}", 3, "braces cannot be nested"),
        ("{{}}", 1, "braces cannot be nested"),
        ("\\", 0, "a trailing `\\` escapes nothing"),
        ("deploy\\", 6, "a trailing `\\` escapes nothing"),
        ("{a\\", 2, "a trailing `\\` escapes nothing"),
        ("[]", 1, "empty character class"),
        ("[z-a]", 1, "range `z-a` is reversed"),
        ("日[", 1, "unclosed `[`"),
    ];
    for (source, offset, reason) in cases {
        let e = Glob::new(source).expect_err(source);
        assert_eq!(e.offset, *offset, "offset of the error in {source:?}: {e}");
        assert!(e.reason.starts_with(reason), "reason for {source:?}: {e}");
        assert!(oracle(source).is_none(), "{source:?}");
    }
}

#[test]
fn unusual_but_well_formed_globs() {
    // Characters that are special only in context are literal elsewhere.
    let cases: &[(&str, &str, bool)] = &[
        ("a,b}", "a,b}", true),
        ("]", "]", true),
        ("[]]", "]", false), // `[]` opens an empty class: refused, see above
        ("[a-]", "-", true),
        ("[-a]", "-", true),
        ("[!-]", "-", false),
        ("[\\]]", "]", true),
        ("[^^]", "^", false),
        ("[!!]", "a", true),
        ("{}", "", true),
        ("{,}x", "x", true),
        ("{a*,b?}z", "bqz", true),
        ("\\{a,b\\}", "{a,b}", true),
        ("[{]", "{", true),
        ("?", "😀", true),
        ("?", "", false),
        ("*", "\n", true),
        ("[é-ü]", "ö", true),
        ("[日]本", "日本", true),
    ];
    for (source, text, expected) in cases {
        let Ok(glob) = Glob::new(source) else {
            assert!(
                oracle(source).is_none(),
                "{source:?} refused, but the oracle accepts it"
            );
            assert!(!expected, "{source:?} must be accepted");
            continue;
        };
        assert_eq!(glob.is_match(text), *expected, "{source:?} on {text:?}");
        assert_eq!(
            oracle(source).unwrap().is_match(text),
            *expected,
            "oracle {source:?} on {text:?}"
        );
        assert_eq!(
            compiled(&glob).is_match(text),
            *expected,
            "to_regex {source:?} on {text:?}"
        );
    }
}
