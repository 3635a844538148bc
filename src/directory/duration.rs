//! Durations written the way operators write them: `30s`, `5m`, `2h`,
//! `1h30m`, `1d`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole number of seconds, at least one, written as a sum of
/// `<digits><unit>` terms with units `d`, `h`, `m`, `s` in that order, each at
/// most once (`90s`, `1m30s`, `2h`). It serialises back to its canonical
/// form (`90s` becomes `1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    pub fn from_secs(secs: u64) -> Self {
        HumanDuration(Duration::from_secs(secs))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }
}

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid =
            || format!("invalid duration '{text}': expected e.g. '30s', '5m', '2h' or '1h30m'");
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total: u64 = 0;
        // Index into UNITS of the next unit allowed: units go from the largest
        // to the smallest, each at most once.
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return Err(invalid());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            let unit = rest.chars().next().ok_or_else(invalid)?;
            let position = UNITS[next_unit..]
                .iter()
                .position(|(u, _)| *u == unit)
                .ok_or_else(invalid)?;
            let (_, seconds) = UNITS[next_unit + position];
            next_unit += position + 1;
            rest = &rest[unit.len_utf8()..];
            total = number
                .checked_mul(seconds)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(|| format!("duration '{text}' is too long"))?;
        }
        if total == 0 {
            return Err(format!("duration '{text}' must be longer than zero"));
        }
        Ok(HumanDuration::from_secs(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut left = self.0.as_secs();
        if left == 0 {
            return f.write_str("0s");
        }
        for (unit, seconds) in UNITS {
            if left >= seconds {
                write!(f, "{}{unit}", left / seconds)?;
                left %= seconds;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Result<u64, String> {
        text.parse::<HumanDuration>()
            .map(|d| d.as_duration().as_secs())
    }

    #[test]
    fn parses_single_and_compound_units() {
        assert_eq!(secs("30s"), Ok(30));
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("2h"), Ok(7_200));
        assert_eq!(secs("1d"), Ok(86_400));
        assert_eq!(secs("1h30m"), Ok(5_400));
        assert_eq!(secs("1m90s"), Ok(150));
    }

    #[test]
    fn rejects_malformed_durations() {
        for text in [
            "", "30", "s", "30x", "1.5m", "-5s", "30s1m", "1m1m", "30 s", "0s", "0m0s",
        ] {
            assert!(secs(text).is_err(), "{text:?} should be rejected");
        }
        assert!(secs("99999999999999999999s").is_err());
        assert!(
            secs("999999999999999999d")
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn displays_canonically_and_round_trips() {
        let d: HumanDuration = "90s".parse().unwrap();
        assert_eq!(d.to_string(), "1m30s");
        assert_eq!(HumanDuration::from_secs(93_784).to_string(), "1d2h3m4s");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, "\"1m30s\"");
        assert_eq!(serde_json::from_str::<HumanDuration>(&json).unwrap(), d);
    }
}
