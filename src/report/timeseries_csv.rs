//! `timeseries.csv`: per tier and minute after warm-up, the mean over
//! replications of the rate, instances, connections and errors.

use std::io::{self, Write};

use super::{Exporter, number};
use crate::experiment::ScenarioRun;
use crate::model::MinuteRow;

/// The per-minute series.
pub struct TimeseriesCsv;

type Field = (&'static str, fn(&MinuteRow) -> f64);

const FIELDS: &[Field] = &[
    ("rps", |m| m.rps),
    ("instances", |m| m.instances),
    ("db_connections", |m| m.db_connections),
    ("db_demanded", |m| m.db_demanded),
    ("errors", |m| m.errors),
];

impl Exporter for TimeseriesCsv {
    fn file_name(&self) -> &'static str {
        "timeseries.csv"
    }

    fn write(&self, run: &ScenarioRun, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        let mut header = vec!["tier".to_string(), "minute".into()];
        header.extend(FIELDS.iter().map(|(name, _)| (*name).to_string()));
        csv.write_record(&header)?;
        for tier in &run.tiers {
            let Some(first) = tier.replications.first() else {
                continue;
            };
            let count = tier.replications.len() as f64;
            for minute in first.first_minute..first.minutes.len() {
                let mut row = vec![tier.name.clone(), minute.to_string()];
                for (_, field) in FIELDS {
                    let sum: f64 = tier
                        .replications
                        .iter()
                        .map(|r| field(&r.minutes[minute]))
                        .sum();
                    row.push(number(sum / count));
                }
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }
}
