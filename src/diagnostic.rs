//! Diagnostics: what is wrong with a policy, where, and how to fix it.
//!
//! Every front end and check reports a [`Diagnostic`]: an [`ErrorKind`] (the message), the
//! [`Span`] of the offending node, and, where one helps, a hint. A file's diagnostics are
//! collected together so that an author sees every problem in one run, not one per run.

use std::fmt::{self, Write as _};

use crate::source::{Source, Span};

/// What is wrong. The `Display` text is the one-line message; [`ErrorKind::hint`] says how to
/// fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read (missing, a directory, not UTF-8 text). Rendered as one
    /// plain line, since there is no text to point into.
    #[error("cannot read the policy file: {reason}")]
    Io { reason: String },
    /// A file whose extension names no policy language: read as YAML, a DSL policy in a
    /// `.txt` file would only get a confusing YAML syntax error.
    #[error("{found}: a policy file is `.yaml` or `.yml` (YAML) or `.rkl` (the DSL)")]
    UnknownLanguage { found: String },
    /// The text is not well-formed YAML (or DSL).
    #[error("syntax error: {reason}")]
    Syntax {
        reason: String,
        hint: Option<String>,
    },
    /// The file holds no document at all.
    #[error("the policy file is empty")]
    EmptyDocument,
    /// YAML allows several documents in one stream; a policy file is exactly one.
    #[error("a policy file holds exactly one YAML document, this one holds more")]
    SeveralDocuments,
    /// A key the format does not know, usually a typo.
    #[error("unknown key `{key}` in {place}")]
    UnknownKey {
        key: String,
        place: &'static str,
        suggestion: Option<&'static str>,
        allowed: &'static [&'static str],
    },
    /// A key that must be present is missing.
    #[error("{place} has no `{key}`")]
    MissingKey {
        key: &'static str,
        place: &'static str,
    },
    /// The same key twice in one mapping; YAML parsers differ on which wins, so we refuse.
    #[error("key `{key}` appears twice in {place}")]
    DuplicateKey {
        key: String,
        place: &'static str,
        /// Where the key is first written.
        first: Span,
    },
    /// A value of the wrong type.
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
    },
    /// A part of the policy (the document, a section, a rule) that is not a mapping.
    #[error("{place} must be a mapping of keys to values, found {found}")]
    NotAMapping { place: &'static str, found: String },
    /// `version` is absent.
    #[error("the policy has no `version`")]
    MissingVersion,
    /// `version` is not one this build understands.
    #[error("policy version {found} is not supported")]
    UnsupportedVersion { found: String },
    /// A glob that cannot be parsed.
    #[error("malformed glob `{glob}`: {reason}")]
    MalformedGlob { glob: String, reason: String },
    /// A duration that cannot be parsed.
    #[error("malformed duration `{text}`: {reason}")]
    MalformedDuration { text: String, reason: &'static str },
    /// A principal that is not `kind:name`.
    #[error("`{text}` is not a principal of the form `kind:name`")]
    BadPrincipal { text: String },
    /// An outcome name that does not exist.
    #[error("unknown outcome `{found}`")]
    UnknownOutcome {
        found: String,
        suggestion: Option<&'static str>,
    },
    /// A word outside a fixed set (priority, onTimeout).
    #[error("unknown {what} `{found}`")]
    UnknownWord {
        what: &'static str,
        found: String,
        allowed: &'static [&'static str],
        suggestion: Option<&'static str>,
    },
    /// `group:NAME` with no such group.
    #[error("unknown group `{name}`")]
    UnknownGroup {
        name: String,
        suggestion: Option<String>,
    },
    /// Groups that contain each other.
    #[error("group `{name}` contains itself: {path}")]
    GroupCycle { name: String, path: String },
    /// Groups whose expansion holds too many principals in all.
    #[error("group `{name}` takes the groups' expansion past {limit} principals in all")]
    GroupsTooLarge { name: String, limit: usize },
    /// Two groups of the same name.
    #[error("group `{name}` is defined twice")]
    DuplicateGroup { name: String, first: Span },
    /// Two rules with one id.
    #[error("duplicate rule id `{id}`")]
    DuplicateRuleId { id: String, first: Span },
    /// A gate that no one could resolve.
    #[error("{what} but no approvers are listed")]
    MissingApprovers { what: String },
    /// Approvers that are all groups, and groups with no members.
    #[error("{what} but every group in `{list}` has no members")]
    OnlyEmptyGroups { what: String, list: &'static str },
    /// `minApprovals` below one.
    #[error("minApprovals must be at least 1, found {found}")]
    MinApprovalsTooLow { found: i64 },
    /// `minApprovals` more than the distinct approvers could ever give.
    #[error("minApprovals is {min} but only {distinct} distinct approver{s} {are} listed", s = if *distinct == 1 { "" } else { "s" }, are = if *distinct == 1 { "is" } else { "are" })]
    MinApprovalsTooHigh { min: i64, distinct: usize },
    /// `chain: []`.
    #[error("the approval chain has no steps")]
    EmptyChain,
    /// `chain` and `requireApproval: false` contradict each other.
    #[error("a rule with a `chain` cannot say `requireApproval: false`")]
    ChainWithoutApproval,
    /// `onTimeout: escalate` needs a target.
    #[error("`onTimeout: escalate` but no `escalateTo` is given")]
    EscalateWithoutTarget,
    /// `escalateTo` is given but nothing escalates.
    #[error("`escalateTo` is given but `onTimeout` is not `escalate`")]
    EscalateToWithoutEscalate,
    /// A confidence bound outside [0, 1].
    #[error("confidence bound {value} is outside [0, 1]")]
    RangeOutOfBounds { value: f64 },
    /// `[lo, hi]` with lo > hi.
    #[error("confidence range [{lo}, {hi}] is reversed: {lo} > {hi}")]
    RangeReversed { lo: f64, hi: f64 },
    /// A confidence range that is not a pair.
    #[error("`confidenceRange` must be a pair [lo, hi], found {found} element{s}", s = if *found == 1 { "" } else { "s" })]
    RangeShape { found: usize },
    /// Neither `hitl` nor `escalation`.
    #[error("the policy has neither a `hitl` nor an `escalation` section, so it decides nothing")]
    NoSections,
    /// A gate key on a rule whose approvals come from its chain steps.
    #[error("`{key}` has no effect on a rule with a `chain`")]
    IgnoredWithChain { key: &'static str },
    /// Approvers on a rule that never asks anyone, which is almost always a forgotten
    /// `requireApproval: true` (or the wrong outcome).
    #[error("approvers are listed but {why}, so they are never asked")]
    UnusedApprovers { why: String, fix: &'static str },
    /// A timeout or quorum setting on a rule that never asks anyone.
    #[error("`{key}` has no effect: {why}")]
    InertGateKey { key: &'static str, why: String },
    /// A name that must not be empty.
    #[error("`{key}` must not be empty")]
    Empty { key: &'static str },
    /// A learning setting out of its range.
    #[error("`adapt.{key}` {message}")]
    AdaptSetting { key: &'static str, message: String },
    /// `adapt` on a rule that does not auto-approve: only an auto-approve threshold can learn.
    #[error("only an `auto-approve` rule may adapt; this rule says `{outcome}`")]
    AdaptNotAutoApprove { outcome: crate::ir::Outcome },
    /// An adapting rule whose band does not reach 1.0: its `lo` is the threshold that moves,
    /// and what is above it must be what it auto-approves.
    #[error("a rule that adapts needs a `confidenceRange` ending at 1.0, {found}")]
    AdaptBand { found: String },
    /// The policy's threshold outside the limits the learner may move it within.
    #[error("the threshold {lo} is outside the adapt limits [{floor}, {ceiling}]")]
    AdaptThresholdOutside { lo: f64, floor: f64, ceiling: f64 },
    /// A `notifyVia` channel the server has no configuration for: refused when the policy
    /// is loaded rather than dropped when a request is made.
    #[error("the notification channel `{channel}` is not configured")]
    UnconfiguredChannel { channel: String, configured: String },
}

impl ErrorKind {
    /// How to fix it, when there is something more useful to say than the message.
    pub fn hint(&self) -> Option<String> {
        use ErrorKind::*;
        match self {
            Io { .. } | UnknownLanguage { .. } => None,
            Syntax { hint, .. } => hint.clone(),
            EmptyDocument => Some("start with `version: 1` and a `hitl` or `escalation` section".into()),
            SeveralDocuments => Some("remove the `---` separator, or split the policies into files".into()),
            UnknownKey { suggestion: Some(s), .. } => Some(format!("did you mean `{s}`?")),
            UnknownKey { allowed, .. } => Some(format!("the keys allowed here are: {}", allowed.join(", "))),
            MissingKey { key, .. } => Some(format!("add `{key}: ...`")),
            DuplicateKey { key, first, .. } => Some(format!(
                "`{key}` is first given at line {}, column {}; keep one of them",
                first.line, first.col
            )),
            WrongType { .. } => None,
            NotAMapping { .. } => Some("write it as `key: value` pairs, one per line".into()),
            MissingVersion => Some("add `version: 1` at the top of the file".into()),
            UnsupportedVersion { .. } => Some("this build supports `version: 1`".into()),
            MalformedGlob { .. } => Some(
                "globs use `*`, `?`, `[a-z]`, `[!a-z]`, `{a,b}` and `\\x` to escape; close every `[` and `{`".into(),
            ),
            MalformedDuration { .. } => Some("write integer milliseconds or a number with one unit: 500ms, 30s, 5m, 1h, 1d".into()),
            BadPrincipal { .. } => Some("write principals as `user:adam`, `team:sre`, `role:dba`, or `group:NAME` for a group".into()),
            UnknownOutcome { suggestion: Some(s), .. } => Some(format!("did you mean `{s}`?")),
            UnknownOutcome { .. } => Some("outcomes are auto-approve, notify-and-proceed, request-approval, escalate, deny".into()),
            UnknownWord { suggestion: Some(s), .. } => Some(format!("did you mean `{s}`?")),
            UnknownWord { allowed, .. } => Some(format!("use one of: {}", allowed.join(", "))),
            UnknownGroup { suggestion: Some(s), .. } => Some(format!("did you mean `group:{s}`?")),
            UnknownGroup { name, .. } => Some(format!("define it: `{name}: [...]` under `groups:` in YAML, `group {name} = [...]` in the DSL")),
            GroupCycle { .. } => Some("a group may contain other groups, but not itself through them".into()),
            GroupsTooLarge { .. } => Some("list fewer principals, or nest groups less: each group holds every member of the groups it contains".into()),
            DuplicateGroup { first, .. } => Some(format!("the first definition is at line {}; rename or merge them", first.line)),
            DuplicateRuleId { first, .. } => Some(format!("the id is first used at line {}; rule ids must be unique across the policy", first.line)),
            MissingApprovers { .. } => Some("add `approvers: [user:NAME, ...]`; a gate nobody can resolve would block forever".into()),
            OnlyEmptyGroups { list, .. } => Some(format!(
                "add members to the groups, or list principals such as `user:NAME` in `{list}`"
            )),
            MinApprovalsTooLow { .. } => Some("use minApprovals: 1 or more".into()),
            MinApprovalsTooHigh { distinct, .. } => Some(format!(
                "list more approvers, or lower minApprovals to at most {distinct}"
            )),
            EmptyChain => Some("give at least one `- step: NAME` with approvers, or use `requireApproval: true`".into()),
            ChainWithoutApproval => Some("remove `requireApproval: false`; a chain always requires approval".into()),
            EscalateWithoutTarget => Some("add `escalateTo: [user:NAME]`, or use `onTimeout: reject`".into()),
            EscalateToWithoutEscalate => Some("add `onTimeout: escalate`, or remove `escalateTo`".into()),
            RangeOutOfBounds { .. } => Some("confidence is a number between 0.0 and 1.0".into()),
            RangeReversed { lo, hi } => Some(format!("write it as [{hi}, {lo}]")),
            RangeShape { .. } => Some("write `confidenceRange: [0.4, 0.7]`".into()),
            NoSections => Some("add `hitl: {rules: [...]}` or `escalation: {rules: [...]}`".into()),
            IgnoredWithChain { key } => Some(format!("move `{key}` into the chain's steps")),
            UnusedApprovers { fix, .. } => Some((*fix).to_owned()),
            InertGateKey { key, .. } => Some(format!(
                "remove `{key}`, or make the rule ask someone (`requireApproval: true`, or an outcome of `request-approval` or `escalate`)"
            )),
            Empty { .. } => None,
            AdaptSetting { .. } => Some(
                "alpha and delta are strictly between 0 and 1; floor, ceiling and auditRate within [0, 1] with floor <= ceiling; step within (0, 1]; minLabels at least 1; window between minLabels and 1000000".into(),
            ),
            AdaptNotAutoApprove { .. } => Some(
                "move `adapt` to the rule whose action is `auto-approve`, or remove it".into(),
            ),
            AdaptBand { .. } => Some("write `confidenceRange: [LO, 1.0]`; LO is the threshold that adapts".into()),
            AdaptThresholdOutside { floor, ceiling, .. } => Some(format!(
                "start the band within [{floor}, {ceiling}], or widen `floor`/`ceiling`"
            )),
            UnconfiguredChannel { configured, .. } => Some(format!(
                "{configured}; configure it in the server's configuration (`email`, `slack`, `webhooks`, or `logChannels`)"
            )),
        }
    }

    /// Whether this validation finding may be a consequence of a front-end error in the same
    /// rule (a refused approver leaves the list short, a refused `onTimeout` leaves
    /// `escalateTo` alone), rather than a problem of its own.
    pub fn may_echo(&self) -> bool {
        use ErrorKind::*;
        matches!(
            self,
            MissingApprovers { .. }
                | OnlyEmptyGroups { .. }
                | MinApprovalsTooHigh { .. }
                | UnusedApprovers { .. }
                | InertGateKey { .. }
                | EscalateWithoutTarget
                | EscalateToWithoutEscalate
        )
    }

    /// A stable identifier for tools and tests.
    pub fn code(&self) -> &'static str {
        use ErrorKind::*;
        match self {
            Io { .. } => "io",
            UnknownLanguage { .. } => "unknown-language",
            Syntax { .. } => "syntax",
            EmptyDocument => "empty-document",
            SeveralDocuments => "several-documents",
            UnknownKey { .. } => "unknown-key",
            MissingKey { .. } => "missing-key",
            DuplicateKey { .. } => "duplicate-key",
            WrongType { .. } | NotAMapping { .. } => "wrong-type",
            MissingVersion => "missing-version",
            UnsupportedVersion { .. } => "unsupported-version",
            MalformedGlob { .. } => "malformed-glob",
            MalformedDuration { .. } => "malformed-duration",
            BadPrincipal { .. } => "bad-principal",
            UnknownOutcome { .. } => "unknown-outcome",
            UnknownWord { .. } => "unknown-word",
            UnknownGroup { .. } => "unknown-group",
            GroupCycle { .. } => "group-cycle",
            GroupsTooLarge { .. } => "groups-too-large",
            DuplicateGroup { .. } => "duplicate-group",
            DuplicateRuleId { .. } => "duplicate-rule-id",
            MissingApprovers { .. } | OnlyEmptyGroups { .. } => "missing-approvers",
            MinApprovalsTooLow { .. } => "min-approvals-too-low",
            MinApprovalsTooHigh { .. } => "min-approvals-too-high",
            EmptyChain => "empty-chain",
            ChainWithoutApproval => "chain-without-approval",
            EscalateWithoutTarget => "escalate-without-target",
            EscalateToWithoutEscalate => "escalate-to-without-escalate",
            RangeOutOfBounds { .. } => "range-out-of-bounds",
            RangeReversed { .. } => "range-reversed",
            RangeShape { .. } => "range-shape",
            NoSections => "no-sections",
            IgnoredWithChain { .. } => "ignored-with-chain",
            UnusedApprovers { .. } => "unused-approvers",
            InertGateKey { .. } => "inert-gate-key",
            Empty { .. } => "empty",
            AdaptSetting { .. } => "adapt-setting",
            AdaptNotAutoApprove { .. } => "adapt-not-auto-approve",
            AdaptBand { .. } => "adapt-band",
            AdaptThresholdOutside { .. } => "adapt-threshold-outside",
            UnconfiguredChannel { .. } => "unconfigured-channel",
        }
    }
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub kind: ErrorKind,
    pub span: Span,
}

impl Diagnostic {
    pub fn new(kind: ErrorKind, span: Span) -> Self {
        Diagnostic { kind, span }
    }
}

/// Every error found in one policy file. The policy is refused when there is at least one.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyError {
    pub source: Source,
    pub diagnostics: Vec<Diagnostic>,
}

impl PolicyError {
    pub fn new(source: Source, mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by_key(|d| (d.span.line, d.span.col));
        diagnostics.dedup();
        PolicyError {
            source,
            diagnostics,
        }
    }

    /// A one-diagnostic error, for failures before there is any text (an unreadable file).
    pub fn single(source: Source, kind: ErrorKind, span: Span) -> Self {
        PolicyError::new(source, vec![Diagnostic::new(kind, span)])
    }

    /// Reads a file as a [`Source`] named by its path; a file that cannot be read is an error
    /// like any other, located at its start. A byte-order mark at the start is skipped here,
    /// once for every language, as editors on Windows write one.
    pub fn read_source(path: &std::path::Path) -> Result<Source, PolicyError> {
        let origin = path.display().to_string();
        std::fs::read_to_string(path)
            .map(|text| match text.strip_prefix('\u{feff}') {
                Some(rest) => Source::new(origin.as_str(), rest),
                None => Source::new(origin.as_str(), text),
            })
            .map_err(|e| {
                PolicyError::single(
                    Source::new(origin.as_str(), ""),
                    ErrorKind::Io {
                        reason: io_reason(path, &e),
                    },
                    Span::at(1, 1, 1),
                )
            })
    }

    /// `FILE:LINE:COL: error: MESSAGE`, the quoted line with a caret, and the hint, for each
    /// diagnostic.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            if let ErrorKind::Io { .. } | ErrorKind::UnknownLanguage { .. } = &d.kind {
                // No text was read, so a line and column would point at nothing.
                let _ = writeln!(out, "{}: error: {}", self.source.origin, d.kind);
                continue;
            }
            let hint = d.kind.hint();
            let notes: Vec<(&str, &str)> = hint.iter().map(|h| ("help", h.as_str())).collect();
            render_one(
                &mut out,
                &self.source,
                "error",
                &d.kind.to_string(),
                d.span,
                &notes,
            );
        }
        out
    }
}

/// Why a file could not be read, in the words a user needs: std's "stream did not contain
/// valid UTF-8" says nothing about a binary file given by mistake.
fn io_reason(path: &std::path::Path, e: &std::io::Error) -> String {
    if path.is_dir() {
        return "it is a directory, not a file".into();
    }
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::InvalidData => {
            "it is not UTF-8 text (a binary file?); a policy is YAML or DSL text".into()
        }
        _ => e.to_string(),
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for PolicyError {}

/// Renders one message in the compiler style every editor can jump to: `FILE:LINE:COL: LABEL:
/// MESSAGE`, the quoted line with a caret under the span, then `= KIND: TEXT` lines (`help`,
/// `note`).
pub fn render_one(
    out: &mut String,
    source: &Source,
    label: &str,
    message: &str,
    span: Span,
    notes: &[(&str, &str)],
) {
    let _ = writeln!(
        out,
        "{}:{}:{}: {label}: {message}",
        source.origin, span.line, span.col
    );
    let pad = match quoted_line(source, span) {
        Some(Quote {
            text,
            before,
            width,
            cut_left,
        }) => {
            let number = span.line.to_string();
            let pad = " ".repeat(number.len());
            // Tabs keep their width under the caret so it lines up in a terminal.
            let lead: String = text
                .chars()
                .take(before as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let ellipsis = if cut_left { "..." } else { "" };
            let shift = if cut_left { "   " } else { "" };
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{number} | {ellipsis}{text}");
            let _ = writeln!(out, "{pad} | {shift}{lead}{}", "^".repeat(width as usize));
            pad
        }
        None => " ".to_owned(),
    };
    for (kind, text) in notes {
        let _ = writeln!(out, "{pad} = {kind}: {text}");
    }
}

/// The most characters of a line quoted on either side of a span: a machine-written policy may
/// hold its whole text on one line, and each diagnostic should cost its own few lines, not a
/// copy of the file.
const QUOTE_CONTEXT: u32 = 80;

/// The part of a line shown under a message, and where the caret goes in it.
struct Quote<'s> {
    /// The quoted text (the whole line, or a window of it ending in `...` when cut).
    text: std::borrow::Cow<'s, str>,
    /// Characters of `text` before the span.
    before: u32,
    /// Carets to draw (at least one).
    width: u32,
    /// Whether the window starts after the line's start (shown as a leading `...`).
    cut_left: bool,
}

/// The window of the span's line around the span, found through the source's line index so
/// that it costs the same on line 1 and line 100,000, and on a short line and a megabyte one.
fn quoted_line(source: &Source, span: Span) -> Option<Quote<'_>> {
    let index = source.index();
    let text = &source.text;
    let line = index.line(text, span.line)?;
    let line_start = index.offset(text, span.line, 1)?;
    let line_end = line_start + line.len();
    let col = span.col.max(1);
    let first = col.saturating_sub(QUOTE_CONTEXT).max(1);
    let from = index.offset(text, span.line, first)?;
    let at = index.offset(text, span.line, col)?;
    let wanted = span.width_on_first_line();
    let to = index
        .offset(
            text,
            span.line,
            col.saturating_add(wanted).saturating_add(QUOTE_CONTEXT),
        )?
        .min(line_end);
    let window = text.get(from..to)?;
    let before = u32::try_from(text.get(from..at)?.chars().count()).unwrap_or(u32::MAX);
    let after_start = u32::try_from(text.get(at..to)?.chars().count()).unwrap_or(u32::MAX);
    let width = wanted.min(after_start.max(1));
    let cut_right = to < line_end;
    let mut shown = std::borrow::Cow::Borrowed(window.strip_suffix('\r').unwrap_or(window));
    if cut_right {
        shown = std::borrow::Cow::Owned(format!("{shown}..."));
    }
    Some(Quote {
        text: shown,
        before,
        width,
        cut_left: first > 1,
    })
}
