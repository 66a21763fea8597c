//! `summary.csv`: one row per tier, the mean over replications of each
//! metric and its 95% confidence half-width.

use std::io::{self, Write};

use super::columns::{Columns, summary_columns};
use super::{Exporter, estimate_header, push_estimate, union};
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
        let rows: Vec<Vec<Columns>> = run
            .tiers
            .iter()
            .zip(&run.stacks)
            .map(|(tier, stack)| {
                tier.replications
                    .iter()
                    .map(|r| summary_columns(stack, r))
                    .collect()
            })
            .collect();
        let names = union(
            rows.iter()
                .filter_map(|tier| tier.first())
                .map(Columns::names),
        );
        let mut header = vec!["tier".to_string(), "users".into(), "replications".into()];
        header.extend(estimate_header(names.iter().map(String::as_str)));
        csv.write_record(&header)?;
        for (tier, replications) in run.tiers.iter().zip(&rows) {
            let mut row = vec![
                tier.name.clone(),
                tier.users.to_string(),
                tier.replications.len().to_string(),
            ];
            for name in &names {
                let values: Vec<f64> = replications.iter().map(|r| r.get(name)).collect();
                push_estimate(&mut row, &values);
            }
            csv.write_record(&row)?;
        }
        csv.flush()
    }
}
