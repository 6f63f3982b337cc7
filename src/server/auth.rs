//! Who is calling (contract section 2): `Authorization: Bearer TOKEN`, looked up by the
//! token's SHA-256 among the configured hashes. The token itself is never stored; the lookup
//! compares the hash with every configured one, without stopping at a match, so that its time
//! says nothing about which entry (or which prefix) matched.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::ir::Principal;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Creates and drives its own executions; never votes.
    Agent,
    /// Reads and answers the requests it is listed on.
    Approver,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "agent" => Ok(Role::Agent),
            "approver" => Ok(Role::Approver),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("`{s}` is not a role; use agent, approver or admin")),
        }
    }
}

/// One configured token: its hash, and whom it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub principal: Principal,
    pub role: Role,
    pub sha256: [u8; 32],
}

/// The authenticated caller: what every handler is given instead of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<TokenEntry>,
}

impl Tokens {
    pub fn new(entries: Vec<TokenEntry>) -> Tokens {
        Tokens { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller a token stands for. Every entry is compared in full, match or not.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let hash = sha256(token.as_bytes());
        let mut found: Option<&TokenEntry> = None;
        for entry in &self.entries {
            if equal(&entry.sha256, &hash) {
                found = Some(entry);
            }
        }
        found.map(|e| Caller {
            principal: e.principal.clone(),
            role: e.role,
        })
    }

    /// Whether a token of `role` is still configured for `principal`: a session made from a
    /// token ends when its token is taken out of the configuration.
    pub fn holds(&self, principal: &Principal, role: Role) -> bool {
        self.entries
            .iter()
            .any(|e| &e.principal == principal && e.role == role)
    }

    /// The caller of an `Authorization` header's value, if it is a known bearer token.
    pub fn from_header(&self, value: &str) -> Option<Caller> {
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim();
        if token.is_empty() {
            return None;
        }
        self.authenticate(token)
    }
}

/// Compares two hashes in time independent of where they differ.
fn equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 hex digits, either case.
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A fresh token: 32 bytes from the operating system's random source, in hex, with a prefix
/// that says what it is when one turns up in a log or a repository.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| format!("cannot read the operating system's random source: {e}"))?;
    Ok(format!("rkl_{}", hex(&bytes)))
}

/// The configuration line that holds a token's hash.
pub fn config_line(principal: &Principal, role: Role, token: &str) -> String {
    format!(
        "  - {{principal: \"{principal}\", role: {role}, sha256: \"{}\"}}",
        hex(&sha256(token.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(p: &str, role: Role, token: &str) -> TokenEntry {
        TokenEntry {
            principal: Principal::parse(p).unwrap(),
            role,
            sha256: sha256(token.as_bytes()),
        }
    }

    #[test]
    fn tokens_are_found_by_their_hash_only() {
        let tokens = Tokens::new(vec![
            entry("agent:bot", Role::Agent, "a-token"),
            entry("user:adam", Role::Approver, "b-token"),
        ]);
        let adam = tokens.from_header("Bearer b-token").unwrap();
        assert_eq!(
            (adam.principal.as_str(), adam.role),
            ("user:adam", Role::Approver)
        );
        assert_eq!(
            tokens.from_header("bearer a-token").unwrap().role,
            Role::Agent
        );
        for bad in [
            "Bearer b-toke",
            "Bearer ",
            "Basic b-token",
            "b-token",
            "Bearer B-TOKEN",
        ] {
            assert!(tokens.from_header(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hashes_read_back_and_new_tokens_differ() {
        let t = new_token().unwrap();
        assert_eq!(t.len(), 4 + 64);
        assert_ne!(t, new_token().unwrap());
        let h = sha256(t.as_bytes());
        assert_eq!(parse_sha256(&hex(&h)), Some(h));
        assert_eq!(parse_sha256(&hex(&h).to_uppercase()), Some(h));
        assert_eq!(parse_sha256("abc"), None);
        assert_eq!(parse_sha256(&"g".repeat(64)), None);
        let line = config_line(&Principal::parse("user:adam").unwrap(), Role::Approver, &t);
        assert!(
            line.contains(&hex(&h)) && line.contains("role: approver"),
            "{line}"
        );
    }
}
