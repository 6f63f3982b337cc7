//! A unified diff of two texts by lines, for `fmt --check`: what `fmt --write` would change.
//!
//! The common head and tail are cut off first, as a formatting change is usually a few lines;
//! the rest is aligned by a longest common subsequence when it is small enough to be cheap
//! (at most [`MAX_TABLE`] cells), and otherwise shown as all removed and all added, so that a
//! huge file costs memory in proportion to its size, never its square.

use std::fmt::Write as _;

/// The most cells of the alignment table.
const MAX_TABLE: usize = 4_000_000;
/// Unchanged lines shown around each change.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Same,
    Removed,
    Added,
}

/// The edit script turning `old` into `new`: one op per line of either.
fn script(old: &[&str], new: &[&str]) -> Vec<Op> {
    let head = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let a = &old[head..old.len() - tail];
    let b = &new[head..new.len() - tail];
    let mut ops = vec![Op::Same; head];
    if a.len().saturating_mul(b.len()) <= MAX_TABLE {
        // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
        let width = b.len() + 1;
        let mut lcs = vec![0u32; (a.len() + 1) * width];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i * width + j] = if a[i] == b[j] {
                    lcs[(i + 1) * width + j + 1] + 1
                } else {
                    lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            if a[i] == b[j] {
                ops.push(Op::Same);
                i += 1;
                j += 1;
            } else if lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
                ops.push(Op::Removed);
                i += 1;
            } else {
                ops.push(Op::Added);
                j += 1;
            }
        }
        ops.extend(std::iter::repeat_n(Op::Removed, a.len() - i));
        ops.extend(std::iter::repeat_n(Op::Added, b.len() - j));
    } else {
        ops.extend(std::iter::repeat_n(Op::Removed, a.len()));
        ops.extend(std::iter::repeat_n(Op::Added, b.len()));
    }
    ops.extend(std::iter::repeat_n(Op::Same, tail));
    ops
}

/// The unified diff from `old` (named `old_name`) to `new`, or `None` when they are equal.
pub(crate) fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = script(&a, &b);
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    if ops.iter().all(|op| *op == Op::Same) {
        // Same lines, different bytes: line ends or the final newline.
        out.push_str("@@ the lines are the same; line endings or the final newline differ @@\n");
        return Some(out);
    }
    // Positions (in ops) of changes, grouped into hunks whose context would touch.
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k] != Op::Same).collect();
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &k in &changed {
        let from = k.saturating_sub(CONTEXT);
        let to = (k + CONTEXT + 1).min(ops.len());
        match hunks.last_mut() {
            Some((_, end)) if from <= *end => *end = to,
            _ => hunks.push((from, to)),
        }
    }
    // Line numbers in each text at each op position.
    let (mut ai, mut bi) = (0usize, 0usize);
    let mut starts = Vec::with_capacity(ops.len() + 1);
    for op in &ops {
        starts.push((ai, bi));
        match op {
            Op::Same => {
                ai += 1;
                bi += 1;
            }
            Op::Removed => ai += 1,
            Op::Added => bi += 1,
        }
    }
    starts.push((ai, bi));
    for (from, to) in hunks {
        let (a0, b0) = starts[from];
        let (a1, b1) = starts[to];
        let _ = writeln!(out, "@@ -{},{} +{},{} @@", a0 + 1, a1 - a0, b0 + 1, b1 - b0);
        for k in from..to {
            let (ak, bk) = starts[k];
            let _ = match ops[k] {
                Op::Same => writeln!(out, " {}", a[ak]),
                Op::Removed => writeln!(out, "-{}", a[ak]),
                Op::Added => writeln!(out, "+{}", b[bk]),
            };
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Applies a unified diff to the old text's lines, as `patch` would.
    fn apply(old: &[&str], diff: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut next = 0; // the next old line not yet copied
        for line in diff.lines().skip(2) {
            if let Some(header) = line.strip_prefix("@@ -") {
                let from: usize = header.split(',').next().unwrap().parse().unwrap();
                while next + 1 < from {
                    out.push(old[next].to_owned());
                    next += 1;
                }
                continue;
            }
            let (mark, rest) = line.split_at(1);
            match mark {
                " " => {
                    assert_eq!(old[next], rest, "context matches the old text");
                    out.push(rest.to_owned());
                    next += 1;
                }
                "-" => {
                    assert_eq!(old[next], rest, "a removed line is the old text's");
                    next += 1;
                }
                _ => out.push(rest.to_owned()),
            }
        }
        out.extend(old[next..].iter().map(|l| (*l).to_owned()));
        out
    }

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a", "b", "x\ny\n", "x\ny\n"), None);
    }

    #[test]
    fn a_changed_line_is_one_hunk_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n";
        let d = unified("old", "new", old, new).unwrap();
        assert_eq!(
            d,
            "--- old\n+++ new\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    proptest! {
        /// Whatever the texts, the diff applied to the old text gives the new one.
        #[test]
        fn the_diff_patches_old_into_new(
            old in proptest::collection::vec("[abc]", 0..12),
            new in proptest::collection::vec("[abc]", 0..12),
        ) {
            let (o, n) = (old.join("\n") + "\n", new.join("\n") + "\n");
            match unified("o", "n", &o, &n) {
                None => prop_assert_eq!(o, n),
                Some(d) => {
                    let old_lines: Vec<&str> = o.lines().collect();
                    let new_lines: Vec<String> = n.lines().map(str::to_owned).collect();
                    prop_assert_eq!(apply(&old_lines, &d), new_lines);
                }
            }
        }
    }
}
