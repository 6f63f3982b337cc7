//! Globs as *forms* made of *segments*, the shape the complex-glob matcher works on.
//!
//! Braces expand into forms without alternations (`{a,b?}*x` is `a*x` and `b?*x`). A form is
//! segments separated by stars, and each segment is a fixed number of characters: literal
//! characters, `?` and classes, one Unicode scalar each. With `k` stars, segment 0 is
//! anchored at the start and segment `k` at the end; a middle segment may sit anywhere
//! after the one before it. That is why a form can be decided from where its segments occur,
//! without an automaton: see [`super::field`].
//!
//! Positions are byte offsets into valid UTF-8 (a `&str`): a segment steps one character by
//! its lead byte, so it never lands inside a character.

use crate::glob::{Glob, Token};

/// One character of a segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Item {
    Char(char),
    /// `?`
    Any,
    /// `[...]` with more than one character (`[x]` is a `Char`).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Item {
    #[inline]
    fn accepts(&self, c: char) -> bool {
        match self {
            Item::Char(x) => *x == c,
            Item::Any => true,
            Item::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
            }
        }
    }
}

/// The text between two stars (or an end and a star): a fixed number of characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub(crate) struct Segment {
    pub(crate) items: Vec<Item>,
}

/// Where a segment's longest run of literal characters sits: found by a multi-literal
/// search, it tells where the segment may occur.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    /// The run, as UTF-8.
    pub(crate) text: String,
    /// Characters of the segment before the run.
    pub(crate) before: usize,
}

impl Segment {
    /// Characters the segment spans.
    pub(crate) fn chars(&self) -> usize {
        self.items.len()
    }

    /// The longest run of literal characters (the first of the longest), if any.
    pub(crate) fn anchor(&self) -> Option<Anchor> {
        let mut best: Option<(usize, usize)> = None;
        let mut start = 0;
        for (i, item) in self.items.iter().enumerate() {
            if matches!(item, Item::Char(_)) {
                let len = i + 1 - start;
                if best.is_none_or(|(_, l)| len > l) {
                    best = Some((start, len));
                }
            } else {
                start = i + 1;
            }
        }
        let (start, len) = best?;
        let text = self
            .items
            .get(start..start + len)?
            .iter()
            .filter_map(|item| match item {
                Item::Char(c) => Some(*c),
                _ => None,
            })
            .collect();
        Some(Anchor {
            text,
            before: start,
        })
    }

    /// The bytes that can start an occurrence: bit `b` of the 256 is set when some
    /// character that the first item accepts has `b` as its first UTF-8 byte (never a
    /// continuation byte). An empty segment has none.
    pub(crate) fn first_bytes(&self) -> [u64; 4] {
        let mut bits = [0u64; 4];
        let mut add = |b: u8| {
            if let Some(w) = bits.get_mut(usize::from(b >> 6)) {
                *w |= 1 << (b & 63);
            }
        };
        // Lead bytes of characters of two bytes and more: 0xC2 to 0xF4.
        let non_ascii = |add: &mut dyn FnMut(u8)| (0xC2..=0xF4).for_each(add);
        match self.items.first() {
            None => {}
            Some(Item::Char(c)) => {
                let mut buf = [0u8; 4];
                if let Some(&lead) = c.encode_utf8(&mut buf).as_bytes().first() {
                    add(lead);
                }
            }
            Some(item @ (Item::Any | Item::Class { .. })) => {
                for b in 0..0x80u8 {
                    if item.accepts(char::from(b)) {
                        add(b);
                    }
                }
                // Beyond ASCII, any lead byte may do: a class is not split by lead byte.
                non_ascii(&mut add);
            }
        }
        bits
    }

    /// Whether the segment is its anchor and nothing else.
    pub(crate) fn is_literal(&self) -> bool {
        self.items.iter().all(|i| matches!(i, Item::Char(_)))
    }

    /// Where the segment ends if it occurs at byte `at` of `s`, counting one step per
    /// character read.
    #[inline]
    pub(crate) fn match_at(&self, s: &str, at: usize, steps: &mut u64) -> Option<usize> {
        let mut rest = s.get(at..)?.chars();
        let mut end = at;
        for item in &self.items {
            *steps += 1;
            let c = rest.next()?;
            if !item.accepts(c) {
                return None;
            }
            end += c.len_utf8();
        }
        Some(end)
    }

    /// Where the segment starts if it ends `s` exactly.
    #[inline]
    pub(crate) fn match_suffix(&self, s: &str, steps: &mut u64) -> Option<usize> {
        let at = back(s, s.len(), self.items.len())?;
        *steps += self.items.len() as u64;
        let end = self.match_at(s, at, steps)?;
        (end == s.len()).then_some(at)
    }
}

/// The byte offset `chars` characters before byte `at` of `s`, if there are that many.
#[inline]
pub(crate) fn back(s: &str, at: usize, chars: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut at = at;
    for _ in 0..chars {
        at = at.checked_sub(1)?;
        // Continuation bytes are 0b10xx_xxxx; the lead byte starts the character.
        while bytes.get(at).is_some_and(|b| b & 0xC0 == 0x80) {
            at = at.checked_sub(1)?;
        }
    }
    Some(at)
}

/// A glob without alternations: `segments.len() - 1` stars between the segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Form {
    pub(crate) segments: Vec<Segment>,
}

impl Form {
    /// Matches the plain way, for tests: leftmost placement of each middle segment.
    #[cfg(test)]
    pub(crate) fn is_match(&self, s: &str) -> bool {
        let mut steps = 0;
        let Some((first, rest)) = self.segments.split_first() else {
            return false;
        };
        let Some(mut at) = first.match_at(s, 0, &mut steps) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return at == s.len();
        };
        for segment in middle {
            let found = s
                .char_indices()
                .map(|(i, _)| i)
                .chain([s.len()])
                .filter(|&i| i >= at)
                .find_map(|i| segment.match_at(s, i, &mut steps));
            match found {
                Some(end) => at = end,
                None => return false,
            }
        }
        last.match_suffix(s, &mut steps)
            .is_some_and(|start| start >= at)
    }
}

/// The forms of a glob, at most `max` of them (`None` beyond): every choice of one
/// alternative per brace, stars merged, duplicates dropped.
pub(crate) fn forms(glob: &Glob, max: usize) -> Option<Vec<Form>> {
    let mut sequences: Vec<Vec<&Token>> = vec![Vec::new()];
    for token in glob.tokens() {
        match token {
            Token::Alt(alternatives) => {
                if sequences.len().saturating_mul(alternatives.len()) > max {
                    return None;
                }
                sequences = sequences
                    .iter()
                    .flat_map(|seq| {
                        alternatives.iter().map(move |alt| {
                            let mut next = seq.clone();
                            next.extend(alt.iter());
                            next
                        })
                    })
                    .collect();
            }
            other => sequences.iter_mut().for_each(|seq| seq.push(other)),
        }
    }
    let mut out: Vec<Form> = sequences.iter().map(|seq| form(seq)).collect();
    out.sort();
    out.dedup();
    Some(out)
}

/// One sequence without alternations, cut at its stars. Empty middle segments (`a**b`,
/// `a{*,}*b`) say nothing and are dropped; the first and last stay, empty or not.
fn form(tokens: &[&Token]) -> Form {
    let mut segments = vec![Segment::default()];
    for token in tokens {
        let item = match token {
            Token::AnyRun => {
                segments.push(Segment::default());
                continue;
            }
            Token::Char(c) => Item::Char(*c),
            Token::AnyOne => Item::Any,
            Token::Class { negated, ranges } => match ranges.as_slice() {
                [(lo, hi)] if !negated && lo == hi => Item::Char(*lo),
                _ => Item::Class {
                    negated: *negated,
                    ranges: ranges.clone(),
                },
            },
            // Alternations are expanded before.
            Token::Alt(_) => continue,
        };
        if let Some(last) = segments.last_mut() {
            last.items.push(item);
        }
    }
    if segments.len() > 2 {
        let last = segments.pop().unwrap_or_default();
        let first = segments.remove(0);
        let middle = segments.into_iter().filter(|s| !s.items.is_empty());
        segments = std::iter::once(first).chain(middle).chain([last]).collect();
    }
    Form { segments }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(g: &str) -> Vec<Vec<String>> {
        forms(&Glob::new(g).unwrap(), 64)
            .unwrap()
            .iter()
            .map(|f| {
                f.segments
                    .iter()
                    .map(|s| {
                        s.items
                            .iter()
                            .map(|i| match i {
                                Item::Char(c) => c.to_string(),
                                Item::Any => "?".into(),
                                Item::Class { .. } => "[]".into(),
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn globs_become_segments_between_stars() {
        assert_eq!(shapes("*x1*y*z*"), vec![vec!["", "x1", "y", "z", ""]]);
        assert_eq!(shapes("*1?*"), vec![vec!["", "1?", ""]]);
        assert_eq!(shapes("a**b"), vec![vec!["a", "b"]]);
        assert_eq!(shapes("a{*,}*b"), vec![vec!["a", "b"]]);
        assert_eq!(shapes("**"), vec![vec!["", ""]]);
        assert_eq!(shapes("[x]y[ab]"), vec![vec!["xy[]"]]);
        assert_eq!(shapes("{a,b?}*x"), vec![vec!["a", "x"], vec!["b?", "x"]]);
        assert_eq!(shapes("{a,a}"), vec![vec!["a"]]);
        assert!(forms(&Glob::new("{a,b}{c,d}{e,f}").unwrap(), 7).is_none());
    }

    #[test]
    fn anchors_are_the_longest_literal_runs() {
        let anchor = |g: &str| {
            let f = forms(&Glob::new(g).unwrap(), 1).unwrap();
            f[0].segments[0].anchor().map(|a| (a.text, a.before))
        };
        assert_eq!(anchor("ab?cde"), Some(("cde".into(), 3)));
        assert_eq!(anchor("ab?cd"), Some(("ab".into(), 0)));
        assert_eq!(anchor("?[ab]"), None);
        assert_eq!(anchor("é?日"), Some(("é".into(), 0)));
    }

    #[test]
    fn first_bytes_hold_every_character_the_first_item_accepts() {
        let chars = [
            'a',
            'z',
            '0',
            '[',
            '\0',
            '\x7f',
            'é',
            'ÿ',
            '日',
            '😀',
            '\u{10FFFF}',
        ];
        for g in ["[a-z]x", "?", "[!a-c]", "é?", "[é-日]", "[!é]", "0", "😀*"] {
            let forms = forms(&Glob::new(g).unwrap(), 64).unwrap();
            let segment = &forms[0].segments[0];
            let bits = segment.first_bytes();
            for c in chars {
                let mut buf = [0u8; 4];
                let lead = c.encode_utf8(&mut buf).as_bytes()[0];
                let set = bits[usize::from(lead >> 6)] & (1 << (lead & 63)) != 0;
                if segment.items[0].accepts(c) {
                    assert!(set, "{g}: {c:?}");
                }
            }
            // Continuation bytes never start a character.
            for b in 0x80..0xC0u8 {
                assert_eq!(
                    bits[usize::from(b >> 6)] & (1 << (b & 63)),
                    0,
                    "{g}: {b:#x}"
                );
            }
        }
        // A literal first character names its byte alone.
        let only: u32 = Segment {
            items: vec![Item::Char('q')],
        }
        .first_bytes()
        .iter()
        .map(|w| w.count_ones())
        .sum();
        assert_eq!(only, 1);
    }

    #[test]
    fn stepping_back_lands_on_characters() {
        let s = "aé日😀";
        assert_eq!(back(s, s.len(), 1), Some(6));
        assert_eq!(back(s, s.len(), 2), Some(3));
        assert_eq!(back(s, s.len(), 4), Some(0));
        assert_eq!(back(s, s.len(), 5), None);
    }

    #[test]
    fn forms_match_as_the_glob_does() {
        let texts = [
            "", "a", "ab", "ba", "aé", "é", "abcab", "x1yz", "zyx1", "a日b", "aa",
        ];
        for g in [
            "a*b",
            "*a?*",
            "?",
            "*é",
            "a*a",
            "*[!a]*",
            "{a,b}*{b,a}",
            "*a*b*",
        ] {
            let glob = Glob::new(g).unwrap();
            let forms = forms(&glob, 64).unwrap();
            for t in texts {
                assert_eq!(
                    forms.iter().any(|f| f.is_match(t)),
                    glob.is_match(t),
                    "{g} on {t:?}"
                );
            }
        }
    }
}
