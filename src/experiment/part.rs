//! Part files: the results of one shard of a run, so that shards can run as
//! separate processes (a Kubernetes Indexed Job, a Slurm job array) and
//! `capsim merge` can write the reports a single run would, byte for byte.
//!
//! A part is CSV records: a header naming the format, capsim's version, the
//! shard, the run (plain tiers or a sweep) and each scenario (its path, a
//! fingerprint of its parsed content, its seed); then per work item its
//! place, named values, routes and per-minute series. Numbers are written
//! as the hexadecimal bits of the f64, so they come back exactly.

use std::io::{self, Read, Write};

use super::Item;
use crate::model::{Replication, Values};

/// The part format's version.
const FORMAT: &str = "1";

/// What a part says about the run it belongs to; merged parts must agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunIdentity {
    /// capsim's version that wrote it.
    pub version: String,
    /// `run`, or `sweep LOW HIGH POINTS`.
    pub mode: Vec<String>,
    /// Replications per tier when `--replications` was given.
    pub replications: Option<u32>,
    /// Per scenario: path, name, seed, fingerprint.
    pub scenarios: Vec<ScenarioIdentity>,
    /// How many shards the run was cut into.
    pub count: u32,
}

/// One scenario of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioIdentity {
    /// The file, as given on the command line.
    pub path: String,
    /// Its name.
    pub name: String,
    /// The root seed used.
    pub seed: u64,
    /// A hash of the parsed scenario and its tiers' stacks.
    pub fingerprint: u64,
}

/// FNV-1a, 64 bits: a stable hash of `text` (the same on every machine).
pub fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Problems reading a part.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    /// The file could not be read.
    #[error("cannot read it: {0}")]
    Read(#[from] csv::Error),
    /// It is not a part, or is damaged.
    #[error("record {record}: {what}")]
    Malformed {
        /// The record (1-based).
        record: u64,
        /// What is wrong.
        what: String,
    },
}

fn bits(value: f64) -> String {
    format!("{:016x}", value.to_bits())
}

/// Writes shard `shard` of the run `identity` with its results.
pub fn write_part(
    out: &mut dyn Write,
    identity: &RunIdentity,
    shard: u32,
    results: &[(Item, Replication)],
) -> io::Result<()> {
    let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(out);
    csv.write_record(["capsim-part", FORMAT, &identity.version])?;
    let replications = identity
        .replications
        .map_or(String::new(), |r| r.to_string());
    csv.write_record([
        "shard".to_string(),
        shard.to_string(),
        identity.count.to_string(),
        replications,
    ])?;
    let mut mode = vec!["mode".to_string()];
    mode.extend(identity.mode.iter().cloned());
    csv.write_record(&mode)?;
    for scenario in &identity.scenarios {
        csv.write_record([
            "scenario".to_string(),
            scenario.path.clone(),
            scenario.name.clone(),
            scenario.seed.to_string(),
            format!("{:016x}", scenario.fingerprint),
        ])?;
    }
    let named = |tag: &str, values: &Values| {
        let mut record = vec![tag.to_string()];
        for (name, value) in values.names().iter().zip(values.values()) {
            record.push(name.clone());
            record.push(bits(*value));
        }
        record
    };
    for ((s, t, r), replication) in results {
        csv.write_record([
            "item".to_string(),
            s.to_string(),
            t.to_string(),
            r.to_string(),
            replication.first_minute.to_string(),
            replication.routes.len().to_string(),
        ])?;
        csv.write_record(named("values", &replication.values))?;
        for route in &replication.routes {
            csv.write_record(named("route", route))?;
        }
        let mut fields = vec!["fields".to_string()];
        fields.extend(replication.minute_fields.iter().cloned());
        csv.write_record(&fields)?;
        let mut minutes = vec!["minutes".to_string()];
        minutes.extend(replication.minutes.iter().map(|v| bits(*v)));
        csv.write_record(&minutes)?;
    }
    csv.write_record(["end"])?;
    csv.flush()
}

/// A part read back.
#[derive(Debug)]
pub struct Part {
    /// The run it belongs to.
    pub identity: RunIdentity,
    /// Its shard.
    pub shard: u32,
    /// Its work items and results.
    pub results: Vec<(Item, Replication)>,
}

/// Reads records one by one, knowing where it is.
struct Records<R: Read> {
    reader: csv::Reader<R>,
    record: csv::StringRecord,
    number: u64,
}

impl<R: Read> Records<R> {
    fn malformed(&self, what: impl Into<String>) -> PartError {
        PartError::Malformed {
            record: self.number,
            what: what.into(),
        }
    }

    /// The next record, which must start with `tag`; its other fields.
    fn next(&mut self, tag: &str) -> Result<Vec<String>, PartError> {
        if !self.reader.read_record(&mut self.record)? {
            return Err(self.malformed(format!("the file ends before `{tag}`: it is incomplete")));
        }
        self.number += 1;
        if self.record.get(0) != Some(tag) {
            return Err(self.malformed(format!(
                "expected `{tag}`, found `{}`",
                self.record.get(0).unwrap_or("")
            )));
        }
        Ok(self.record.iter().skip(1).map(String::from).collect())
    }

    fn number<T: std::str::FromStr>(&self, text: &str, what: &str) -> Result<T, PartError> {
        text.parse()
            .map_err(|_| self.malformed(format!("`{text}` is not a valid {what}")))
    }

    fn float(&self, text: &str) -> Result<f64, PartError> {
        u64::from_str_radix(text, 16)
            .map(f64::from_bits)
            .map_err(|_| self.malformed(format!("`{text}` is not a number's bits")))
    }

    fn values(&self, fields: &[String]) -> Result<Values, PartError> {
        if !fields.len().is_multiple_of(2) {
            return Err(self.malformed("a name without a value"));
        }
        let mut values = Values::default();
        for pair in fields.chunks(2) {
            values.push(pair[0].clone(), self.float(&pair[1])?);
        }
        Ok(values)
    }
}

/// Reads a part.
pub fn read_part(input: impl Read) -> Result<Part, PartError> {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut records = Records {
        reader,
        record: csv::StringRecord::new(),
        number: 0,
    };
    let header = records.next("capsim-part")?;
    if header.first().map(String::as_str) != Some(FORMAT) {
        return Err(records.malformed("not a part of this format"));
    }
    let version = header.get(1).cloned().unwrap_or_default();
    let shard_fields = records.next("shard")?;
    let [shard, count, replications] = shard_fields.as_slice() else {
        return Err(records.malformed("`shard` needs an index, a count and replications"));
    };
    let shard: u32 = records.number(shard, "shard index")?;
    let count: u32 = records.number(count, "shard count")?;
    let replications = if replications.is_empty() {
        None
    } else {
        Some(records.number(replications, "replication count")?)
    };
    let mode = records.next("mode")?;
    let mut scenarios = Vec::new();
    let mut results = Vec::new();
    loop {
        if !records.reader.read_record(&mut records.record)? {
            return Err(records.malformed("the file ends without `end`: it is incomplete"));
        }
        records.number += 1;
        let fields: Vec<String> = records.record.iter().skip(1).map(String::from).collect();
        match records.record.get(0) {
            Some("scenario") => {
                let [path, name, seed, fingerprint] = fields.as_slice() else {
                    return Err(
                        records.malformed("`scenario` needs a path, name, seed and fingerprint")
                    );
                };
                scenarios.push(ScenarioIdentity {
                    path: path.clone(),
                    name: name.clone(),
                    seed: records.number(seed, "seed")?,
                    fingerprint: u64::from_str_radix(fingerprint, 16)
                        .map_err(|_| records.malformed("a bad fingerprint"))?,
                });
            }
            Some("item") => {
                let [s, t, r, first_minute, routes] = fields.as_slice() else {
                    return Err(records.malformed("`item` needs five numbers"));
                };
                let item: Item = (
                    records.number(s, "scenario index")?,
                    records.number(t, "tier index")?,
                    records.number(r, "replication")?,
                );
                let first_minute = records.number(first_minute, "minute")?;
                let route_count: usize = records.number(routes, "route count")?;
                let values_fields = records.next("values")?;
                let values = records.values(&values_fields)?;
                let mut routes = Vec::with_capacity(route_count);
                for _ in 0..route_count {
                    let route_fields = records.next("route")?;
                    routes.push(records.values(&route_fields)?);
                }
                let minute_fields = records.next("fields")?;
                let minute_values = records.next("minutes")?;
                let minutes = minute_values
                    .iter()
                    .map(|bits| records.float(bits))
                    .collect::<Result<Vec<f64>, _>>()?;
                results.push((
                    item,
                    Replication {
                        values,
                        routes,
                        minute_fields,
                        minutes,
                        first_minute,
                    },
                ));
            }
            Some("end") => break,
            other => {
                return Err(
                    records.malformed(format!("unexpected record `{}`", other.unwrap_or("")))
                );
            }
        }
    }
    Ok(Part {
        identity: RunIdentity {
            version,
            mode,
            replications,
            scenarios,
            count,
        },
        shard,
        results,
    })
}

/// Why part files do not make one run.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Two parts disagree on the run.
    #[error(
        "{first} and {other} come from different runs (another scenario, seed, version, \
         replications or shard count): merge the parts of one run"
    )]
    DifferentRuns {
        /// The first part's file.
        first: String,
        /// The disagreeing part's file.
        other: String,
    },
    /// No part has this shard.
    #[error("shard {shard} of {count} is missing")]
    Missing {
        /// The shard.
        shard: u32,
        /// The run's shard count.
        count: u32,
    },
    /// Several parts have this shard.
    #[error("shard {shard} of {count} is given twice: {files}")]
    Duplicated {
        /// The shard.
        shard: u32,
        /// The run's shard count.
        count: u32,
        /// The files that have it.
        files: String,
    },
    /// A part's shard is past the count.
    #[error("{file}: shard {shard} of only {count}")]
    OutOfRange {
        /// The part's file.
        file: String,
        /// Its shard.
        shard: u32,
        /// The run's shard count.
        count: u32,
    },
    /// Another capsim wrote the parts.
    #[error("the parts were made by capsim {made}, this is {this}: merge with the same version")]
    Version {
        /// The version that wrote them.
        made: String,
        /// This version.
        this: &'static str,
    },
}

/// Checks that `parts`, each with its file's name, are every shard of one
/// run exactly once, written by this version of capsim; returns that run.
pub fn check_parts(parts: &[(String, Part)]) -> Result<&RunIdentity, MergeError> {
    let (first_file, first) = parts
        .first()
        .ok_or(MergeError::Missing { shard: 0, count: 1 })?;
    let identity = &first.identity;
    if let Some((file, _)) = parts.iter().find(|(_, p)| p.identity != *identity) {
        return Err(MergeError::DifferentRuns {
            first: first_file.clone(),
            other: file.clone(),
        });
    }
    let count = identity.count;
    for shard in 0..count {
        let files: Vec<&str> = parts
            .iter()
            .filter(|(_, p)| p.shard == shard)
            .map(|(file, _)| file.as_str())
            .collect();
        match files.len() {
            0 => return Err(MergeError::Missing { shard, count }),
            1 => {}
            _ => {
                return Err(MergeError::Duplicated {
                    shard,
                    count,
                    files: files.join(", "),
                });
            }
        }
    }
    if let Some((file, part)) = parts.iter().find(|(_, p)| p.shard >= count) {
        return Err(MergeError::OutOfRange {
            file: file.clone(),
            shard: part.shard,
            count,
        });
    }
    let this = env!("CARGO_PKG_VERSION");
    if identity.version != this {
        return Err(MergeError::Version {
            made: identity.version.clone(),
            this,
        });
    }
    Ok(identity)
}
