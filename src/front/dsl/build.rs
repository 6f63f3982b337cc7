//! From the pest parse tree to the IR. The grammar has already checked the shape; what is left
//! is the local syntax of globs, principals, durations and words, as in the YAML front end.

use pest::iterators::Pair;

use super::{Rule, words};
use crate::diagnostic::Diagnostic;
use crate::glob::Glob;
use crate::ir::{
    ChainStep, Comments, ConfidenceRange, Defaults, Duration, EscalationRule, Gate, GroupDef,
    HitlRule, OnTimeout, Outcome, PolicyDoc, Priority, Section,
};
use crate::source::{Cosmetic, LineIndex, Span, Spanned};

/// The text of a `string` or of a bare token (a rule such as `rule_id` that holds one).
fn text_of(pair: &Pair<'_, Rule>) -> String {
    words::unquote(pair.as_str()).into_owned()
}

pub(super) struct Builder<'t> {
    pub diagnostics: Vec<Diagnostic>,
    pub tainted: Vec<Span>,
    text: &'t str,
    /// Positions come from one index of the text: pest's own `line_col` reads the text from
    /// its start on every call, which made parsing quadratic in the file's size.
    lines: LineIndex,
}

impl<'t> Builder<'t> {
    pub fn new(text: &'t str) -> Self {
        Builder {
            diagnostics: Vec::new(),
            tainted: Vec::new(),
            text,
            lines: LineIndex::new(text),
        }
    }

    fn span_of(&self, pair: &Pair<'_, Rule>) -> Span {
        let span = pair.as_span();
        let (line, col) = self.lines.position(self.text, span.start());
        let (end_line, end_col) = self.lines.position(self.text, span.end());
        Span::new(line, col, end_line, end_col)
    }

    /// The value of a token read by `words`, or its diagnostic recorded.
    fn read<T>(&mut self, read: Result<T, Diagnostic>) -> Option<T> {
        read.map_err(|d| self.diagnostics.push(d)).ok()
    }

    fn watch<T>(&mut self, span: Span, build: impl FnOnce(&mut Self) -> T) -> T {
        let before = self.diagnostics.len();
        let out = build(self);
        if self.diagnostics.len() > before {
            self.tainted.push(span);
        }
        out
    }

    pub fn file(&mut self, file: Pair<'_, Rule>) -> Option<PolicyDoc> {
        let span = self.span_of(&file);
        let mut doc = PolicyDoc {
            version: Spanned::new(1, span),
            name: None,
            groups: Vec::new(),
            defaults: None,
            hitl: None,
            escalation: None,
            span: span.into(),
            comments: Comments::default(),
        };
        for pair in file.into_inner() {
            match pair.as_rule() {
                Rule::header => {
                    // The document starts where its header does, after any leading comments.
                    doc.span = self.span_of(&pair).into();
                    self.header(pair, &mut doc);
                }
                Rule::group => {
                    let mut inner = pair.into_inner();
                    let (Some(name), Some(list)) = (inner.next(), inner.next()) else {
                        continue;
                    };
                    let name = Spanned::new(text_of(&name), self.span_of(&name));
                    let members = self.approvers(list).node;
                    doc.groups.push(GroupDef { name, members });
                }
                Rule::defaults => doc.defaults = Some(self.defaults(pair)),
                Rule::hitl => {
                    let span = self.span_of(&pair);
                    let rules = pair
                        .into_inner()
                        .map(|r| {
                            let s = self.span_of(&r);
                            self.watch(s, |b| b.hitl_rule(r))
                        })
                        .collect();
                    doc.hitl = Some(Section {
                        rules,
                        span: span.into(),
                    });
                }
                Rule::escalation => {
                    let span = self.span_of(&pair);
                    let rules = pair
                        .into_inner()
                        .map(|r| {
                            let s = self.span_of(&r);
                            self.watch(s, |b| b.escalation_rule(r))
                        })
                        .collect();
                    doc.escalation = Some(Section {
                        rules,
                        span: span.into(),
                    });
                }
                _ => {}
            }
        }
        Some(doc)
    }

    fn header(&mut self, header: Pair<'_, Rule>, doc: &mut PolicyDoc) {
        for pair in header.into_inner() {
            match pair.as_rule() {
                Rule::name => doc.name = Some(Spanned::new(text_of(&pair), self.span_of(&pair))),
                Rule::integer => {
                    let span = self.span_of(&pair);
                    if let Some(v) = self.read(words::version(pair.as_str(), span)) {
                        doc.version = v;
                    }
                }
                _ => {}
            }
        }
    }

    fn defaults(&mut self, pair: Pair<'_, Rule>) -> Defaults {
        let mut defaults = Defaults {
            no_match: None,
            approvers: None,
            span: self.span_of(&pair).into(),
        };
        for item in pair.into_inner() {
            match item.as_rule() {
                Rule::no_match => {
                    for part in item.into_inner() {
                        match part.as_rule() {
                            Rule::outcome => defaults.no_match = self.outcome(&part),
                            Rule::approver_clause => {
                                let mut gate = Gate::default();
                                self.approver_clause(part, &mut gate);
                                defaults.approvers = gate.approvers;
                            }
                            _ => {}
                        }
                    }
                }
                Rule::default_approvers => {
                    if let Some(list) = item.into_inner().next() {
                        defaults.approvers = Some(self.approvers(list));
                    }
                }
                _ => {}
            }
        }
        defaults
    }

    fn hitl_rule(&mut self, pair: Pair<'_, Rule>) -> HitlRule {
        let span = self.span_of(&pair);
        let mut rule = HitlRule {
            id: None,
            action: Spanned::new(Glob::any(), span),
            resource: None,
            require_approval: None,
            chain: None,
            priority: None,
            gate: Gate::default(),
            span: span.into(),
        };
        let mut seen_action = false;
        for part in pair.into_inner() {
            let part_span = self.span_of(&part);
            match part.as_rule() {
                Rule::rule_id => rule.id = Some(Spanned::new(text_of(&part), part_span)),
                Rule::glob if !seen_action => {
                    seen_action = true;
                    if let Some(g) = self.glob(&part) {
                        rule.action = g;
                    }
                }
                Rule::glob => rule.resource = self.glob(&part),
                Rule::require_chain => {
                    rule.require_approval = Some(Spanned::new(true, part_span));
                    if let Some(chain) = part.into_inner().next() {
                        rule.chain = Some(self.chain(chain));
                    }
                }
                Rule::chain => rule.chain = Some(self.chain(part)),
                Rule::require_quorum => {
                    rule.require_approval = Some(Spanned::new(true, part_span));
                    if let Some(q) = part.into_inner().next() {
                        self.quorum(q, &mut rule.gate);
                    }
                }
                Rule::require_from => {
                    rule.require_approval = Some(Spanned::new(true, part_span));
                    if let Some(list) = part.into_inner().next() {
                        rule.gate.approvers = Some(self.approvers(list));
                    }
                }
                Rule::require_bare => {
                    self.diagnostics.push(words::bare_require(part_span));
                    rule.require_approval = Some(Spanned::new(true, part_span));
                }
                Rule::allow => rule.require_approval = Some(Spanned::new(false, part_span)),
                Rule::auto_approve => {}
                Rule::priority => {
                    let p = self.priority(part);
                    if let Some(p) = &p {
                        self.diagnostics
                            .extend(words::once(&rule.priority, "priority", p.span));
                    }
                    rule.priority = p;
                }
                _ => self.option(part, &mut rule.gate),
            }
        }
        rule
    }

    fn chain(&mut self, pair: Pair<'_, Rule>) -> Spanned<Vec<ChainStep>> {
        let span = self.span_of(&pair);
        let steps = pair
            .into_inner()
            .map(|step| {
                let s = self.span_of(&step);
                self.watch(s, |b| b.step(step))
            })
            .collect();
        Spanned::new(steps, span)
    }

    fn step(&mut self, pair: Pair<'_, Rule>) -> ChainStep {
        let span = self.span_of(&pair);
        let mut step = ChainStep {
            name: Spanned::new(String::new(), span),
            gate: Gate::default(),
            span: span.into(),
        };
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::string => {
                    let (name, blank) = words::step_name(part.as_str(), self.span_of(&part));
                    step.name = name;
                    self.diagnostics.extend(blank);
                }
                Rule::quorum => self.quorum(part, &mut step.gate),
                Rule::approval_from => {
                    if let Some(list) = part.into_inner().next() {
                        step.gate.approvers = Some(self.approvers(list));
                    }
                }
                Rule::priority => {
                    if let Some(word) = part.into_inner().next() {
                        let span = self.span_of(&word);
                        self.diagnostics.push(words::priority_on_step(span));
                    }
                }
                _ => self.option(part, &mut step.gate),
            }
        }
        step
    }

    fn escalation_rule(&mut self, pair: Pair<'_, Rule>) -> EscalationRule {
        let span = self.span_of(&pair);
        let mut rule = EscalationRule {
            id: None,
            match_action: None,
            match_resource: None,
            confidence_range: None,
            outcome: Spanned::new(Outcome::Deny, span),
            priority: None,
            gate: Gate::default(),
            adapt: None,
            span: span.into(),
        };
        for part in pair.into_inner() {
            let part_span = self.span_of(&part);
            match part.as_rule() {
                Rule::rule_id => rule.id = Some(Spanned::new(text_of(&part), part_span)),
                Rule::match_clause => {
                    let mut globs = part.into_inner();
                    match globs.next() {
                        Some(p) if p.as_rule() == Rule::resource_only => {
                            if let Some(g) = p.into_inner().find(|g| g.as_rule() == Rule::glob) {
                                rule.match_resource = self.glob(&g);
                            }
                        }
                        Some(action) => {
                            rule.match_action = self.glob(&action);
                            if let Some(resource) = globs.find(|g| g.as_rule() == Rule::glob) {
                                rule.match_resource = self.glob(&resource);
                            }
                        }
                        None => {}
                    }
                }
                Rule::band => rule.confidence_range = self.band(part),
                Rule::outcome => {
                    if let Some(o) = self.outcome(&part) {
                        rule.outcome = o;
                    }
                }
                Rule::approver_clause => self.approver_clause(part, &mut rule.gate),
                Rule::priority => {
                    let p = self.priority(part);
                    if let Some(p) = &p {
                        self.diagnostics
                            .extend(words::once(&rule.priority, "priority", p.span));
                    }
                    rule.priority = p;
                }
                Rule::adapt => {
                    let block = self.adapt(part);
                    if let Some(earlier) = &rule.adapt {
                        self.diagnostics
                            .push(words::duplicate_adapt(*earlier.span, *block.span));
                    }
                    rule.adapt = Some(block);
                }
                _ => self.option(part, &mut rule.gate),
            }
        }
        rule
    }

    fn adapt(&mut self, pair: Pair<'_, Rule>) -> crate::ir::Adapt {
        let span = self.span_of(&pair);
        let mut reader = words::AdaptReader::new();
        for item in pair.into_inner() {
            match item.as_rule() {
                Rule::adapt_approvers => {
                    if let Some(list) = item
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::approver_list)
                    {
                        let list = self.approvers(list);
                        reader.approvers(list);
                    }
                }
                Rule::adapt_setting => {
                    let mut parts = item.into_inner();
                    if let (Some(key), Some(value)) = (parts.next(), parts.next()) {
                        let value_span = self.span_of(&value);
                        if let Some(d) = reader.setting(key.as_str(), value.as_str(), value_span) {
                            self.diagnostics.push(d);
                        }
                    }
                }
                _ => {}
            }
        }
        reader.finish(span)
    }

    fn band(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<ConfidenceRange>> {
        let span = self.span_of(&pair);
        let close = pair
            .clone()
            .into_inner()
            .find(|p| p.as_rule() == Rule::band_close && p.as_str() == "]");
        let mut numbers = pair.into_inner().filter(|p| p.as_rule() == Rule::number);
        let (lo, hi) = (numbers.next()?, numbers.next()?);
        let number = |p: &Pair<'_, Rule>| words::number(p.as_str(), self.span_of(p));
        match (number(&lo), number(&hi)) {
            (Some(lo), Some(hi)) => {
                let closed_below_one = close.filter(|_| hi.node < 1.0).map(|c| self.span_of(&c));
                Some(Spanned::new(
                    ConfidenceRange {
                        lo,
                        hi,
                        closed_below_one: Cosmetic(closed_below_one),
                    },
                    span,
                ))
            }
            _ => None,
        }
    }

    /// `N of [..]`, `from [..]` or `to [..]`.
    fn approver_clause(&mut self, pair: Pair<'_, Rule>, gate: &mut Gate) {
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::quorum => self.quorum(part, gate),
                Rule::approver_list => gate.approvers = Some(self.approvers(part)),
                _ => {}
            }
        }
    }

    fn quorum(&mut self, pair: Pair<'_, Rule>, gate: &mut Gate) {
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::integer => {
                    let span = self.span_of(&part);
                    if let Some(n) = self.read(words::min_approvals(part.as_str(), span)) {
                        gate.min_approvals = Some(n);
                    }
                }
                Rule::approver_list => gate.approvers = Some(self.approvers(part)),
                _ => {}
            }
        }
    }

    fn option(&mut self, pair: Pair<'_, Rule>, gate: &mut Gate) {
        let span = self.span_of(&pair);
        match pair.as_rule() {
            Rule::notify => {
                if let Some(list) = pair.into_inner().next() {
                    let channels = list
                        .into_inner()
                        .map(|c| Spanned::new(text_of(&c), self.span_of(&c)))
                        .collect();
                    self.diagnostics
                        .extend(words::once(&gate.notify_via, "notify", span));
                    gate.notify_via = Some(Spanned::new(channels, span));
                }
            }
            Rule::timeout => {
                let d = pair.into_inner().next().and_then(|d| self.duration(&d));
                if let Some(d) = &d {
                    self.diagnostics
                        .extend(words::once(&gate.timeout, "timeout", d.span));
                }
                gate.timeout = d;
            }
            Rule::remind_every => {
                let d = pair.into_inner().next().and_then(|d| self.duration(&d));
                if let Some(d) = &d {
                    self.diagnostics.extend(words::once(
                        &gate.remind_every,
                        "remind every",
                        d.span,
                    ));
                }
                gate.remind_every = d;
            }
            Rule::on_timeout => {
                let Some(choice) = pair.into_inner().next() else {
                    return;
                };
                let choice_span = self.span_of(&choice);
                self.diagnostics
                    .extend(words::once(&gate.on_timeout, "on timeout", choice_span));
                match choice.as_rule() {
                    Rule::on_timeout_escalate => {
                        gate.on_timeout = Some(Spanned::new(OnTimeout::Escalate, choice_span));
                        if let Some(list) = choice.into_inner().next() {
                            gate.escalate_to = Some(self.approvers(list));
                        }
                    }
                    _ => gate.on_timeout = Some(Spanned::new(OnTimeout::Reject, choice_span)),
                }
            }
            _ => {}
        }
    }

    fn priority(&mut self, pair: Pair<'_, Rule>) -> Option<Spanned<Priority>> {
        let word = pair.into_inner().next()?;
        let span = self.span_of(&word);
        self.read(words::priority(word.as_str(), span))
    }

    fn outcome(&mut self, pair: &Pair<'_, Rule>) -> Option<Spanned<Outcome>> {
        words::outcome(pair.as_str(), self.span_of(pair))
    }

    fn duration(&mut self, pair: &Pair<'_, Rule>) -> Option<Spanned<Duration>> {
        let span = self.span_of(pair);
        self.read(words::duration(pair.as_str(), span))
    }

    fn glob(&mut self, pair: &Pair<'_, Rule>) -> Option<Spanned<Glob>> {
        let span = self.span_of(pair);
        self.read(words::glob(pair.as_str(), span))
    }

    fn approvers(&mut self, list: Pair<'_, Rule>) -> Spanned<Vec<Spanned<crate::ir::Approver>>> {
        let span = self.span_of(&list);
        let items = list
            .into_inner()
            .filter_map(|item| {
                let item_span = self.span_of(&item);
                self.read(words::approver(item.as_str(), item_span))
            })
            .collect();
        Spanned::new(items, span)
    }
}
