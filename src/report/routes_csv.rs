//! `routes.csv`: one row per tier and route, means over replications.

use std::io::{self, Write};

use super::columns::{Columns, route_columns};
use super::{Exporter, estimate_header, push_estimate, union};
use crate::experiment::ScenarioRun;

/// The per-route table.
pub struct RoutesCsv;

impl<'a> Exporter<ScenarioRun<'a>> for RoutesCsv {
    fn file_name(&self) -> String {
        "routes.csv".into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        // Per tier, per replication, per route.
        let rows: Vec<Vec<Vec<Columns>>> = run
            .tiers
            .iter()
            .map(|tier| {
                tier.replications
                    .iter()
                    .map(|r| r.routes.iter().map(route_columns).collect())
                    .collect()
            })
            .collect();
        let names = union(
            rows.iter()
                .filter_map(|tier| tier.first())
                .flat_map(|routes| routes.iter().map(Columns::names)),
        );
        let mut header = vec![
            "tier".to_string(),
            "users".into(),
            "route".into(),
            "request".into(),
        ];
        header.extend(estimate_header(names.iter().map(String::as_str)));
        csv.write_record(&header)?;
        for ((tier, stack), replications) in run.tiers.iter().zip(&run.stacks).zip(&rows) {
            for (index, route) in stack.routes.iter().enumerate() {
                let mut row = vec![
                    tier.name.clone(),
                    tier.users.to_string(),
                    route.name.clone(),
                    route.request.clone().unwrap_or_default(),
                ];
                for name in &names {
                    let values: Vec<f64> =
                        replications.iter().map(|r| r[index].get(name)).collect();
                    push_estimate(&mut row, &values);
                }
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }
}
