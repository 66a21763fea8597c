//! Value types of the scenario format: durations ("250ms", "10m"), rates
//! ("300/min", "1000/10s"), shares ("30%" or 0.3) and sizes ("512MB").
//!
//! Each parses and checks itself while the YAML is read, so a bad value is
//! reported at its own line and column.

use std::fmt;

use schemars::{Schema, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::sim::{NANOS_PER_SEC, SimDuration};

/// Whether `value` is finite and 0 or more: `-0` is not, since a rate or
/// weight of -0 divides into -infinity.
pub fn is_zero_or_more(value: f64) -> bool {
    value.is_finite() && value.is_sign_positive()
}

/// A non-negative span of time, held in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub SimDuration);

impl Duration {
    /// Nanoseconds.
    pub fn nanos(self) -> SimDuration {
        self.0
    }

    /// Seconds, as a float.
    pub fn secs(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// A duration of whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs * NANOS_PER_SEC)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.secs();
        if secs >= 86_400.0 && secs % 86_400.0 == 0.0 {
            write!(f, "{}d", secs / 86_400.0)
        } else if secs >= 3_600.0 && secs % 3_600.0 == 0.0 {
            write!(f, "{}h", secs / 3_600.0)
        } else if secs >= 60.0 && secs % 60.0 == 0.0 {
            write!(f, "{}m", secs / 60.0)
        } else if secs >= 1.0 {
            write!(f, "{secs}s")
        } else {
            write!(f, "{}ms", secs * 1_000.0)
        }
    }
}

const DURATION_UNITS: &[(&str, f64)] = &[
    ("ns", 1e-9),
    ("us", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("sec", 1.0),
    ("min", 60.0),
    ("m", 60.0),
    ("h", 3_600.0),
    ("d", 86_400.0),
];

const DURATION_HELP: &str =
    "a duration is a number and a unit: ns, us, ms, s, m (or min), h, d, e.g. \"250ms\", \"10m\"";

/// Splits "12.5ms" into (12.5, "ms").
fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == '_'))
        .unwrap_or(text.len());
    let number: f64 = text[..end].replace('_', "").parse().ok()?;
    Some((number, text[end..].trim()))
}

/// Parses a duration such as "250ms" or "1.5h".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) =
        split_number(text).ok_or_else(|| format!("`{text}` is not a duration: {DURATION_HELP}"))?;
    let scale = DURATION_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, scale)| *scale)
        .ok_or_else(|| format!("`{text}` has no known unit: {DURATION_HELP}"))?;
    if !is_zero_or_more(number) {
        return Err(format!("`{text}` is negative: durations must be 0 or more"));
    }
    let nanos = (number * scale * NANOS_PER_SEC as f64).round();
    if nanos > u64::MAX as f64 / 2.0 {
        return Err(format!("`{text}` is too long to simulate"));
    }
    Ok(Duration(nanos as u64))
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(DURATION_HELP)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
                parse_duration(text).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
                if value == 0 {
                    Ok(Duration(0))
                } else {
                    Err(E::custom(format!("`{value}` has no unit: {DURATION_HELP}")))
                }
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
                Err(E::custom(format!("`{value}` has no unit: {DURATION_HELP}")))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
                Err(E::custom(format!("`{value}` has no unit: {DURATION_HELP}")))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// A rate: `count` events per `per`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Events in one period.
    pub count: f64,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// Events per second.
    pub fn per_sec(self) -> f64 {
        self.count / self.per.secs()
    }
}

const RATE_HELP: &str =
    "a rate is a count, a slash and a period, e.g. \"9/s\", \"300/min\", \"1000/10s\"";

/// Parses "300/min" or "1000/10s".
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let (count, period) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a rate: {RATE_HELP}"))?;
    let count: f64 = count
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{text}` does not start with a count: {RATE_HELP}"))?;
    if !is_zero_or_more(count) {
        return Err(format!("`{text}` has a negative count: {RATE_HELP}"));
    }
    let period = period.trim();
    let starts_with_digit = period.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    let per = if starts_with_digit {
        parse_duration(period)
    } else {
        parse_duration(&format!("1{period}"))
    }
    .map_err(|_| format!("`{text}` has no valid period: {RATE_HELP}"))?;
    if per.0 == 0 {
        return Err(format!("`{text}` has a zero period: {RATE_HELP}"));
    }
    Ok(Rate { count, per })
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_rate(&text).map_err(de::Error::custom)
    }
}

/// A price or quantity: a finite number, 0 or more.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Amount(pub f64);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        if is_zero_or_more(value) {
            Ok(Amount(value))
        } else {
            Err(de::Error::custom(format!(
                "`{value}` is not an amount: a price or quantity is a finite number, 0 or more"
            )))
        }
    }
}

/// A count of 1 or more, such as seats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count(pub u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u32::deserialize(deserializer)? {
            0 => Err(de::Error::custom("must be 1 or more")),
            count => Ok(Count(count)),
        }
    }
}

/// An alert threshold as written: a plain number, a share ("1%") or a
/// duration ("3s"); which one an alert needs depends on its metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// A count or level.
    Number(f64),
    /// A share of a whole.
    Share(Share),
    /// A duration.
    Duration(Duration),
}

const THRESHOLD_HELP: &str =
    "a threshold is a number (50), a percentage (\"1%\") or a duration (\"3s\")";

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ThresholdVisitor;
        impl Visitor<'_> for ThresholdVisitor {
            type Value = Threshold;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(THRESHOLD_HELP)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Threshold, E> {
                if text.trim().ends_with('%') {
                    parse_share(text).map(Threshold::Share).map_err(E::custom)
                } else {
                    parse_duration(text)
                        .map(Threshold::Duration)
                        .map_err(|_| E::custom(format!("`{text}`: {THRESHOLD_HELP}")))
                }
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Threshold, E> {
                if is_zero_or_more(value) {
                    Ok(Threshold::Number(value))
                } else {
                    Err(E::custom(format!("`{value}`: {THRESHOLD_HELP}, 0 or more")))
                }
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Threshold, E> {
                Ok(Threshold::Number(value as f64))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Threshold, E> {
                self.visit_f64(value as f64)
            }
        }
        deserializer.deserialize_any(ThresholdVisitor)
    }
}

/// A share of a whole, between 0 and 1 inclusive.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Share(pub f64);

const SHARE_HELP: &str = "a share is a percentage (\"30%\") or a fraction from 0 to 1 (0.3)";

fn check_share(value: f64, text: &str) -> Result<Share, String> {
    if !is_zero_or_more(value) || value > 1.0 {
        return Err(format!("`{text}` is outside 0%..100%: {SHARE_HELP}"));
    }
    Ok(Share(value))
}

/// Parses "30%" or "0.3".
pub fn parse_share(text: &str) -> Result<Share, String> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    }
    .map_err(|_| format!("`{text}` is not a share: {SHARE_HELP}"))?;
    check_share(value, text)
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShareVisitor;
        impl Visitor<'_> for ShareVisitor {
            type Value = Share;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SHARE_HELP)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Share, E> {
                parse_share(text).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Share, E> {
                check_share(value, &value.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Share, E> {
                check_share(value as f64, &value.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Share, E> {
                check_share(value as f64, &value.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(ShareVisitor)
    }
}

/// A route's weight relative to the others': a number, or a percentage
/// ("40%" weighs as 0.4), so a mix written in percent reads as written.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Weight(pub f64);

const WEIGHT_HELP: &str = "a weight is a number of 0 or more, relative to the other routes' weights, or a percentage, e.g. 40 or \"40%\"";

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WeightVisitor;
        impl Visitor<'_> for WeightVisitor {
            type Value = Weight;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(WEIGHT_HELP)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Weight, E> {
                text.trim()
                    .strip_suffix('%')
                    .and_then(|percent| percent.trim().parse::<f64>().ok())
                    .map(|percent| Weight(percent / 100.0))
                    .ok_or_else(|| E::custom(format!("`{text}` is not a weight: {WEIGHT_HELP}")))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Weight, E> {
                Ok(Weight(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Weight, E> {
                Ok(Weight(value as f64))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Weight, E> {
                Ok(Weight(value as f64))
            }
        }
        deserializer.deserialize_any(WeightVisitor)
    }
}

/// A size in bytes; "KB", "MB", "GB" are powers of 1024, as memory sizes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Default)]
pub struct Size(pub u64);

impl Size {
    /// The size in GiB, the unit providers bill memory in.
    pub fn gigabytes(self) -> f64 {
        self.0 as f64 / (1u64 << 30) as f64
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = ["TB", "GB", "MB", "KB"]
            .into_iter()
            .zip([40, 30, 20, 10])
            .find(|(_, shift)| self.0 >= 1 << shift && self.0.is_multiple_of(1 << shift));
        match unit {
            Some((name, shift)) => write!(f, "{}{name}", self.0 >> shift),
            None => write!(f, "{}B", self.0),
        }
    }
}

const SIZE_HELP: &str = "a size is a number and a unit: B, KB, MB, GB, TB, e.g. \"512MB\"";

/// Parses "512MB" or "1GB".
pub fn parse_size(text: &str) -> Result<Size, String> {
    let (number, unit) =
        split_number(text).ok_or_else(|| format!("`{text}` is not a size: {SIZE_HELP}"))?;
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "B" => 1,
        "KB" | "KIB" => 1 << 10,
        "MB" | "MIB" => 1 << 20,
        "GB" | "GIB" => 1 << 30,
        "TB" | "TIB" => 1 << 40,
        _ => return Err(format!("`{text}` has no known unit: {SIZE_HELP}")),
    };
    if !is_zero_or_more(number) {
        return Err(format!("`{text}` is negative: sizes must be 0 or more"));
    }
    Ok(Size((number * scale as f64).round() as u64))
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_size(&text).map_err(de::Error::custom)
    }
}

/// The patterns below are what an editor checks as you type, the parsers
/// above what `check` enforces: each pattern accepts what its parser does
/// (the parser also checks ranges the pattern cannot, such as `0s` periods).
const NUMBER: &str = r"\+?([0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)";
const DURATION_UNIT: &str = "(ns|us|ms|s|sec|min|m|h|d)";

/// A JSON Schema for a value written as a string with a unit.
fn unit_string(description: &str, pattern: String, examples: &[&str]) -> Schema {
    json_schema!({
        "type": "string",
        "description": description,
        "pattern": pattern,
        "examples": examples,
    })
}

fn duration_pattern() -> String {
    format!(r"^\s*{NUMBER}\s*{DURATION_UNIT}\s*$")
}

/// A schema with a `name` for `$defs`: `$name` is the type, `$body` its schema.
macro_rules! named_schema {
    ($name:ty, $body:expr) => {
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                $body
            }
        }
    };
}
pub(crate) use named_schema;

named_schema!(
    Duration,
    json_schema!({
        "description": DURATION_HELP,
        "anyOf": [
            unit_string("a number and a unit", duration_pattern(), &["250ms", "10m"]),
            { "const": 0, "description": "0, the only duration without a unit" },
        ],
    })
);

named_schema!(
    Rate,
    unit_string(
        RATE_HELP,
        format!(r"^\s*{NUMBER}\s*/\s*({NUMBER}\s*)?{DURATION_UNIT}\s*$"),
        &["9/s", "300/min", "1000/10s"],
    )
);

named_schema!(
    Amount,
    json_schema!({
        "type": "number",
        "minimum": 0,
        "description": "a price (US dollars) or quantity: a number, 0 or more",
    })
);

named_schema!(
    Count,
    json_schema!({
        "type": "integer",
        "minimum": 1,
        "maximum": u32::MAX,
        "description": "a whole number, 1 or more",
    })
);

named_schema!(
    Threshold,
    json_schema!({
        "description": THRESHOLD_HELP,
        "anyOf": [
            { "type": "number", "minimum": 0 },
            Share::percentage(),
            unit_string("a duration", duration_pattern(), &["3s"]),
        ],
    })
);

named_schema!(
    Share,
    json_schema!({
        "description": SHARE_HELP,
        "anyOf": [
            { "type": "number", "minimum": 0, "maximum": 1 },
            Share::percentage(),
        ],
    })
);

impl Share {
    /// A percentage such as "30%" (its range, 0% to 100%, left to `check`).
    fn percentage() -> Schema {
        unit_string(
            "a percentage",
            format!(r"^\s*{NUMBER}\s*%\s*$"),
            &["30%", "0.5%"],
        )
    }
}

named_schema!(
    Weight,
    json_schema!({
        "description": WEIGHT_HELP,
        "anyOf": [{ "type": "number", "minimum": 0 }, Share::percentage()],
    })
);

named_schema!(
    Size,
    unit_string(
        SIZE_HELP,
        format!(r"^\s*{NUMBER}\s*([Bb]|[KkMmGgTt][Ii]?[Bb])\s*$"),
        &["512MB", "1GB"],
    )
);

named_schema!(
    UserCount,
    json_schema!({
        "description": USER_COUNT_HELP,
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            unit_string(
                "a number with k (thousands) or M (millions)",
                format!(r"^\s*{NUMBER}\s*[kKM]?\s*$"),
                &["50k", "1.5M"],
            ),
        ],
    })
);

/// Defaults are written into the schema as a scenario would write them.
impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_counts_take_thousands_and_millions() {
        assert_eq!(parse_user_count("50k"), Ok(UserCount(50_000)));
        assert_eq!(parse_user_count("1.5M"), Ok(UserCount(1_500_000)));
        assert_eq!(parse_user_count("5000"), Ok(UserCount(5_000)));
        for bad in ["1.5", "k", "-3k", "50 users", "0.5k5"] {
            let error = parse_user_count(bad).expect_err(bad);
            assert!(error.contains("is not a number of users: write"), "{error}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration(250_000_000));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5_400));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(2_592_000)
        );
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unit"));
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("9/s").unwrap().per_sec(), 9.0);
        assert_eq!(parse_rate("300/min").unwrap().per_sec(), 5.0);
        assert_eq!(parse_rate("1000/10s").unwrap().per_sec(), 100.0);
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("10/0s").is_err());
    }

    #[test]
    fn shares_and_sizes() {
        assert_eq!(parse_share("30%").unwrap(), Share(0.3));
        assert_eq!(parse_share("0.25").unwrap(), Share(0.25));
        assert!(parse_share("130%").is_err());
        assert_eq!(parse_size("1GB").unwrap().gigabytes(), 1.0);
        assert_eq!(parse_size("512MB").unwrap().0, 512 << 20);
        assert!(parse_size("12 furlongs").is_err());
    }
}

/// A number of users: a whole number, or with `k` (thousands) or `M`
/// (millions): `50k`, `1.5M`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserCount(pub u64);

const USER_COUNT_HELP: &str = "a whole number of users, such as 5000, 50k or 1.5M";

/// Parses `50k`, `1.5M` or `5000`.
pub fn parse_user_count(text: &str) -> Result<UserCount, String> {
    let invalid = || format!("`{text}` is not a number of users: write {USER_COUNT_HELP}");
    let trimmed = text.trim();
    let (number, scale) = match trimmed.strip_suffix(['k', 'K']) {
        Some(number) => (number, 1e3),
        None => match trimmed.strip_suffix('M') {
            Some(number) => (number, 1e6),
            None => (trimmed, 1.0),
        },
    };
    let value: f64 = number.trim().parse().map_err(|_| invalid())?;
    let users = value * scale;
    if !users.is_finite() || users < 0.0 || users.fract() != 0.0 || users > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(UserCount(users as u64))
}

impl<'de> Deserialize<'de> for UserCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UserCountVisitor;
        impl Visitor<'_> for UserCountVisitor {
            type Value = UserCount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(USER_COUNT_HELP)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<UserCount, E> {
                Ok(UserCount(value))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<UserCount, E> {
                Err(E::custom(format!(
                    "`{value}` is not a number of users: write {USER_COUNT_HELP}"
                )))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<UserCount, E> {
                Err(E::custom(format!(
                    "`{value}` is not a number of users: write {USER_COUNT_HELP}"
                )))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<UserCount, E> {
                parse_user_count(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(UserCountVisitor)
    }
}
