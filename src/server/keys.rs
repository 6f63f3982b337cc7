//! The server's signing keys: one for email links, one for inbox sessions. The link key comes
//! from the environment variable `linkSecretEnv` names, when set; otherwise each key is made
//! once from the operating system's random source and kept in the store, so that a restarted
//! server (or a second node on the same store) checks what the first one signed.
//!
//! Everything signed here is HMAC-SHA256 over length-prefixed parts (so that `("ab", "c")` and
//! `("a", "bc")` never sign alike), checked in constant time.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::runtime::Runtime;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The fewest bytes a configured link secret may have.
pub const MIN_SECRET_BYTES: usize = 32;

/// One HMAC-SHA256 key.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Key {
        Key(bytes.into())
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The tag of `parts`.
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.mac(parts).finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of `parts`, compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(parts).verify_slice(tag).is_ok()
    }
}

/// HMAC-SHA256 of `message` under `key`, as other systems compute it (no length prefixes):
/// Slack's `v0:` request signatures, the webhook signature header.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Whether `tag` is HMAC-SHA256 of `message` under `key`, compared in constant time.
pub fn hmac_sha256_verify(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(message);
    mac.verify_slice(tag).is_ok()
}

/// The server's keys.
#[derive(Debug, Clone)]
pub struct Keys {
    /// Signs the approve/reject links of emails.
    pub links: Key,
    /// Signs inbox session cookies and their CSRF tokens.
    pub sessions: Key,
}

impl Keys {
    /// The keys of a server on `rt`'s store; `link_secret_env` names the environment variable
    /// of the link secret, when configured (unset or short: an error naming it).
    pub async fn load(rt: &Runtime, link_secret_env: Option<&str>) -> Result<Keys, String> {
        let links = match link_secret_env {
            Some(name) => Key::new(from_env(name)?),
            None => stored(rt, "links").await?,
        };
        Ok(Keys {
            links,
            sessions: stored(rt, "sessions").await?,
        })
    }
}

fn from_env(name: &str) -> Result<Vec<u8>, String> {
    let value = std::env::var(name).map_err(|_| {
        format!("linkSecretEnv: the environment variable `{name}` is not set (or not UTF-8)")
    })?;
    if value.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "linkSecretEnv: `{name}` holds {} bytes; a link secret needs at least {MIN_SECRET_BYTES}",
            value.len()
        ));
    }
    Ok(value.into_bytes())
}

async fn stored(rt: &Runtime, name: &str) -> Result<Key, String> {
    let mut candidate = vec![0u8; 32];
    getrandom::fill(&mut candidate).map_err(|e| format!("no random source for a key: {e}"))?;
    rt.store()
        .server_secret(name, candidate, rt.now())
        .await
        .map(Key::new)
        .map_err(|e| format!("the server's `{name}` key in the store: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_checks_only_for_its_own_parts_and_key() {
        let k = Key::new(b"k".repeat(32));
        let tag = k.sign(&[b"ab", b"c"]);
        assert!(k.verify(&[b"ab", b"c"], &tag));
        assert!(!k.verify(&[b"a", b"bc"], &tag), "parts are length-prefixed");
        assert!(!Key::new(b"j".repeat(32)).verify(&[b"ab", b"c"], &tag));
        assert!(!k.verify(&[b"ab", b"c"], &tag[..31]));
    }

    #[test]
    fn plain_hmac_matches_rfc_4231_case_2() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hmac_sha256_verify(
            b"Jefe",
            b"what do ya want for nothing?",
            &tag
        ));
    }
}
