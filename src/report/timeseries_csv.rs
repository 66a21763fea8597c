//! `timeseries.csv`: per tier and minute after warm-up, the mean over
//! replications of the rate, instances, connections, pooler and CPU levels
//! (maxima within the minute) and counts (errors, CDN hits, 429s).

use std::io::{self, Write};

use super::columns::{MinuteColumns, minute_columns};
use super::{Exporter, number, union};
use crate::experiment::ScenarioRun;

/// The per-minute series.
pub struct TimeseriesCsv;

impl<'a> Exporter<ScenarioRun<'a>> for TimeseriesCsv {
    fn file_name(&self) -> String {
        "timeseries.csv".into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        // Per tier, per replication, its series by name.
        let series: Vec<Vec<MinuteColumns>> = run
            .tiers
            .iter()
            .map(|tier| {
                tier.replications
                    .iter()
                    .map(|r| minute_columns(&r.minutes))
                    .collect()
            })
            .collect();
        let first_names: Vec<Vec<&str>> = series
            .iter()
            .filter_map(|tier| tier.first())
            .map(|first| first.iter().map(|(name, _)| *name).collect())
            .collect();
        let names = union(first_names.iter().map(Vec::as_slice));
        let mut header = vec!["tier".to_string(), "minute".into()];
        header.extend(names.iter().cloned());
        csv.write_record(&header)?;
        for (tier, replications) in run.tiers.iter().zip(&series) {
            let Some(first) = tier.replications.first() else {
                continue;
            };
            // A tier's replications share their series: look each up once.
            let fields: Vec<Option<usize>> = names
                .iter()
                .map(|name| replications[0].iter().position(|(n, _)| n == name))
                .collect();
            for minute in first.first_minute..first.minutes.count() {
                let mut row = vec![tier.name.clone(), minute.to_string()];
                for &field in &fields {
                    let sum: f64 = replications
                        .iter()
                        .map(|r| field.map_or(f64::NAN, |i| r[i].1[minute]))
                        .sum();
                    row.push(number(sum / replications.len() as f64));
                }
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }
}
