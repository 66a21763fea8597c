//! `requests-<tier>.log` (`run --log`): the request log of each tier's
//! first replication, in the format [`crate::model::RequestLog`] describes.
//!
//! The log is not kept from the run: the replication is simulated again
//! with the log on (the same seed, so the same requests) while the file is
//! written, and must come out identical to the run's, so the log is the
//! one behind the reports. The simulation hands its lines over in chunks
//! to the thread writing the file, so a log never sits in memory whole.

use std::io::{self, Write};
use std::sync::mpsc::{SyncSender, sync_channel};

use super::{Exporter, file_slug};
use crate::experiment::{self, ScenarioRun};
use crate::model::RequestLog;

/// One tier's request log.
struct RequestLogFile {
    tier: usize,
    file_name: String,
}

/// The request logs of `run`, one per tier.
pub fn request_logs<'a>(run: &ScenarioRun<'a>) -> Vec<Box<dyn Exporter<ScenarioRun<'a>>>> {
    (0..run.tiers.len())
        .map(|tier| {
            Box::new(RequestLogFile {
                tier,
                file_name: format!("requests-{}.log", file_slug(&run.tiers[tier].name)),
            }) as Box<dyn Exporter<ScenarioRun<'a>>>
        })
        .collect()
}

/// Hands what the log writes to the thread writing the file.
struct ChunkSender(SyncSender<Vec<u8>>);

impl Write for ChunkSender {
    fn write(&mut self, chunk: &[u8]) -> io::Result<usize> {
        self.0
            .send(chunk.to_vec())
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(chunk.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> Exporter<ScenarioRun<'a>> for RequestLogFile {
    fn file_name(&self) -> String {
        self.file_name.clone()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        let stack = &*run.stacks[self.tier];
        let tier = &run.tiers[self.tier];
        let requests: Vec<String> = stack
            .routes
            .iter()
            .map(|route| {
                route
                    .request
                    .clone()
                    .unwrap_or_else(|| format!("GET /{}", route.name))
            })
            .collect();
        // A few chunks in flight keep both threads busy within bounded memory.
        let (sender, receiver) = sync_channel::<Vec<u8>>(8);
        std::thread::scope(|scope| {
            let simulation = scope.spawn(move || {
                let log = RequestLog::new(
                    Box::new(ChunkSender(sender)),
                    (stack.start, stack.timezone),
                    &requests,
                );
                experiment::simulate_logged(stack, tier.users, 0, log)
            });
            let mut written = Ok(());
            for chunk in receiver.iter() {
                written = out.write_all(&chunk);
                if written.is_err() {
                    break;
                }
            }
            // Without a receiver the log stops writing and the run ends.
            drop(receiver);
            let (replication, logged) = simulation.join().expect("the simulation does not panic");
            written?;
            logged?;
            if format!("{replication:?}") != format!("{:?}", tier.replications[0]) {
                return Err(io::Error::other(format!(
                    "the logged replication of {} differs from the run's",
                    tier.name
                )));
            }
            Ok(())
        })
    }
}
