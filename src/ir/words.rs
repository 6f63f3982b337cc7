//! The small vocabularies of a policy: outcomes, priorities, principals, durations.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// What a decision tells the agent, from loosest to strictest (spec section 4): the derived
/// `Ord` is the strictness order the stages are combined by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    AutoApprove,
    NotifyAndProceed,
    RequestApproval,
    Escalate,
    Deny,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::AutoApprove,
        Outcome::NotifyAndProceed,
        Outcome::RequestApproval,
        Outcome::Escalate,
        Outcome::Deny,
    ];
    pub const NAMES: [&'static str; 5] = [
        "auto-approve",
        "notify-and-proceed",
        "request-approval",
        "escalate",
        "deny",
    ];

    pub fn as_str(self) -> &'static str {
        Outcome::NAMES[self as usize]
    }

    /// True exactly for the outcomes that let the agent go ahead.
    pub fn is_approved(self) -> bool {
        matches!(self, Outcome::AutoApprove | Outcome::NotifyAndProceed)
    }

    /// True for the outcomes that wait for a human, and so need someone to ask.
    pub fn needs_approvers(self) -> bool {
        matches!(self, Outcome::RequestApproval | Outcome::Escalate)
    }
}

impl FromStr for Outcome {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Outcome::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Outcome::ALL[i])
            .ok_or(())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How urgent an approval request is, for the people who receive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Low,
    Normal,
    High,
    Critical,
}

impl Priority {
    pub const NAMES: [&'static str; 4] = ["low", "normal", "high", "critical"];
    const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        Priority::NAMES[self as usize]
    }
}

impl FromStr for Priority {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Priority::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Priority::ALL[i])
            .ok_or(())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Priority {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What happens when a gate's timeout passes (spec section 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnTimeout {
    #[default]
    Reject,
    Escalate,
}

impl OnTimeout {
    pub const NAMES: [&'static str; 2] = ["reject", "escalate"];

    pub fn as_str(self) -> &'static str {
        match self {
            OnTimeout::Reject => "reject",
            OnTimeout::Escalate => "escalate",
        }
    }
}

impl FromStr for OnTimeout {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "reject" => Ok(OnTimeout::Reject),
            "escalate" => Ok(OnTimeout::Escalate),
            _ => Err(()),
        }
    }
}

impl fmt::Display for OnTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OnTimeout {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A `kind:name` principal such as `user:adam` or `team:sre`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal(String);

impl Principal {
    /// Parses `kind:name`: both parts non-empty, no whitespace, and `group` is not a kind
    /// (it names a group reference, see [`crate::ir::Approver`]).
    pub fn parse(text: &str) -> Option<Principal> {
        let (kind, name) = text.split_once(':')?;
        let word =
            |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        let kind_ok = word(kind)
            && kind
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        (kind_ok && word(name) && kind != "group").then(|| Principal(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> &str {
        self.0.split_once(':').map_or("", |(k, _)| k)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A span of time in whole milliseconds. Written as an integer number of milliseconds or as a
/// number with one unit: `500ms`, `30s`, `5m`, `1h`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Duration(pub u64);

impl Duration {
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Parses the string form. The error says what is wrong.
    pub fn parse(text: &str) -> Result<Duration, &'static str> {
        let text = text.trim();
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(digits_end);
        if number.is_empty() {
            return Err("it must start with a whole number");
        }
        let factor: u64 = match unit {
            "" | "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err("the unit must be one of ms, s, m, h, d"),
        };
        let n: u64 = number.parse().map_err(|_| "the number is too large")?;
        let ms = n.checked_mul(factor).ok_or("the duration is too large")?;
        if ms == 0 {
            return Err("a duration must be longer than zero");
        }
        Ok(Duration(ms))
    }
}

impl fmt::Display for Duration {
    /// The shortest exact form, so `3600000` prints as `1h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        for (unit, factor) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if ms.is_multiple_of(factor) {
                return write!(f, "{}{unit}", ms / factor);
            }
        }
        write!(f, "{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("500ms"), Ok(Duration(500)));
        assert_eq!(Duration::parse("1h"), Ok(Duration(3_600_000)));
        assert_eq!(Duration::parse("2d"), Ok(Duration(172_800_000)));
        assert!(Duration::parse("1w").is_err());
        assert!(Duration::parse("h").is_err());
        assert!(Duration::parse("0s").is_err());
        assert!(Duration::parse("99999999999999999999d").is_err());
        assert_eq!(Duration(3_600_000).to_string(), "1h");
        assert_eq!(Duration(1500).to_string(), "1500ms");
    }

    #[test]
    fn principals() {
        assert!(Principal::parse("user:adam").is_some());
        assert!(Principal::parse("adam").is_none());
        assert!(Principal::parse("user:").is_none());
        assert!(Principal::parse(":adam").is_none());
        assert!(Principal::parse("user:a b").is_none());
        assert!(Principal::parse("group:x").is_none());
    }

    #[test]
    fn strictness_order() {
        assert!(Outcome::AutoApprove < Outcome::NotifyAndProceed);
        assert!(Outcome::RequestApproval < Outcome::Escalate);
        assert!(Outcome::Escalate < Outcome::Deny);
        assert_eq!("escalate".parse(), Ok(Outcome::Escalate));
    }
}
