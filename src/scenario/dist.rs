//! Distributions of durations and counts, as a scenario writes them
//! (`{ dist: lognormal, median: 30ms, p95: 120ms }`), and their samplers.

use rand::RngExt;
use rand_distr::{Distribution, Exp1, StandardNormal};
use schemars::{Schema, json_schema};
use serde::Deserialize;

use super::units::{Duration, named_schema, parse_duration};
use crate::sim::{RngStream, SimDuration, duration_from_secs};

/// The standard normal quantile at 0.95, to fit a lognormal to a median and a p95.
pub const Z95: f64 = 1.644_853_626_951_472_2;

/// A distribution of durations; a plain duration (`300ms`) is a constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DurationDist {
    /// Always `value`.
    Constant(Duration),
    /// Exponential with this mean.
    Exponential {
        /// The mean.
        mean: Duration,
    },
    /// Lognormal with this median and 95th percentile.
    Lognormal {
        /// The median.
        median: Duration,
        /// The 95th percentile.
        p95: Duration,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// The lower bound.
        min: Duration,
        /// The upper bound.
        max: Duration,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDurationDist {
    dist: String,
    value: Option<Duration>,
    mean: Option<Duration>,
    median: Option<Duration>,
    p95: Option<Duration>,
    min: Option<Duration>,
    max: Option<Duration>,
}

const DURATION_DIST_HELP: &str = "valid: { dist: constant, value: D } | { dist: exponential, mean: D } \
     | { dist: lognormal, median: D, p95: D } | { dist: uniform, min: D, max: D }";

fn need<T>(value: Option<T>, dist: &str, key: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("`dist: {dist}` needs `{key}`"))
}

/// Refuses keys given that `dist` does not use; `present` pairs each key
/// with whether it was given.
fn refuse_extra(dist: &str, present: &[(&str, bool)], allowed: &[&str]) -> Result<(), String> {
    match present
        .iter()
        .find(|(key, is_set)| *is_set && !allowed.contains(key))
    {
        Some((key, _)) => Err(format!("`{key}` does not apply to `dist: {dist}`")),
        None => Ok(()),
    }
}

impl<'de> Deserialize<'de> for DurationDist {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DistVisitor;
        impl<'de> serde::de::Visitor<'de> for DistVisitor {
            type Value = DurationDist;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "a duration such as 300ms (always that long) or a distribution; \
                     {DURATION_DIST_HELP}"
                )
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DurationDist, E> {
                parse_duration(text)
                    .map(DurationDist::Constant)
                    .map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<DurationDist, E> {
                match value {
                    0 => Ok(DurationDist::Constant(Duration(0))),
                    _ => Err(E::custom(format!(
                        "`{value}` has no unit: write a duration such as 300ms, or {DURATION_DIST_HELP}"
                    ))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<DurationDist, A::Error> {
                let raw = RawDurationDist::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                DurationDist::try_from(raw).map_err(serde::de::Error::custom)
            }
        }
        deserializer.deserialize_any(DistVisitor)
    }
}

/// One `{ dist: NAME, KEY: VALUE, ... }` choice of a distribution: `dist`
/// names it, `keys` are all required and of schema `value`.
fn tagged(name: &str, keys: &[&str], value: &Schema, description: &str) -> Schema {
    let mut properties = serde_json::Map::new();
    properties.insert("dist".into(), json_schema!({ "const": name }).into());
    for key in keys {
        properties.insert((*key).into(), value.clone().into());
    }
    let mut required = vec!["dist"];
    required.extend(keys);
    json_schema!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

named_schema!(DurationDist, {
    let duration = json_schema!({ "$ref": "#/$defs/Duration" });
    json_schema!({
        "description": format!("a duration (always that long) or a distribution; {DURATION_DIST_HELP}"),
        "anyOf": [
            duration,
            tagged("constant", &["value"], &duration, "always `value`"),
            tagged("exponential", &["mean"], &duration, "exponential with this mean"),
            tagged("lognormal", &["median", "p95"], &duration, "lognormal with this median and 95th percentile"),
            tagged("uniform", &["min", "max"], &duration, "uniform between `min` and `max`"),
        ],
    })
});

impl TryFrom<RawDurationDist> for DurationDist {
    type Error = String;

    fn try_from(raw: RawDurationDist) -> Result<Self, String> {
        let dist = raw.dist.as_str();
        let present = [
            ("value", raw.value.is_some()),
            ("mean", raw.mean.is_some()),
            ("median", raw.median.is_some()),
            ("p95", raw.p95.is_some()),
            ("min", raw.min.is_some()),
            ("max", raw.max.is_some()),
        ];
        let allowed: &[&str] = match dist {
            "constant" => &["value"],
            "exponential" => &["mean"],
            "lognormal" => &["median", "p95"],
            "uniform" => &["min", "max"],
            other => {
                return Err(format!(
                    "`{other}` is not a distribution of durations; {DURATION_DIST_HELP}"
                ));
            }
        };
        refuse_extra(dist, &present, allowed)?;
        Ok(match dist {
            "constant" => DurationDist::Constant(need(raw.value, dist, "value")?),
            "exponential" => DurationDist::Exponential {
                mean: need(raw.mean, dist, "mean")?,
            },
            "lognormal" => {
                let median = need(raw.median, dist, "median")?;
                let p95 = need(raw.p95, dist, "p95")?;
                if median.0 == 0 || p95 <= median {
                    return Err(format!(
                        "lognormal needs 0 < median < p95 (got median {median}, p95 {p95})"
                    ));
                }
                DurationDist::Lognormal { median, p95 }
            }
            _ => {
                let min = need(raw.min, dist, "min")?;
                let max = need(raw.max, dist, "max")?;
                if max < min {
                    return Err(format!("uniform needs min <= max (got {min} > {max})"));
                }
                DurationDist::Uniform { min, max }
            }
        })
    }
}

impl DurationDist {
    /// The mean, in seconds.
    pub fn mean_secs(&self) -> f64 {
        match *self {
            DurationDist::Constant(value) => value.secs(),
            DurationDist::Exponential { mean } => mean.secs(),
            DurationDist::Lognormal { median, p95 } => {
                let sigma = (p95.secs() / median.secs()).ln() / Z95;
                median.secs() * (sigma * sigma / 2.0).exp()
            }
            DurationDist::Uniform { min, max } => (min.secs() + max.secs()) / 2.0,
        }
    }

    /// A sampler with its parameters precomputed.
    pub fn sampler(&self) -> DurationSampler {
        match *self {
            DurationDist::Constant(value) => DurationSampler::Constant(value.nanos()),
            DurationDist::Exponential { mean } => {
                DurationSampler::Exponential { mean: mean.secs() }
            }
            DurationDist::Lognormal { median, p95 } => DurationSampler::Lognormal {
                mu: median.secs().ln(),
                sigma: (p95.secs() / median.secs()).ln() / Z95,
            },
            DurationDist::Uniform { min, max } => DurationSampler::Uniform {
                min: min.nanos(),
                max: max.nanos(),
            },
        }
    }
}

/// Draws durations from a [`DurationDist`].
#[derive(Clone, Copy, Debug)]
pub enum DurationSampler {
    /// Always this many nanoseconds.
    Constant(SimDuration),
    /// Exponential, mean in seconds.
    Exponential {
        /// Mean, seconds.
        mean: f64,
    },
    /// exp(mu + sigma Z), in seconds.
    Lognormal {
        /// Log-scale location.
        mu: f64,
        /// Log-scale spread.
        sigma: f64,
    },
    /// Uniform in nanoseconds.
    Uniform {
        /// Lower bound.
        min: SimDuration,
        /// Upper bound.
        max: SimDuration,
    },
}

impl DurationSampler {
    /// Draws one duration.
    #[inline(always)]
    pub fn sample(&self, rng: &mut RngStream) -> SimDuration {
        match *self {
            DurationSampler::Constant(value) => value,
            DurationSampler::Exponential { mean } => {
                let unit: f64 = Exp1.sample(rng);
                duration_from_secs(unit * mean)
            }
            DurationSampler::Lognormal { mu, sigma } => {
                let normal: f64 = StandardNormal.sample(rng);
                duration_from_secs((mu + sigma * normal).exp())
            }
            DurationSampler::Uniform { min, max } => {
                if max == min {
                    min
                } else {
                    rng.random_range(min..=max)
                }
            }
        }
    }
}

/// A distribution of counts (1 or more, or 0 or more for `constant`); a
/// plain number is a constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CountDist {
    /// Always `value`.
    Constant(u32),
    /// Geometric on 1, 2, 3, ... with this mean (at least 1).
    Geometric {
        /// The mean.
        mean: f64,
    },
    /// Uniform on the integers `min..=max`.
    Uniform {
        /// The lower bound.
        min: u32,
        /// The upper bound.
        max: u32,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCountDist {
    dist: String,
    value: Option<u32>,
    mean: Option<f64>,
    min: Option<u32>,
    max: Option<u32>,
}

const COUNT_DIST_HELP: &str = "valid: a whole number (always that many), \
     { dist: constant, value: N } | { dist: geometric, mean: N } (N >= 1) \
     | { dist: uniform, min: N, max: N }";

impl<'de> Deserialize<'de> for CountDist {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DistVisitor;
        impl<'de> serde::de::Visitor<'de> for DistVisitor {
            type Value = CountDist;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a count; {COUNT_DIST_HELP}")
            }
            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<CountDist, E> {
                u32::try_from(value)
                    .map(CountDist::Constant)
                    .map_err(|_| E::custom(format!("`{value}` is too large: at most {}", u32::MAX)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<CountDist, A::Error> {
                let raw =
                    RawCountDist::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                CountDist::try_from(raw).map_err(serde::de::Error::custom)
            }
        }
        deserializer.deserialize_any(DistVisitor)
    }
}

named_schema!(CountDist, {
    let count = json_schema!({ "type": "integer", "minimum": 0, "maximum": u32::MAX });
    json_schema!({
        "description": COUNT_DIST_HELP,
        "anyOf": [
            count,
            tagged("constant", &["value"], &count, "always `value`"),
            tagged(
                "geometric",
                &["mean"],
                &json_schema!({ "type": "number", "minimum": 1 }),
                "geometric on 1, 2, 3, ... with this mean",
            ),
            tagged("uniform", &["min", "max"], &count, "uniform on the whole numbers `min` to `max`"),
        ],
    })
});

impl TryFrom<RawCountDist> for CountDist {
    type Error = String;

    fn try_from(raw: RawCountDist) -> Result<Self, String> {
        let dist = raw.dist.as_str();
        let present = [
            ("value", raw.value.is_some()),
            ("mean", raw.mean.is_some()),
            ("min", raw.min.is_some()),
            ("max", raw.max.is_some()),
        ];
        let allowed: &[&str] = match dist {
            "constant" => &["value"],
            "geometric" => &["mean"],
            "uniform" => &["min", "max"],
            other => {
                return Err(format!(
                    "`{other}` is not a distribution of counts; {COUNT_DIST_HELP}"
                ));
            }
        };
        refuse_extra(dist, &present, allowed)?;
        Ok(match dist {
            "constant" => CountDist::Constant(need(raw.value, dist, "value")?),
            "geometric" => {
                let mean = need(raw.mean, dist, "mean")?;
                if !mean.is_finite() || mean < 1.0 {
                    return Err(format!("geometric needs mean >= 1 (got {mean})"));
                }
                CountDist::Geometric { mean }
            }
            _ => {
                let min = need(raw.min, dist, "min")?;
                let max = need(raw.max, dist, "max")?;
                if max < min {
                    return Err(format!("uniform needs min <= max (got {min} > {max})"));
                }
                CountDist::Uniform { min, max }
            }
        })
    }
}

impl CountDist {
    /// The mean.
    pub fn mean(&self) -> f64 {
        match *self {
            CountDist::Constant(value) => value as f64,
            CountDist::Geometric { mean } => mean,
            CountDist::Uniform { min, max } => (min as f64 + max as f64) / 2.0,
        }
    }

    /// Draws one count.
    #[inline(always)]
    pub fn sample(&self, rng: &mut RngStream) -> u32 {
        match *self {
            CountDist::Constant(value) => value,
            CountDist::Geometric { mean } => {
                if mean <= 1.0 {
                    return 1;
                }
                // Trials until the first success, success probability 1/mean,
                // by inversion: 1 + floor(ln U / ln(1 - p)).
                let p = 1.0 / mean;
                let uniform: f64 = 1.0 - rng.random::<f64>();
                let failures = (uniform.ln() / (1.0 - p).ln()).floor();
                1 + failures.min(u32::MAX as f64 - 1.0) as u32
            }
            CountDist::Uniform { min, max } => rng.random_range(min..=max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::stream;

    fn mean_of(samples: impl Iterator<Item = f64>) -> f64 {
        let (sum, n) = samples.fold((0.0, 0.0), |(s, n), x| (s + x, n + 1.0));
        sum / n
    }

    #[test]
    fn lognormal_matches_its_median_and_p95() {
        let dist = DurationDist::Lognormal {
            median: Duration(30_000_000),
            p95: Duration(120_000_000),
        };
        let sampler = dist.sampler();
        let mut rng = stream(1, &[1]);
        let mut draws: Vec<u64> = (0..200_000).map(|_| sampler.sample(&mut rng)).collect();
        draws.sort_unstable();
        let median = draws[100_000] as f64 / 1e6;
        let p95 = draws[190_000] as f64 / 1e6;
        assert!((median - 30.0).abs() < 0.5, "median {median}");
        assert!((p95 - 120.0).abs() < 3.0, "p95 {p95}");
    }

    #[test]
    fn geometric_mean() {
        let dist = CountDist::Geometric { mean: 12.0 };
        let mut rng = stream(2, &[2]);
        let mean = mean_of((0..200_000).map(|_| dist.sample(&mut rng) as f64));
        // Standard error of the mean: sqrt((1-p)/p^2 / n) = 0.025.
        assert!((mean - 12.0).abs() < 0.1, "mean {mean}");
    }
}
