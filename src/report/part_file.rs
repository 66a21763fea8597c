//! `part-<K>-of-<N>.csv`: one shard's results (see
//! [`crate::experiment::part`]), written all or nothing like every report.

use std::io::{self, Write};

use super::Exporter;
use crate::experiment::Item;
use crate::experiment::part::{RunIdentity, write_part};
use crate::model::Replication;

/// One shard's results and the run they belong to.
pub struct ShardResults {
    /// The run.
    pub identity: RunIdentity,
    /// The shard, from 0.
    pub shard: u32,
    /// Its work items and their results.
    pub results: Vec<(Item, Replication)>,
}

/// The part file of shard `shard` of `count`: `part-<shard>-of-<count>.csv`.
pub struct PartFile {
    /// The shard, from 0.
    pub shard: u32,
    /// How many shards.
    pub count: u32,
}

impl Exporter<ShardResults> for PartFile {
    fn file_name(&self) -> String {
        format!("part-{}-of-{}.csv", self.shard, self.count)
    }

    fn write(&self, shard: &ShardResults, out: &mut dyn Write) -> io::Result<()> {
        write_part(out, &shard.identity, shard.shard, &shard.results)
    }
}
