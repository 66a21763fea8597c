//! `timeseries.csv`: per tier and minute after warm-up, the mean over
//! replications of the rate, instances, connections, pooler and CPU levels
//! (maxima within the minute) and counts (errors, CDN hits, 429s).

use std::io::{self, Write};

use super::{Exporter, number, union};
use crate::experiment::ScenarioRun;

/// The per-minute series.
pub struct TimeseriesCsv;

impl Exporter for TimeseriesCsv {
    fn file_name(&self) -> &'static str {
        "timeseries.csv"
    }

    fn write(&self, run: &ScenarioRun, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        let names = union(
            run.tiers
                .iter()
                .flat_map(|t| t.replications.first())
                .map(|r| r.minute_fields.as_slice()),
        );
        let mut header = vec!["tier".to_string(), "minute".into()];
        header.extend(names.iter().cloned());
        csv.write_record(&header)?;
        for tier in &run.tiers {
            let Some(first) = tier.replications.first() else {
                continue;
            };
            let count = tier.replications.len() as f64;
            for minute in first.first_minute..first.minute_count() {
                let mut row = vec![tier.name.clone(), minute.to_string()];
                for name in &names {
                    let sum: f64 = tier
                        .replications
                        .iter()
                        .map(|r| r.minute(minute, name))
                        .sum();
                    row.push(number(sum / count));
                }
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }
}
