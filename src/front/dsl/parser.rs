//! A hand-written parser of the DSL that builds the IR as it reads, for the texts the grammar
//! accepts. It follows `grammar/policy.pest` rule by rule with pest's own semantics (ordered
//! choice, greedy repetition, the implicit skip of whitespace and comments between the parts
//! of a sequence, which a rule's extent includes when the rule ends in an empty repetition or
//! option), so that it accepts the same texts and gives the same spans. At the first text the
//! grammar would refuse it gives up: syntax errors are pest's to describe. The nesting is the
//! grammar's, fixed, so no recursion depends on the input.

use super::lexer::{self, skip};
use super::positions::{Position, Positions};
use super::words;
use crate::diagnostic::Diagnostic;
use crate::front::Parsed;
use crate::glob::Glob;
use crate::ir::{
    Adapt, Approver, ChainStep, Comments, ConfidenceRange, Defaults, EscalationRule, Gate,
    GroupDef, HitlRule, OnTimeout, Outcome, PolicyDoc, Priority, Section,
};
use crate::source::{Cosmetic, Span, Spanned};

type Approvers = Spanned<Vec<Spanned<Approver>>>;

/// A section's rule read at an offset: the rule, where it ends and its span.
type RuleReader<'t, R> = fn(&mut Parser<'t>, usize) -> Option<(R, usize, Span)>;

/// The IR of `text`, or `None` when the grammar does not accept it.
pub(super) fn parse(text: &str) -> Option<Parsed> {
    let mut parser = Parser::new(text);
    let doc = parser.file()?;
    Some(Parsed {
        doc: Some(doc),
        diagnostics: parser.diagnostics,
        tainted: parser.tainted,
    })
}

struct Parser<'t> {
    text: &'t str,
    b: &'t [u8],
    /// Each node's start is taken when the parser reaches it, so that positions are asked for
    /// in reading order.
    positions: Positions<'t>,
    diagnostics: Vec<Diagnostic>,
    tainted: Vec<Span>,
}

/// One of a rule's options, read but not yet applied to its gate.
enum Opt {
    Notify(Spanned<Vec<Spanned<String>>>),
    Timeout(Option<Spanned<crate::ir::Duration>>),
    RemindEvery(Option<Spanned<crate::ir::Duration>>),
    OnTimeout(Spanned<OnTimeout>, Option<Approvers>),
    /// The value where the rule has a priority, and the word's span.
    Priority(Option<Spanned<Priority>>, Span),
}

impl Opt {
    /// Sets the option on `gate`, or on `priority` for the rules that have one; an option
    /// given twice, or a priority where there is none, is reported.
    fn apply(
        self,
        gate: &mut Gate,
        priority: Option<&mut Option<Spanned<Priority>>>,
    ) -> Option<Diagnostic> {
        match self {
            Opt::Notify(n) => {
                let twice = words::once(&gate.notify_via, "notify", n.span);
                gate.notify_via = Some(n);
                twice
            }
            Opt::Timeout(d) => {
                let twice = d
                    .as_ref()
                    .and_then(|d| words::once(&gate.timeout, "timeout", d.span));
                gate.timeout = d;
                twice
            }
            Opt::RemindEvery(d) => {
                let twice = d
                    .as_ref()
                    .and_then(|d| words::once(&gate.remind_every, "remind every", d.span));
                gate.remind_every = d;
                twice
            }
            Opt::OnTimeout(on, to) => {
                let twice = words::once(&gate.on_timeout, "on timeout", on.span);
                gate.on_timeout = Some(on);
                if to.is_some() {
                    gate.escalate_to = to;
                }
                twice
            }
            Opt::Priority(p, span) => match priority {
                Some(slot) => {
                    let twice = p
                        .as_ref()
                        .and_then(|p| words::once(slot, "priority", p.span));
                    *slot = p;
                    twice
                }
                None => Some(words::priority_on_step(span)),
            },
        }
    }
}

/// A HITL rule's decision.
enum Body {
    RequireChain(Span, Spanned<Vec<ChainStep>>),
    Chain(Spanned<Vec<ChainStep>>),
    RequireQuorum(Span, Gate),
    RequireFrom(Span, Approvers),
    RequireBare(Span),
    Allow(Span),
    AutoApprove,
}

/// An escalation rule's condition.
#[derive(Default)]
struct Condition {
    action: Option<Spanned<Glob>>,
    resource: Option<Spanned<Glob>>,
    band: Option<Spanned<ConfidenceRange>>,
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Self {
        Parser {
            text,
            b: text.as_bytes(),
            positions: Positions::new(text),
            diagnostics: Vec::new(),
            tainted: Vec::new(),
        }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        self.span_from(self.at(start), end)
    }

    fn at(&self, offset: usize) -> Position {
        self.positions.of(offset)
    }

    fn span_from(&self, (line, col): Position, end: usize) -> Span {
        let (end_line, end_col) = self.at(end);
        Span::new(line, col, end_line, end_col)
    }

    fn token(&self, start: usize, end: usize) -> &'t str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn lit(&self, at: usize, lit: &[u8]) -> Option<usize> {
        lexer::literal(self.b, at, lit)
    }

    fn skip(&self, at: usize) -> usize {
        skip(self.b, at)
    }

    /// The value of a token read by `words`, or its diagnostic recorded.
    fn read<T>(&mut self, read: Result<T, Diagnostic>) -> Option<T> {
        read.map_err(|d| self.diagnostics.push(d)).ok()
    }

    /// Runs one alternative of the grammar; when it fails, whatever it reported is taken back,
    /// as pest forgets a failed alternative.
    fn attempt<T>(&mut self, alternative: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let (diagnostics, tainted) = (self.diagnostics.len(), self.tainted.len());
        let out = alternative(self);
        if out.is_none() {
            self.diagnostics.truncate(diagnostics);
            self.tainted.truncate(tainted);
        }
        out
    }

    /// `SOI ~ header ~ item* ~ EOI`.
    fn file(&mut self) -> Option<PolicyDoc> {
        let mut doc = PolicyDoc {
            version: Spanned::new(1, Span::default()),
            name: None,
            groups: Vec::new(),
            defaults: None,
            hitl: None,
            escalation: None,
            span: Span::default().into(),
            comments: Comments::default(),
        };
        let file_start = self.at(0);
        let start = self.skip(0);
        let header_start = self.at(start);
        let (end, version) = self.header(start, &mut doc)?;
        doc.span = self.span_from(header_start, end).into();
        let mut at = self.skip(end);
        while let Some(end) = self.item(at, &mut doc) {
            at = self.skip(end);
        }
        if at != self.b.len() {
            return None;
        }
        // The version stands in for a wrong one at the whole file, which ends here.
        doc.version = version.unwrap_or_else(|| Spanned::new(1, self.span_from(file_start, at)));
        Some(doc)
    }

    /// `"policy" ~ name? ~ "version" ~ integer`.
    fn header(&mut self, at: usize, doc: &mut PolicyDoc) -> Option<(usize, Option<Spanned<u64>>)> {
        let mut at = self.skip(self.lit(at, b"policy")?);
        let name_end = if self.b.get(at) == Some(&b'"') {
            lexer::string(self.b, at)
        } else if lexer::kw_version(self.b, at).is_none() {
            lexer::word(self.b, at)
        } else {
            None
        };
        if let Some(end) = name_end {
            doc.name = Some(Spanned::new(
                words::unquote(self.token(at, end)).into_owned(),
                self.span(at, end),
            ));
            at = self.skip(end);
        }
        let at = self.skip(self.lit(at, b"version")?);
        let end = lexer::integer(self.b, at)?;
        let span = self.span(at, end);
        let version = self.read(words::version(self.token(at, end), span));
        Some((end, version))
    }

    /// `group | defaults | hitl | escalation`, applied to `doc`.
    fn item(&mut self, at: usize, doc: &mut PolicyDoc) -> Option<usize> {
        match self.b.get(at)? {
            b'g' => {
                let (group, end) = self.group(at)?;
                doc.groups.push(group);
                Some(end)
            }
            b'd' => {
                let (defaults, end) = self.defaults(at)?;
                doc.defaults = Some(defaults);
                Some(end)
            }
            b'h' => {
                let (hitl, end) = self.section(at, b"hitl", b"rule", Self::hitl_rule)?;
                doc.hitl = Some(hitl);
                Some(end)
            }
            b'e' => {
                let (escalation, end) =
                    self.section(at, b"escalation", b"when", Self::escalation_rule)?;
                doc.escalation = Some(escalation);
                Some(end)
            }
            _ => None,
        }
    }

    /// `"group" ~ (string | word) ~ "=" ~ approver_list`.
    fn group(&mut self, at: usize) -> Option<(GroupDef, usize)> {
        let at = self.skip(self.lit(at, b"group")?);
        let name_end = lexer::string_or(self.b, at, lexer::word)?;
        let eq = self.skip(name_end);
        let list = self.skip(lexer::byte(self.b, eq, b'=')?);
        let name = Spanned::new(
            words::unquote(self.token(at, name_end)).into_owned(),
            self.span(at, name_end),
        );
        let (members, end) = self.attempt(|p| p.approver_list(list))?;
        Some((
            GroupDef {
                name,
                members: members.node,
            },
            end,
        ))
    }

    /// `"defaults" ~ "{" ~ (no_match | default_approvers)* ~ "}"`.
    fn defaults(&mut self, start: usize) -> Option<(Defaults, usize)> {
        let at = self.skip(self.lit(start, b"defaults")?);
        let mut at = self.skip(lexer::byte(self.b, at, b'{')?);
        let first = self.at(start);
        let mut defaults = Defaults {
            no_match: None,
            approvers: None,
            span: Span::default().into(),
        };
        while let Some(end) = self.attempt(|p| {
            if let Some(after) = p.lit(at, b"no") {
                p.no_match(after, &mut defaults)
            } else {
                let after = p.lit(at, b"approvers")?;
                let (list, end) = p.approver_list(p.skip(after))?;
                defaults.approvers = Some(list);
                Some(end)
            }
        }) {
            at = self.skip(end);
        }
        let end = lexer::byte(self.b, at, b'}')?;
        defaults.span = self.span_from(first, end).into();
        Some((defaults, end))
    }

    /// `no_match` after its `"no"`: `"match" ~ arrow ~ outcome ~ approver_clause?`, where the
    /// clause's approvers are the defaults' (its quorum is read for its diagnostics only).
    fn no_match(&mut self, after_no: usize, defaults: &mut Defaults) -> Option<usize> {
        let at = self.skip(self.lit(self.skip(after_no), b"match")?);
        let at = self.skip(self.lit(at, b"->")?);
        let end = lexer::outcome(self.b, at)?;
        defaults.no_match = words::outcome(self.token(at, end), self.span(at, end));
        let after = self.skip(end);
        match self.attempt(|p| p.approver_clause(after)) {
            Some((gate, end)) => {
                defaults.approvers = gate.approvers;
                Some(end)
            }
            None => Some(after),
        }
    }

    /// `KEYWORD ~ "{" ~ RULE* ~ "}"` of a `hitl` or `escalation` section; each rule that has a
    /// problem is recorded as tainted.
    fn section<R>(
        &mut self,
        start: usize,
        keyword: &[u8],
        rule_keyword: &[u8],
        rule: RuleReader<'t, R>,
    ) -> Option<(Section<R>, usize)> {
        let at = self.skip(self.lit(start, keyword)?);
        let mut at = self.skip(lexer::byte(self.b, at, b'{')?);
        let first = self.at(start);
        let mut rules = Vec::new();
        while self.lit(at, rule_keyword).is_some() {
            let before = self.diagnostics.len();
            let Some((r, end, span)) = self.attempt(|p| rule(p, at)) else {
                break;
            };
            if self.diagnostics.len() > before {
                self.tainted.push(span);
            }
            rules.push(r);
            at = self.skip(end);
        }
        let end = lexer::byte(self.b, at, b'}')?;
        let section = Section {
            rules,
            span: self.span_from(first, end).into(),
        };
        Some((section, end))
    }

    /// `(rule_id ~ ":")?` at `at`: the id and where the rule goes on.
    fn rule_id(&mut self, at: usize) -> (Option<Spanned<String>>, usize) {
        if let Some(end) = lexer::string_or(self.b, at, lexer::word)
            && let Some(colon) = lexer::byte(self.b, self.skip(end), b':')
        {
            let id = Spanned::new(
                words::unquote(self.token(at, end)).into_owned(),
                self.span(at, end),
            );
            return (Some(id), self.skip(colon));
        }
        (None, at)
    }

    /// A glob token's value, or `None` with its diagnostic recorded.
    fn glob_value(&mut self, start: usize, end: usize) -> Option<Spanned<Glob>> {
        let span = self.span(start, end);
        self.read(words::glob(self.token(start, end), span))
    }

    /// `(kw_on ~ glob)?` at `at`: the glob's extent.
    fn on_glob(&self, at: usize) -> Option<(usize, usize)> {
        let glob = self.skip(lexer::kw_on(self.b, at)?);
        let end = lexer::string_or(self.b, glob, lexer::bare_glob)?;
        Some((glob, end))
    }

    /// `"rule" ~ (rule_id ~ ":")? ~ glob ~ (kw_on ~ glob)? ~ arrow ~ hitl_body ~ option*`.
    fn hitl_rule(&mut self, start: usize) -> Option<(HitlRule, usize, Span)> {
        let at = self.skip(self.lit(start, b"rule")?);
        let first = self.at(start);
        let (id, at) = self.rule_id(at);
        let action_end = lexer::string_or(self.b, at, lexer::bare_glob)?;
        let action = self.glob_value(at, action_end);
        let mut at = self.skip(action_end);
        let mut resource = None;
        if let Some((glob, end)) = self.on_glob(at) {
            resource = self.glob_value(glob, end);
            at = self.skip(end);
        }
        let at = self.skip(self.lit(at, b"->")?);
        let (body, body_end) = self.attempt(|p| p.hitl_body(at))?;
        let (mut require_approval, mut chain, mut gate) = (None, None, Gate::default());
        match body {
            Body::RequireChain(span, steps) => {
                require_approval = Some(Spanned::new(true, span));
                chain = Some(steps);
            }
            Body::Chain(steps) => chain = Some(steps),
            Body::RequireQuorum(span, quorum) => {
                require_approval = Some(Spanned::new(true, span));
                gate = quorum;
            }
            Body::RequireFrom(span, list) => {
                require_approval = Some(Spanned::new(true, span));
                gate.approvers = Some(list);
            }
            Body::RequireBare(span) => {
                self.diagnostics.push(words::bare_require(span));
                require_approval = Some(Spanned::new(true, span));
            }
            Body::Allow(span) => require_approval = Some(Spanned::new(false, span)),
            Body::AutoApprove => {}
        }
        let mut priority = None;
        let end = self.options(self.skip(body_end), true, |opt| {
            opt.apply(&mut gate, Some(&mut priority))
        });
        let span = self.span_from(first, end);
        let rule = HitlRule {
            id,
            // A glob that does not read stands in as one that matches everything, at the rule.
            action: action.unwrap_or_else(|| Spanned::new(Glob::any(), span)),
            resource,
            require_approval,
            chain,
            priority,
            gate,
            span: span.into(),
        };
        Some((rule, end, span))
    }

    /// `option*` from `at`, each handed to `apply`: where the repetition ends.
    fn options(
        &mut self,
        at: usize,
        priority: bool,
        mut apply: impl FnMut(Opt) -> Option<Diagnostic>,
    ) -> usize {
        // `at` is past a skip already, so skipping from the repetition's end is right for the
        // first option as for the next ones.
        let mut end = at;
        while let Some((opt, opt_end)) = self.attempt(|p| p.option(p.skip(end), priority)) {
            self.diagnostics.extend(apply(opt));
            end = opt_end;
        }
        end
    }

    /// `require_chain | chain | require_quorum | require_from | require_bare | allow |
    /// auto_approve`.
    fn hitl_body(&mut self, start: usize) -> Option<(Body, usize)> {
        if let Some(after) = self.lit(start, b"require") {
            let first = self.at(start);
            let at = self.skip(after);
            if let Some((chain, end)) = self.attempt(|p| p.chain(at)) {
                return Some((Body::RequireChain(self.span_from(first, end), chain), end));
            }
            if let Some((gate, end)) = self.attempt(|p| p.quorum(at)) {
                return Some((Body::RequireQuorum(self.span_from(first, end), gate), end));
            }
            let approval = self.lit(at, b"approval")?;
            let from = self.skip(approval);
            if let Some((list, end)) = self.attempt(|p| {
                let list = p.skip(p.lit(from, b"from")?);
                p.approver_list(list)
            }) {
                return Some((Body::RequireFrom(self.span_from(first, end), list), end));
            }
            return Some((Body::RequireBare(self.span_from(first, approval)), approval));
        }
        if self.b.get(start) == Some(&b'c') {
            let (chain, end) = self.chain(start)?;
            return Some((Body::Chain(chain), end));
        }
        if let Some(end) = self.lit(start, b"allow") {
            return Some((Body::Allow(self.span(start, end)), end));
        }
        let end = self.lit(start, b"auto-approve")?;
        Some((Body::AutoApprove, end))
    }

    /// `"chain" ~ "{" ~ step* ~ "}"`; each step that has a problem is recorded as tainted.
    fn chain(&mut self, start: usize) -> Option<(Spanned<Vec<ChainStep>>, usize)> {
        let at = self.skip(self.lit(start, b"chain")?);
        let mut at = self.skip(lexer::byte(self.b, at, b'{')?);
        let first = self.at(start);
        let mut steps = Vec::new();
        while self.lit(at, b"step").is_some() {
            let before = self.diagnostics.len();
            let Some((step, end)) = self.attempt(|p| p.step(at)) else {
                break;
            };
            if self.diagnostics.len() > before {
                self.tainted.push(*step.span);
            }
            steps.push(step);
            at = self.skip(end);
        }
        let end = lexer::byte(self.b, at, b'}')?;
        Some((Spanned::new(steps, self.span_from(first, end)), end))
    }

    /// `"step" ~ string ~ ":" ~ (quorum | approval_from) ~ option*`.
    fn step(&mut self, start: usize) -> Option<(ChainStep, usize)> {
        let at = self.skip(self.lit(start, b"step")?);
        let first = self.at(start);
        let name_end = lexer::string(self.b, at)?;
        let gate_at = self.skip(lexer::byte(self.b, self.skip(name_end), b':')?);
        let (name, blank) = words::step_name(self.token(at, name_end), self.span(at, name_end));
        self.diagnostics.extend(blank);
        let (mut gate, gate_end) = match self.attempt(|p| p.quorum(gate_at)) {
            Some(quorum) => quorum,
            None => {
                let list =
                    self.skip(self.lit(self.skip(self.lit(gate_at, b"approval")?), b"from")?);
                let (list, end) = self.approver_list(list)?;
                let gate = Gate {
                    approvers: Some(list),
                    ..Gate::default()
                };
                (gate, end)
            }
        };
        let end = self.options(self.skip(gate_end), false, |opt| opt.apply(&mut gate, None));
        let step = ChainStep {
            name,
            gate,
            span: self.span_from(first, end).into(),
        };
        Some((step, end))
    }

    /// `"when" ~ (rule_id ~ ":")? ~ condition? ~ arrow ~ outcome ~ approver_clause? ~ option*`.
    fn escalation_rule(&mut self, start: usize) -> Option<(EscalationRule, usize, Span)> {
        let at = self.skip(self.lit(start, b"when")?);
        let first = self.at(start);
        let (id, at) = self.rule_id(at);
        let (condition, at) = match self.attempt(|p| p.condition(at)) {
            Some((condition, end)) => (condition, self.skip(end)),
            None => (Condition::default(), at),
        };
        let at = self.skip(self.lit(at, b"->")?);
        let outcome_end = lexer::outcome(self.b, at)?;
        let outcome = words::outcome(self.token(at, outcome_end), self.span(at, outcome_end));
        let mut at = self.skip(outcome_end);
        let mut gate = Gate::default();
        if let Some((clause, end)) = self.attempt(|p| p.approver_clause(at)) {
            gate = clause;
            at = self.skip(end);
        }
        let mut priority = None;
        // `(option | adapt)*`, as `options` reads `option*`.
        let mut end = at;
        let mut adapt: Option<Adapt> = None;
        loop {
            if let Some((opt, opt_end)) = self.attempt(|p| p.option(p.skip(end), true)) {
                let twice = opt.apply(&mut gate, Some(&mut priority));
                self.diagnostics.extend(twice);
                end = opt_end;
            } else if let Some((block, block_end)) = self.attempt(|p| p.adapt(p.skip(end))) {
                if let Some(earlier) = &adapt {
                    self.diagnostics
                        .push(words::duplicate_adapt(*earlier.span, *block.span));
                }
                adapt = Some(block);
                end = block_end;
            } else {
                break;
            }
        }
        let span = self.span_from(first, end);
        let rule = EscalationRule {
            id,
            match_action: condition.action,
            match_resource: condition.resource,
            confidence_range: condition.band,
            outcome: outcome.unwrap_or_else(|| Spanned::new(Outcome::Deny, span)),
            priority,
            gate,
            adapt,
            span: span.into(),
        };
        Some((rule, end, span))
    }

    /// `"adapt" ~ "{" ~ (adapt_approvers | adapt_setting)* ~ "}"`.
    fn adapt(&mut self, start: usize) -> Option<(Adapt, usize)> {
        let open = self.skip(self.lit(start, b"adapt")?);
        let first = self.at(start);
        let mut at = self.skip(lexer::byte(self.b, open, b'{')?);
        let mut reader = words::AdaptReader::new();
        loop {
            if let Some(after) = self.lit(at, b"approvers")
                && let Some((list, end)) = self.attempt(|p| p.approver_list(p.skip(after)))
            {
                reader.approvers(list);
                at = self.skip(end);
                continue;
            }
            if let Some(key_end) = lexer::adapt_key(self.b, at) {
                let value = self.skip(key_end);
                if let Some(value_end) = lexer::adapt_value(self.b, value) {
                    let key = self.token(at, key_end);
                    let span = self.span(value, value_end);
                    if let Some(d) = reader.setting(key, self.token(value, value_end), span) {
                        self.diagnostics.push(d);
                    }
                    at = self.skip(value_end);
                    continue;
                }
            }
            break;
        }
        let end = lexer::byte(self.b, at, b'}')?;
        Some((reader.finish(self.span_from(first, end)), end))
    }

    /// `band | match_clause ~ ("and" ~ band)?`, where `match_clause` is
    /// `kw_on ~ glob | glob ~ (kw_on ~ glob)?`.
    fn condition(&mut self, at: usize) -> Option<(Condition, usize)> {
        let mut condition = Condition::default();
        if let Some((band, end)) = self.band(at) {
            condition.band = band;
            return Some((condition, end));
        }
        let mut end = if let Some((glob, end)) = self.on_glob(at) {
            condition.resource = self.glob_value(glob, end);
            end
        } else {
            let action_end = lexer::string_or(self.b, at, lexer::bare_glob)?;
            condition.action = self.glob_value(at, action_end);
            match self.on_glob(self.skip(action_end)) {
                Some((glob, end)) => {
                    condition.resource = self.glob_value(glob, end);
                    end
                }
                None => action_end,
            }
        };
        let and = self.skip(end);
        if let Some((band, band_end)) = self
            .lit(and, b"and")
            .and_then(|after| self.band(self.skip(after)))
        {
            condition.band = band;
            end = band_end;
        }
        Some((condition, end))
    }

    /// `"confidence" ~ "in" ~ "[" ~ number ~ "," ~ number ~ ("]" | ")")`.
    fn band(&mut self, start: usize) -> Option<(Option<Spanned<ConfidenceRange>>, usize)> {
        let at = self.skip(self.lit(start, b"confidence")?);
        let first = self.at(start);
        let at = self.skip(self.lit(at, b"in")?);
        let lo_at = self.skip(lexer::byte(self.b, at, b'[')?);
        let lo_end = lexer::number(self.b, lo_at)?;
        let hi_at = self.skip(lexer::byte(self.b, self.skip(lo_end), b',')?);
        let hi_end = lexer::number(self.b, hi_at)?;
        let close = self.skip(hi_end);
        let closed = self.b.get(close) == Some(&b']');
        if !closed && self.b.get(close) != Some(&b')') {
            return None;
        }
        let end = close + 1;
        let lo = words::number(self.token(lo_at, lo_end), self.span(lo_at, lo_end));
        let hi = words::number(self.token(hi_at, hi_end), self.span(hi_at, hi_end));
        // A bound that does not read as a number drops the band, as in the tree walk (the
        // grammar's numbers always read).
        let band = match (lo, hi) {
            (Some(lo), Some(hi)) => {
                let closed_below_one = (closed && hi.node < 1.0).then(|| self.span(close, end));
                let range = ConfidenceRange {
                    lo,
                    hi,
                    closed_below_one: Cosmetic(closed_below_one),
                };
                Some(Spanned::new(range, self.span_from(first, end)))
            }
            _ => None,
        };
        Some((band, end))
    }

    /// `quorum | ("from" | "to") ~ approver_list`, as a gate.
    fn approver_clause(&mut self, at: usize) -> Option<(Gate, usize)> {
        if let Some(quorum) = self.attempt(|p| p.quorum(at)) {
            return Some(quorum);
        }
        let after = self.lit(at, b"from").or_else(|| self.lit(at, b"to"))?;
        let (list, end) = self.approver_list(self.skip(after))?;
        let gate = Gate {
            approvers: Some(list),
            ..Gate::default()
        };
        Some((gate, end))
    }

    /// `integer ~ "of" ~ approver_list`, as a gate.
    fn quorum(&mut self, at: usize) -> Option<(Gate, usize)> {
        let end = lexer::integer(self.b, at)?;
        let list = self.skip(self.lit(self.skip(end), b"of")?);
        let span = self.span(at, end);
        let mut gate = Gate {
            min_approvals: self.read(words::min_approvals(self.token(at, end), span)),
            ..Gate::default()
        };
        let (list, end) = self.approver_list(list)?;
        gate.approvers = Some(list);
        Some((gate, end))
    }

    /// `notify | timeout | on_timeout | remind_every | priority`; a priority is read only where
    /// the rule has one (`priority`): a step's is refused when applied.
    fn option(&mut self, at: usize, priority: bool) -> Option<(Opt, usize)> {
        match self.b.get(at)? {
            b'n' | b'v' => {
                let after = self.lit(at, b"notify").or_else(|| self.lit(at, b"via"))?;
                let first = self.at(at);
                let (channels, end) = self.channel_list(self.skip(after))?;
                Some((
                    Opt::Notify(Spanned::new(channels, self.span_from(first, end))),
                    end,
                ))
            }
            b't' => {
                let d = self.skip(self.lit(at, b"timeout")?);
                let end = lexer::duration(self.b, d)?;
                Some((Opt::Timeout(self.duration(d, end)), end))
            }
            b'o' => {
                let choice = self.skip(self.lit(self.skip(self.lit(at, b"on")?), b"timeout")?);
                if let Some(end) = self.lit(choice, b"reject") {
                    let on = Spanned::new(OnTimeout::Reject, self.span(choice, end));
                    return Some((Opt::OnTimeout(on, None), end));
                }
                let first = self.at(choice);
                let after = self.skip(self.lit(choice, b"escalate")?);
                let to = self.attempt(|p| {
                    let list = p.skip(p.lit(after, b"to")?);
                    p.approver_list(list)
                });
                let (to, end) = match to {
                    Some((list, end)) => (Some(list), end),
                    None => (None, after),
                };
                let on = Spanned::new(OnTimeout::Escalate, self.span_from(first, end));
                Some((Opt::OnTimeout(on, to), end))
            }
            b'r' => {
                let d = self.skip(self.lit(self.skip(self.lit(at, b"remind")?), b"every")?);
                let end = lexer::duration(self.b, d)?;
                Some((Opt::RemindEvery(self.duration(d, end)), end))
            }
            b'p' => {
                let w = self.skip(self.lit(at, b"priority")?);
                let end = lexer::word(self.b, w)?;
                let span = self.span(w, end);
                let value = if priority {
                    self.read(words::priority(self.token(w, end), span))
                } else {
                    None
                };
                Some((Opt::Priority(value, span), end))
            }
            _ => None,
        }
    }

    fn duration(&mut self, start: usize, end: usize) -> Option<Spanned<crate::ir::Duration>> {
        let span = self.span(start, end);
        self.read(words::duration(self.token(start, end), span))
    }

    /// `"[" ~ (ITEM ~ ("," ~ ITEM)* ~ ","?)? ~ "]"`, each item handed to `item` with its extent.
    fn list(
        &mut self,
        start: usize,
        token: lexer::Token,
        mut item: impl FnMut(&mut Self, usize, usize),
    ) -> Option<(Position, usize)> {
        let mut at = self.skip(lexer::byte(self.b, start, b'[')?);
        let first = self.at(start);
        if let Some(end) = token(self.b, at) {
            item(self, at, end);
            at = end;
            while let Some((next, end)) = lexer::byte(self.b, self.skip(at), b',')
                .map(|comma| self.skip(comma))
                .and_then(|next| Some((next, token(self.b, next)?)))
            {
                item(self, next, end);
                at = end;
            }
            at = self.skip(at);
            if let Some(comma) = lexer::byte(self.b, at, b',') {
                at = self.skip(comma);
            }
        }
        let end = lexer::byte(self.b, self.skip(at), b']')?;
        Some((first, end))
    }

    fn approver_list(&mut self, start: usize) -> Option<(Approvers, usize)> {
        let mut items = Vec::new();
        let (first, end) = self.list(start, approver_token, |p, s, e| {
            let span = p.span(s, e);
            if let Some(a) = p.read(words::approver(p.token(s, e), span)) {
                items.push(a);
            }
        })?;
        Some((Spanned::new(items, self.span_from(first, end)), end))
    }

    fn channel_list(&mut self, start: usize) -> Option<(Vec<Spanned<String>>, usize)> {
        let mut items = Vec::new();
        let (_, end) = self.list(start, channel_token, |p, s, e| {
            items.push(Spanned::new(
                words::unquote(p.token(s, e)).into_owned(),
                p.span(s, e),
            ));
        })?;
        Some((items, end))
    }
}

/// `approver`: a string or a principal.
fn approver_token(b: &[u8], at: usize) -> Option<usize> {
    lexer::string_or(b, at, lexer::principal)
}

/// `channel`: a string or a word.
fn channel_token(b: &[u8], at: usize) -> Option<usize> {
    lexer::string_or(b, at, lexer::word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_s_positions_are_asked_for_in_reading_order() {
        let examples = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "rkl"));
        let mut read = 0;
        for path in examples {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut parser = Parser::new(&text);
            assert!(parser.file().is_some(), "{}", path.display());
            assert!(
                !parser.positions.went_back_a_line(),
                "{} was read out of order",
                path.display()
            );
            read += 1;
        }
        assert!(read >= 3, "{read} example policies");
        // Every node that can span lines, spanning them.
        let text = "policy version 1\ndefaults {\n no match -> deny\n from [\n user:a,\n ]\n}\n\
            hitl {\n rule a -> require chain {\n  step \"s\": 1 of [\n user:a\n ]\n  on timeout escalate\n\
            to [\n user:b ]\n }\n notify [\n x ]\n rule b -> require 1 of [\n user:a ]\n\
            rule c -> require approval from [\n user:a ]\n}\nescalation {\n when x and confidence in [\n\
            0, 1\n ] -> deny 2 of [\n user:a\n ]\n}\n";
        let mut parser = Parser::new(text);
        assert!(parser.file().is_some());
        assert!(!parser.positions.went_back_a_line());
        // One asked for out of order is still right, from the index of lines.
        let text = "policy version 1\nhitl {\n  rule a -> allow\n}\n";
        let parser = Parser::new(text);
        parser.at(text.len());
        assert_eq!(parser.span(0, 6), Span::new(1, 1, 1, 7));
        assert!(parser.positions.went_back_a_line());
    }
}
