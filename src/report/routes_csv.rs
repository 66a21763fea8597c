//! `routes.csv`: one row per tier and route, means over replications.

use std::io::{self, Write};

use super::{Exporter, estimate_header, push_estimate};
use crate::experiment::ScenarioRun;
use crate::model::RouteResult;

/// The per-route table.
pub struct RoutesCsv;

type Field = (&'static str, fn(&RouteResult) -> f64);

const FIELDS: &[Field] = &[
    ("requests", |r| r.requests),
    ("p50_ms", |r| r.p50_ms),
    ("p95_ms", |r| r.p95_ms),
    ("p99_ms", |r| r.p99_ms),
    ("error_rate", |r| r.error_rate),
    ("db_refused", |r| r.db_refused),
    ("throttled", |r| r.throttled),
    ("timeouts", |r| r.timeouts),
    ("cold_starts", |r| r.cold_starts),
    ("worst_window_p95_ms", |r| r.worst_window_p95_ms),
];

impl Exporter for RoutesCsv {
    fn file_name(&self) -> &'static str {
        "routes.csv"
    }

    fn write(&self, run: &ScenarioRun, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        let mut header = vec![
            "tier".to_string(),
            "users".into(),
            "route".into(),
            "request".into(),
        ];
        header.extend(estimate_header(FIELDS.iter().map(|(name, _)| *name)));
        csv.write_record(&header)?;
        for tier in &run.tiers {
            for (index, route) in run.scenario.routes.value.iter().enumerate() {
                let mut row = vec![
                    tier.name.clone(),
                    tier.users.to_string(),
                    route.name.value.clone(),
                    route.request.clone().unwrap_or_default(),
                ];
                for (_, field) in FIELDS {
                    let values: Vec<f64> = tier
                        .replications
                        .iter()
                        .map(|r| field(&r.routes[index]))
                        .collect();
                    push_estimate(&mut row, &values);
                }
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }
}
