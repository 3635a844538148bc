//! Priority aging of a view: `1/10s`, one priority point per ten seconds of
//! waiting.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::HumanDuration;

/// `points` of priority gained per `per` of waiting, written
/// `<points>/<duration>` with the durations of steps (`1/10s`, `5/1m`). An
/// interaction's effective priority in the view is its priority plus
/// `points × waited / per`, counted from when it was submitted. It
/// serialises back to its canonical form (`2/90s` becomes `2/1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aging {
    /// At least 1.
    pub points: u32,
    pub per: HumanDuration,
}

impl FromStr for Aging {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some((points, per)) = text.split_once('/') else {
            return Err(format!(
                "invalid aging '{text}': expected <points>/<duration>, e.g. '1/10s' (one \
                 priority point per ten seconds of waiting)"
            ));
        };
        let points = points.trim();
        let points = points
            .parse::<u32>()
            .ok()
            .filter(|p| *p > 0 && points.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                format!(
                    "invalid aging '{text}': the points before '/' must be a whole number from 1 \
                     to {}",
                    u32::MAX
                )
            })?;
        let per = per
            .trim()
            .parse::<HumanDuration>()
            .map_err(|reason| format!("invalid aging '{text}': {reason}"))?;
        Ok(Aging { points, per })
    }
}

impl fmt::Display for Aging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.points, self.per)
    }
}

impl Serialize for Aging {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Aging {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<(u32, u64), String> {
        text.parse::<Aging>()
            .map(|a| (a.points, a.per.as_duration().as_secs()))
    }

    #[test]
    fn points_per_duration() {
        assert_eq!(parsed("1/10s"), Ok((1, 10)));
        assert_eq!(parsed("5/1m"), Ok((5, 60)));
        assert_eq!(parsed("2/1h30m"), Ok((2, 5_400)));
        assert_eq!(parsed(" 3 / 2m "), Ok((3, 120)));
    }

    #[test]
    fn rejects_what_is_not_points_per_duration() {
        for (text, says) in [
            ("10s", "expected <points>/<duration>"),
            ("", "expected <points>/<duration>"),
            (
                "0/10s",
                "the points before '/' must be a whole number from 1",
            ),
            (
                "-1/10s",
                "the points before '/' must be a whole number from 1",
            ),
            (
                "+1/10s",
                "the points before '/' must be a whole number from 1",
            ),
            (
                "1.5/10s",
                "the points before '/' must be a whole number from 1",
            ),
            (
                "/10s",
                "the points before '/' must be a whole number from 1",
            ),
            (
                "99999999999/10s",
                "the points before '/' must be a whole number from 1",
            ),
            ("1/0s", "duration '0s' must be longer than zero"),
            ("1/", "invalid duration ''"),
            ("1/10", "invalid duration '10'"),
            ("1/10s/2", "invalid duration '10s/2'"),
        ] {
            let error = parsed(text).unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
            assert!(
                error.starts_with(&format!("invalid aging '{text}'")),
                "{error}"
            );
        }
    }

    #[test]
    fn displays_canonically_and_round_trips() {
        let aging: Aging = "2/90s".parse().unwrap();
        assert_eq!(aging.to_string(), "2/1m30s");
        let json = serde_json::to_string(&aging).unwrap();
        assert_eq!(json, "\"2/1m30s\"");
        assert_eq!(serde_json::from_str::<Aging>(&json).unwrap(), aging);
        assert!(serde_json::from_str::<Aging>("\"0/1s\"").is_err());
    }
}
