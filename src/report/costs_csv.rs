//! `costs.csv`: one row per tier, the monthly cost per provider and in
//! total (mean over replications and 95% half-width), the usage behind it,
//! the compute priced and any notes. Usage is measured over [warm-up,
//! horizon) and scaled to a 30-day month before included amounts are
//! subtracted; `measured_days` says from how many days.

use std::io::{self, Write};

use super::columns::{Columns, cost_columns};
use super::{Exporter, estimate_header, push_estimate, union};
use crate::costs::{self, MONTH_DAYS};
use crate::experiment::ScenarioRun;

/// The monthly cost projection.
pub struct CostsCsv;

impl<'a> Exporter<ScenarioRun<'a>> for CostsCsv {
    fn file_name(&self) -> String {
        "costs.csv".into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        let tiers: Vec<_> = run
            .tiers
            .iter()
            .zip(&run.stacks)
            .map(|(tier, stack)| costs::tier_costs(stack, &tier.replications))
            .collect();
        // Per tier with costs, per replication.
        let rows: Vec<Option<Vec<Columns>>> = tiers
            .iter()
            .zip(&run.stacks)
            .map(|(costs, stack)| {
                costs.as_ref().map(|costs| {
                    costs
                        .bills
                        .iter()
                        .map(|(bill, usage)| cost_columns(stack, bill, usage))
                        .collect()
                })
            })
            .collect();
        let names = union(
            rows.iter()
                .flatten()
                .filter_map(|replications| replications.first())
                .map(Columns::names),
        );
        let mut csv = csv::Writer::from_writer(out);
        let mut header = vec![
            "tier".to_string(),
            "users".into(),
            "replications".into(),
            "supabase_compute".into(),
        ];
        header.extend(estimate_header(names.iter().map(String::as_str)));
        header.extend(["measured_days".into(), "month_days".into(), "notes".into()]);
        csv.write_record(&header)?;
        for (((tier, stack), costs), replications) in
            run.tiers.iter().zip(&run.stacks).zip(&tiers).zip(&rows)
        {
            let (Some(costs), Some(replications)) = (costs, replications) else {
                continue;
            };
            let mut compute = costs.compute.name().to_string();
            if tier.auto_compute {
                compute.push_str(" (auto)");
            }
            let mut row = vec![
                tier.name.clone(),
                tier.users.to_string(),
                tier.replications.len().to_string(),
                compute,
            ];
            for name in &names {
                let values: Vec<f64> = replications.iter().map(|c| c.get(name)).collect();
                push_estimate(&mut row, &values);
            }
            row.push(super::number(stack.measured_secs() / 86_400.0));
            row.push(super::number(MONTH_DAYS));
            row.push(costs.notes.join("; "));
            csv.write_record(&row)?;
        }
        csv.flush()
    }
}
