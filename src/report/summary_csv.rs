//! `summary.csv`: one row per tier, the mean over replications of each
//! metric and its 95% confidence half-width.

use std::io::{self, Write};

use super::{Exporter, estimate_header, first_replications, push_estimate, union};
use crate::experiment::ScenarioRun;

/// The per-tier summary, under a file name (`summary.csv`, or `sweep.csv`
/// for a sweep's user counts).
pub struct SummaryCsv {
    file_name: &'static str,
}

impl SummaryCsv {
    /// The summary, written as `file_name`.
    pub fn named(file_name: &'static str) -> Self {
        Self { file_name }
    }
}

impl<'a> Exporter<ScenarioRun<'a>> for SummaryCsv {
    fn file_name(&self) -> String {
        self.file_name.into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        let names = union(first_replications(run).map(|r| r.values.names()));
        let mut header = vec!["tier".to_string(), "users".into(), "replications".into()];
        header.extend(estimate_header(names.iter().map(String::as_str)));
        csv.write_record(&header)?;
        for tier in &run.tiers {
            let mut row = vec![
                tier.name.clone(),
                tier.users.to_string(),
                tier.replications.len().to_string(),
            ];
            for name in &names {
                let values: Vec<f64> = tier.replications.iter().map(|r| r.value(name)).collect();
                push_estimate(&mut row, &values);
            }
            csv.write_record(&row)?;
        }
        csv.flush()
    }
}
