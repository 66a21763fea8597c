//! `timeseries.csv`: per tier and minute after warm-up, the mean over
//! replications of the rate, instances, connections, pooler and CPU levels
//! (maxima within the minute) and counts (errors, CDN hits, 429s).

use std::io::{self, Write};

use super::{Exporter, first_replications, number, union};
use crate::experiment::ScenarioRun;

/// The per-minute series.
pub struct TimeseriesCsv;

impl<'a> Exporter<ScenarioRun<'a>> for TimeseriesCsv {
    fn file_name(&self) -> String {
        "timeseries.csv".into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        let names = union(first_replications(run).map(|r| r.minute_fields.as_slice()));
        let mut header = vec!["tier".to_string(), "minute".into()];
        header.extend(names.iter().cloned());
        csv.write_record(&header)?;
        for tier in &run.tiers {
            let Some(first) = tier.replications.first() else {
                continue;
            };
            // A tier's replications share their fields: look each up once.
            let fields: Vec<Option<usize>> = names.iter().map(|n| first.minute_field(n)).collect();
            for minute in first.first_minute..first.minute_count() {
                let mut row = vec![tier.name.clone(), minute.to_string()];
                for &field in &fields {
                    row.push(number(tier.minute_mean(minute, field)));
                }
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }
}
