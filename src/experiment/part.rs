//! Part files: the results of one shard of a run, so that shards can run as
//! separate processes (a Kubernetes Indexed Job, a Slurm job array) and
//! `capsim merge` can write the reports a single run would, byte for byte.
//!
//! A part is CSV records: a header naming the format, capsim's version, the
//! shard, the run (plain tiers or a sweep) and each scenario (its path, a
//! fingerprint of its parsed content, its seed); then per work item its
//! place and its typed results as one JSON field, and `end`. Numbers are
//! written in their shortest exact form and read back to the bit, so merged
//! reports equal a single run's. A last line, `digest,<SHA-256 of all
//! before it>`, lets `merge` refuse a part that was truncated, edited or
//! mixed with another: a guard against corruption and accidents, not
//! against someone who recomputes the digest.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use super::Item;
use crate::model::Replication;

/// The part format's version.
const FORMAT: &str = "3";

/// What starts a part's last line, before the digest of all above it.
const DIGEST: &str = "digest,";

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
    /// Its digest is missing or does not match its content.
    #[error("{0}")]
    Digest(&'static str),
    /// It is not a part, or is damaged.
    #[error("record {record}: {what}")]
    Malformed {
        /// The record (1-based).
        record: u64,
        /// What is wrong.
        what: String,
    },
}

/// Writes shard `shard` of the run `identity` with its results.
pub fn write_part(
    out: &mut dyn Write,
    identity: &RunIdentity,
    shard: u32,
    results: &[(Item, Replication)],
) -> io::Result<()> {
    let body = part_body(identity, shard, results)?;
    out.write_all(&body)?;
    writeln!(out, "{DIGEST}{}", hex_digest(&body))
}

/// The SHA-256 of `bytes`, in hexadecimal.
fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A part's records, up to and including `end`.
fn part_body(
    identity: &RunIdentity,
    shard: u32,
    results: &[(Item, Replication)],
) -> io::Result<Vec<u8>> {
    let mut csv = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
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
    for ((s, t, r), replication) in results {
        let json = serde_json::to_string(replication).map_err(io::Error::other)?;
        csv.write_record([
            "item".to_string(),
            s.to_string(),
            t.to_string(),
            r.to_string(),
            json,
        ])?;
    }
    csv.write_record(["end"])?;
    csv.into_inner().map_err(|error| error.into_error())
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
}

/// Reads a part, whose last line must be the digest of all before it.
pub fn read_part(mut input: impl Read) -> Result<Part, PartError> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|error| PartError::Read(error.into()))?;
    let body = checked_body(&bytes)?;
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
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
                let [s, t, r, json] = fields.as_slice() else {
                    return Err(records.malformed("`item` needs three numbers and its results"));
                };
                let item: Item = (
                    records.number(s, "scenario index")?,
                    records.number(t, "tier index")?,
                    records.number(r, "replication")?,
                );
                let replication = serde_json::from_str(json)
                    .map_err(|error| records.malformed(format!("its results: {error}")))?;
                results.push((item, replication));
            }
            Some("end") => {
                if records.reader.read_record(&mut records.record)? {
                    return Err(records.malformed("records follow `end`"));
                }
                break;
            }
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

/// The body of part `bytes`, if its last line is the digest of it.
fn checked_body(bytes: &[u8]) -> Result<&[u8], PartError> {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let start = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let (body, last) = bytes.split_at(start);
    let digest = std::str::from_utf8(last)
        .ok()
        .and_then(|line| line.trim_end().strip_prefix(DIGEST))
        .ok_or(PartError::Digest(
            "it does not end with its digest: it is incomplete, or not a part of this version",
        ))?;
    if digest != hex_digest(body) {
        return Err(PartError::Digest(
            "its digest does not match its content: it was changed or damaged after it was \
             written",
        ));
    }
    Ok(body)
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
