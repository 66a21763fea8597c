//! `capsim init`: a starter scenario for a stack preset.
//!
//! Each preset is a shipped scenario, compiled into the binary, so a
//! starter follows the shipped files whenever their platform rules change.
//! Its AutoRev-specific header gives way to one for the team, and every
//! number marked `assumption:` (the app's own guesses, where the platform
//! numbers carry their sources) is marked `CHANGE:` as well.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use crate::scenario::json_schema::{self, Form};

/// The shipped scenario every preset is derived from, by file name.
pub const SOURCE_FILE: &str = "autorev-baseline.yaml";

/// A stack a starter scenario can describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Vercel Fluid compute, Supabase Postgres through the Data API,
    /// Upstash rate limits, an AI API (Anthropic), page views and images,
    /// the whole monthly bill: scenarios/autorev-baseline.yaml.
    VercelSupabase,
    /// The same app on classic functions (Fluid compute off: one request
    /// per instance) with direct Postgres connections, one per instance:
    /// scenarios/autorev-baseline.yaml so changed, on today's platform
    /// rules (scenarios/autorev-classic.yaml keeps the guide's old ones).
    Classic,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 2] = [Preset::VercelSupabase, Preset::Classic];

    /// Lines of the shipped scenario this preset replaces: (the line's
    /// start, trimmed, through the line starting the last one replaced;
    /// the replacement). The tests check the result is the stack named.
    fn edits(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Preset::VercelSupabase => &[],
            Preset::Classic => &[
                (
                    "model: fluid",
                    "model: fluid",
                    "    model: classic                # Fluid compute off: one request per instance (FACTS §4)",
                ),
                (
                    "concurrency: 10",
                    "concurrency: 10",
                    "    concurrency: 1                # classic: one request per instance (FACTS §4)",
                ),
                (
                    "# guide, \"Database Connection Management\"",
                    "data_api_timeout:",
                    "  db_access: sql                  # SQL over a direct connection per instance (node-postgres, Prisma)\n\
                     \x20 connections_per_instance: 1     # assumption: the driver's pool holds one connection\n\
                     \x20 close_delay: 0s                 # assumption: reclaimed instances close their sockets at once\n\
                     \x20 ipv4_addon: true                # FACTS §2: direct connections are IPv6 and Vercel is IPv4-only; $4 a month",
                ),
            ],
        }
    }

    fn stack(self) -> &'static str {
        match self {
            Preset::VercelSupabase => {
                "Vercel Fluid compute,\n\
                 # Supabase Postgres through the Data API, Upstash rate limits, Claude,\n\
                 # page views and images"
            }
            Preset::Classic => {
                "Vercel functions\n\
                 # with Fluid compute off (one request per instance), a direct Postgres\n\
                 # connection per instance, Upstash rate limits, Claude, page views"
            }
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Preset::VercelSupabase => "vercel-supabase",
            Preset::Classic => "classic",
        })
    }
}

/// The starter scenario of `preset`, named `name`.
pub fn starter(preset: Preset, name: &str) -> String {
    let source = edited(
        include_str!("../scenarios/autorev-baseline.yaml"),
        preset.edits(),
    );
    // The shipped file's own header: its comment lines before `name:`.
    let body_start = source.find("\nname:").map_or(0, |index| index + 1);
    let mut text = format!(
        "# yaml-language-server: $schema={}\n\
         # A starter scenario from `capsim init --preset {preset}`, made from the\n\
         # scenarios/{} of capsim {}. The stack: {}.\n\
         # It models AutoRev, a Next.js app: replace its numbers with your app's.\n\
         # Lines marked CHANGE: are that app's guesses (traffic, routes, handler\n\
         # times, tokens, cache TTLs); the platform's limits and prices carry\n\
         # their sources (\"FACTS §N\" is docs/FACTS.md in capsim's repository,\n\
         # \"guide\" AutoRev's scaling guide). The routes are AutoRev's: list\n\
         # yours, with their share of requests, queries and handler times.\n\
         # Check with `capsim check FILE`, run with `capsim run FILE`.\n",
        Form::Whole.file_name(),
        SOURCE_FILE,
        env!("CARGO_PKG_VERSION"),
        preset.stack()
    );
    let mut lines = source[body_start..].lines();
    for line in lines.by_ref() {
        if line.starts_with("name:") {
            text += &format!("name: {name}\n");
            break;
        }
        text += line;
        text.push('\n');
    }
    let mut in_description = false;
    for line in lines {
        // The shipped description speaks of AutoRev's deployment.
        if line.starts_with("description:") {
            in_description = true;
            text += &format!("description: >\n  {name}, from the {preset} starter.\n");
            continue;
        }
        if in_description && line.starts_with("  ") {
            continue;
        }
        in_description = false;
        text += &line.replace("assumption:", "CHANGE: assumption:");
        text.push('\n');
    }
    text
}

/// Writes `preset`'s starter to `path`, named after the file; refuses to
/// replace an existing file. The file appears whole or not at all. Beside
/// it, the scenario schema its first line names, for editors, unless a
/// file of that name is there already; returns whether it wrote one.
pub fn write_starter(preset: Preset, path: &Path) -> io::Result<bool> {
    // The scenario's name names its output folder: letters, digits, - and _.
    let name: String = path
        .file_stem()
        .map(|stem| stem.to_string_lossy())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = if name.trim_matches('-').is_empty() {
        "my-app"
    } else {
        &name
    };
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    write_new(folder, path, &starter(preset, name))?;
    let schema = json_schema::to_text(&json_schema::generate(Form::Whole));
    match write_new(folder, &folder.join(Form::Whole.file_name()), &schema) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error),
    }
}

/// Writes `text` to `path` in `folder`, whole or not at all; never replaces a file.
fn write_new(folder: &Path, path: &Path, text: &str) -> io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    file.write_all(text.as_bytes())?;
    file.persist_noclobber(path).map_err(|e| e.error)?;
    Ok(())
}

/// `source` with each edit's lines replaced, every occurrence: from a line
/// whose trimmed text starts with the edit's first marker through the next
/// one (or the same) starting with its last marker.
fn edited(source: &str, edits: &[(&str, &str, &str)]) -> String {
    let mut text = String::new();
    let mut replacing: Option<&str> = None;
    for line in source.lines() {
        let trimmed = line.trim_start();
        if let Some(last) = replacing {
            if trimmed.starts_with(last) {
                replacing = None;
            }
            continue;
        }
        match edits
            .iter()
            .find(|(first, _, _)| trimmed.starts_with(first))
        {
            Some(&(_, last, replacement)) => {
                text += replacement;
                text.push('\n');
                if !trimmed.starts_with(last) {
                    replacing = Some(last);
                }
            }
            None => {
                text += line;
                text.push('\n');
            }
        }
    }
    text
}
