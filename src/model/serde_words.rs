//! Reading the policy's small words back from stored JSON. The policy side only writes them;
//! the runtime stores records that hold them and must read them again, refusing text that
//! is not a valid word (a corrupt record is an error, never a guess).

use serde::de::{Deserialize, Deserializer, Error};

use crate::ir::{Duration, OnTimeout, Outcome, Principal, Priority};

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Principal::parse(&text)
            .ok_or_else(|| D::Error::custom(format!("`{text}` is not a kind:name principal")))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(Duration)
    }
}

impl<'de> Deserialize<'de> for OnTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|()| D::Error::custom(format!("`{text}` is not reject or escalate")))
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|()| D::Error::custom(format!("`{text}` is not a priority")))
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|()| D::Error::custom(format!("`{text}` is not an outcome")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_bad_ones_are_refused() {
        let p: Principal = serde_json::from_str("\"user:adam\"").expect("a principal");
        assert_eq!(p.as_str(), "user:adam");
        let err = serde_json::from_str::<Principal>("\"adam\"").unwrap_err();
        assert!(
            err.to_string().contains("not a kind:name principal"),
            "{err}"
        );
        let o: Outcome = serde_json::from_str("\"escalate\"").expect("an outcome");
        assert_eq!(o, Outcome::Escalate);
        assert!(serde_json::from_str::<Priority>("\"urgent\"").is_err());
        assert_eq!(
            serde_json::from_str::<Duration>("3600000").expect("a duration"),
            Duration(3_600_000)
        );
    }
}
