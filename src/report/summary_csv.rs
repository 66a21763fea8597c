//! `summary.csv`: one row per tier, the mean over replications of each
//! metric and its 95% confidence half-width.

use std::io::{self, Write};

use super::{Exporter, estimate_header, push_estimate};
use crate::experiment::ScenarioRun;
use crate::model::Replication;

/// The per-tier summary.
pub struct SummaryCsv;

impl Exporter for SummaryCsv {
    fn file_name(&self) -> &'static str {
        "summary.csv"
    }

    fn write(&self, run: &ScenarioRun, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        let mut header = vec!["tier".to_string(), "users".into(), "replications".into()];
        header.extend(estimate_header(Replication::COLUMNS.iter().copied()));
        csv.write_record(&header)?;
        for tier in &run.tiers {
            let mut row = vec![
                tier.name.clone(),
                tier.users.to_string(),
                tier.replications.len().to_string(),
            ];
            for (index, _) in Replication::COLUMNS.iter().enumerate() {
                let values: Vec<f64> = tier.replications.iter().map(|r| r.values[index]).collect();
                push_estimate(&mut row, &values);
            }
            csv.write_record(&row)?;
        }
        csv.flush()
    }
}
