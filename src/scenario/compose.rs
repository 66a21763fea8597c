//! Scenario composition: `extends: base.yaml` merges a file over the
//! scenario it names, and `tiers[].set` merges a tier's stack changes over
//! its scenario, key by key (mappings merge, lists and scalars are replaced
//! whole).
//!
//! The files are read into trees that remember where each node was written,
//! merged, and written out again as one YAML document with a [`SourceMap`]
//! from its lines back to the files, so that every error still names the
//! file, line and column that set the bad value.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use granit_parser::{Event, Parser, ScalarStyle};
use serde_saphyr::Location;

use super::error::{Diagnostic, Position};
use super::key_path::key_path;

/// Where a node was written: file index, 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Origin {
    file: usize,
    line: u64,
    column: u64,
}

/// A YAML node with its origin.
#[derive(Clone, Debug)]
enum Node {
    Scalar {
        text: String,
        plain: bool,
        at: Origin,
    },
    Seq(Vec<Node>, Origin),
    Map(Vec<(Node, Node)>, Origin),
}

impl Node {
    fn origin(&self) -> Origin {
        match self {
            Node::Scalar { at, .. } | Node::Seq(_, at) | Node::Map(_, at) => *at,
        }
    }

    fn key_text(&self) -> Option<&str> {
        match self {
            Node::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The entry `key` of a mapping.
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries, _) => entries
                .iter()
                .find(|(k, _)| k.key_text() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Takes the entry `key` out of a mapping, with its key node.
    fn remove(&mut self, key: &str) -> Option<(Node, Node)> {
        match self {
            Node::Map(entries, _) => {
                let index = entries
                    .iter()
                    .position(|(k, _)| k.key_text() == Some(key))?;
                Some(entries.remove(index))
            }
            _ => None,
        }
    }
}

/// `over` merged onto `base`: mappings key by key, anything else replaced.
fn merge(base: Node, over: Node) -> Node {
    match (base, over) {
        (Node::Map(mut entries, at), Node::Map(overrides, _)) => {
            for (key, value) in overrides {
                let existing = entries
                    .iter()
                    .position(|(k, _)| k.key_text().is_some() && k.key_text() == key.key_text());
                match existing {
                    Some(index) => {
                        let (_, old_value) = entries.remove(index);
                        entries.insert(index, (key, merge(old_value, value)));
                    }
                    None => entries.push((key, value)),
                }
            }
            Node::Map(entries, at)
        }
        (_, over) => over,
    }
}

/// Keys `over` leaves empty (`key:` and nothing after it) where `base` has
/// a value: merged, that would silently remove what `base` sets, most often
/// by mistake. `key: ~` (or `null`) removes it on purpose.
/// Each as (the key in `over`, its path under `path`, the value in `base`).
fn removals(base: &Node, over: &Node, path: &str) -> Vec<(Origin, String, Origin)> {
    let (Node::Map(entries, _), Node::Map(_, _)) = (over, base) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (key, value) in entries {
        let (Some(name), Some(before)) = (key.key_text(), key.key_text().and_then(|k| base.get(k)))
        else {
            continue;
        };
        let path = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        if matches!(value, Node::Scalar { text, plain: true, .. } if text.is_empty()) {
            found.push((key.origin(), path, before.origin()));
        } else {
            found.extend(removals(before, value, &path));
        }
    }
    found
}

/// The message for a removal found by [`removals`] of what `base` set.
fn removal_message(base: &Path, before: Origin) -> String {
    format!(
        "is empty here, which would remove what {}:{}:{} sets: leave the key out to keep that, \
         give the value it should have, or write `~` to remove it on purpose",
        base.display(),
        before.line,
        before.column
    )
}

/// The files read so far, for positions.
#[derive(Clone, Debug, Default)]
pub struct Files {
    paths: Vec<PathBuf>,
}

/// Maps positions in a parsed document back to the files that wrote them.
#[derive(Clone, Debug)]
pub struct SourceMap {
    files: Vec<PathBuf>,
    /// Per emitted line (0-based), the (emitted column, origin) of each node
    /// starting on it, in column order; `None` when the document is one
    /// file as written.
    lines: Option<Vec<Vec<(u64, Origin)>>>,
}

impl SourceMap {
    /// Positions in `file` as written.
    pub fn file(file: &Path) -> Self {
        Self {
            files: vec![file.to_path_buf()],
            lines: None,
        }
    }

    /// The file position of `location` in the document.
    pub fn position(&self, location: &Location) -> Position {
        self.position_of(location.line(), location.column())
    }

    /// The file position of 1-based `line` and `column` in the document.
    pub fn position_of(&self, line: u64, column: u64) -> Position {
        let Some(lines) = &self.lines else {
            return Position {
                file: self.files[0].clone(),
                line,
                column,
            };
        };
        let segments = line
            .checked_sub(1)
            .and_then(|index| lines.get(index as usize));
        let origin = segments.and_then(|segments| {
            segments
                .iter()
                .rev()
                .find(|(start, _)| *start <= column)
                .or(segments.first())
                .map(|(start, origin)| (*start, *origin))
        });
        match origin {
            Some((start, origin)) => Position {
                file: self.files[origin.file].clone(),
                line: origin.line,
                column: origin.column + column.saturating_sub(start),
            },
            None => Position {
                file: self.files[0].clone(),
                line: 0,
                column: 0,
            },
        }
    }
}

/// A composed scenario document.
#[derive(Clone, Debug)]
pub struct Composed {
    /// The merged YAML text.
    pub text: String,
    /// Where its lines came from.
    pub map: SourceMap,
}

/// What composing found wrong.
pub type Problems = Vec<Diagnostic>;

/// Why a scenario could not be read as a tree.
#[derive(Debug)]
pub enum ReadError {
    /// The scenario's own text is not well-formed YAML.
    Syntax(Problems),
    /// It or a file it extends is wrong otherwise.
    Invalid(Problems),
}

/// A scenario file read as a tree, with `extends` resolved.
pub struct Tree {
    files: Files,
    root: Node,
}

/// Keys a tier's `set` may not change: they define the experiment, not the stack.
const EXPERIMENT_KEYS: &[&str] = &[
    "name",
    "description",
    "seed",
    "replications",
    "start",
    "timezone",
    "horizon",
    "warmup",
    "tiers",
    "extends",
];

impl Tree {
    /// The scenario `text` of `path`, with the files it extends.
    pub fn from_text(path: &Path, text: &str) -> Result<Self, ReadError> {
        let root = parse_tree(text, 0).map_err(|error| match error {
            TreeError::Syntax(error) => ReadError::Syntax(vec![syntax_error(path, text, error)]),
            TreeError::TooLarge(error) => ReadError::Invalid(vec![syntax_error(path, text, error)]),
        })?;
        let mut files = Files::default();
        let root = extend(path, root, &mut files, &mut Vec::new()).map_err(ReadError::Invalid)?;
        Ok(Self { files, root })
    }

    /// Whether composition is needed: the file extends another, or a tier sets its stack.
    pub fn composes(&self) -> bool {
        self.files.paths.len() > 1 || !self.tier_sets().is_empty()
    }

    /// The tiers that have a `set`, by index.
    fn tier_sets(&self) -> Vec<(usize, &Node)> {
        match self.root.get("tiers") {
            Some(Node::Seq(tiers, _)) => tiers
                .iter()
                .enumerate()
                .filter_map(|(index, tier)| tier.get("set").map(|set| (index, set)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The whole scenario as one document.
    pub fn scenario(&self) -> Composed {
        self.emit(&self.root)
    }

    /// Per tier with a `set`, its index and the scenario with it merged in.
    pub fn tier_stacks(&self) -> Result<Vec<(usize, Composed)>, Problems> {
        let mut problems = Vec::new();
        let mut stacks = Vec::new();
        for (index, set) in self.tier_sets() {
            let Node::Map(entries, _) = set else {
                problems.push(self.diagnostic(
                    set.origin(),
                    format!("tiers[{index}].set"),
                    "must be a mapping of scenario keys to change, such as `database: { pooler: { enabled: true } }`",
                ));
                continue;
            };
            for (key, _) in entries {
                if let Some(name) = key.key_text().filter(|k| EXPERIMENT_KEYS.contains(k)) {
                    problems.push(self.diagnostic(
                        key.origin(),
                        format!("tiers[{index}].set.{name}"),
                        format!(
                            "a tier may change the stack, not the experiment: `{name}` cannot be set per tier \
                             (keys it cannot set: {})",
                            EXPERIMENT_KEYS.join(", ")
                        ),
                    ));
                }
            }
            for (at, key, before) in removals(&self.root, set, "") {
                problems.push(self.diagnostic(
                    at,
                    format!("tiers[{index}].set.{key}"),
                    removal_message(&self.files.paths[before.file], before),
                ));
            }
            let merged = merge(self.root.clone(), set.clone());
            stacks.push((index, self.emit(&merged)));
        }
        if problems.is_empty() {
            Ok(stacks)
        } else {
            Err(problems)
        }
    }

    fn diagnostic(&self, at: Origin, key: String, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            position: Position {
                file: self.files.paths[at.file].clone(),
                line: at.line,
                column: at.column,
            },
            key,
            message: message.into(),
        }
    }

    fn emit(&self, root: &Node) -> Composed {
        let mut writer = Writer::default();
        match root {
            Node::Map(entries, _) => writer.entries(entries, 0),
            other => writer.value_line(0, "", other),
        }
        Composed {
            text: writer.text,
            map: SourceMap {
                files: self.files.paths.clone(),
                lines: Some(writer.lines),
            },
        }
    }
}

/// The tree `root` of `path`, merged over the file its `extends` names, if any.
fn extend(
    path: &Path,
    mut root: Node,
    files: &mut Files,
    chain: &mut Vec<PathBuf>,
) -> Result<Node, Problems> {
    files.paths.push(path.to_path_buf());
    let Some((_, base)) = root.remove("extends") else {
        return Ok(root);
    };
    let at = base.origin();
    let problem = |message: String| {
        vec![Diagnostic {
            position: Position {
                file: path.to_path_buf(),
                line: at.line,
                column: at.column,
            },
            key: "extends".into(),
            message,
        }]
    };
    let Node::Scalar {
        text: base_name, ..
    } = base
    else {
        return Err(problem(
            "must name the scenario file this one extends, such as `autorev-baseline.yaml`".into(),
        ));
    };
    let base_path = path.parent().unwrap_or(Path::new("")).join(&base_name);
    let canonical = base_path
        .canonicalize()
        .map_err(|error| problem(format!("cannot read `{}`: {error}", base_path.display())))?;
    let this = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    chain.push(this);
    if chain.contains(&canonical) {
        let names: Vec<String> = chain
            .iter()
            .chain([&canonical])
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        return Err(problem(format!(
            "scenarios extend each other in a cycle: {}",
            names.join(" -> ")
        )));
    }
    let base_text = read_scenario_file(&base_path)
        .map_err(|error| problem(format!("cannot read `{}`: {error}", base_path.display())))?;
    let base_root = parse_tree(&base_text, files.paths.len())
        .map_err(|error| vec![syntax_error(&base_path, &base_text, error.into_inner())])?;
    // Any text is YAML; a scenario is a mapping of its keys.
    if !matches!(base_root, Node::Map(..)) {
        return Err(problem(format!(
            "`{}` is not a scenario: its top level is not a mapping of keys such as `name:`",
            base_path.display()
        )));
    }
    let base = extend(&base_path, base_root, files, chain)?;
    chain.pop();
    let removed = removals(&base, &root, "");
    if !removed.is_empty() {
        return Err(removed
            .into_iter()
            .map(|(at, key, before)| Diagnostic {
                position: Position {
                    file: path.to_path_buf(),
                    line: at.line,
                    column: at.column,
                },
                key,
                message: removal_message(&files.paths[before.file], before),
            })
            .collect());
    }
    Ok(merge(base, root))
}

/// A syntax error of `text` in `path`, as (line, column, message).
fn syntax_error(
    path: &Path,
    text: &str,
    (line, column, message): (u64, u64, String),
) -> Diagnostic {
    Diagnostic {
        position: Position {
            file: path.to_path_buf(),
            line,
            column,
        },
        key: key_path(text, line, column),
        message,
    }
}

/// Parses the first document of `text` into a tree; errors as (line, column, message).
/// Why a YAML text made no tree: line, column and message.
#[derive(Debug)]
enum TreeError {
    /// Not YAML (serde-saphyr words these best).
    Syntax((u64, u64, String)),
    /// YAML with more values than a scenario may have.
    TooLarge((u64, u64, String)),
}

impl TreeError {
    fn into_inner(self) -> (u64, u64, String) {
        match self {
            TreeError::Syntax(error) | TreeError::TooLarge(error) => error,
        }
    }
}

fn parse_tree(text: &str, file: usize) -> Result<Node, TreeError> {
    // Anchored nodes, with how many nodes each holds.
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    // Open collections: the node being built, its pending anchor and the
    // node count when it opened.
    let mut stack: Vec<(Node, usize, usize)> = Vec::new();
    let mut root = None;
    // Nodes made so far, aliases expanded: an alias bomb stops here.
    let mut nodes = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| {
            let mark = error.marker();
            TreeError::Syntax((mark.line() as u64, mark.col() as u64 + 1, error.info()))
        })?;
        let at = Origin {
            file,
            line: span.start.line() as u64,
            column: span.start.col() as u64 + 1,
        };
        let opened = nodes;
        let finished = match event {
            Event::Scalar(value, style, anchor, _) => {
                nodes += 1;
                // The parser reads `key:` with nothing after it as `~`;
                // an empty span tells it from a `~` written.
                let written = span.start != span.end;
                let node = Node::Scalar {
                    text: if written {
                        value.into_owned()
                    } else {
                        String::new()
                    },
                    plain: style == ScalarStyle::Plain,
                    at,
                };
                if anchor > 0 {
                    anchors.insert(anchor, (node.clone(), 1));
                }
                Some(node)
            }
            Event::Alias(anchor) => {
                let (node, size) = anchors.get(&anchor).ok_or(TreeError::Syntax((
                    at.line,
                    at.column,
                    "alias of an unknown anchor".to_string(),
                )))?;
                nodes = nodes.saturating_add(*size);
                if nodes > MAX_NODES {
                    return Err(TreeError::TooLarge((
                        at.line,
                        at.column,
                        format!(
                            "this alias makes the file more than {MAX_NODES} YAML values, \
                             aliases expanded; a scenario needs far fewer"
                        ),
                    )));
                }
                Some(node.clone())
            }
            Event::SequenceStart(_, anchor, _) => {
                nodes += 1;
                stack.push((Node::Seq(Vec::new(), at), anchor, opened));
                None
            }
            Event::MappingStart(_, anchor, _) => {
                nodes += 1;
                stack.push((Node::Map(Vec::new(), at), anchor, opened));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, opened) = stack.pop().expect("balanced events");
                if anchor > 0 {
                    anchors.insert(anchor, (node.clone(), nodes - opened));
                }
                Some(node)
            }
            Event::DocumentStart(..) if root.is_some() => {
                return Err(TreeError::Syntax((
                    at.line,
                    at.column,
                    "a scenario file holds one YAML document; this is a second one (after `---`)"
                        .to_string(),
                )));
            }
            _ => None,
        };
        let Some(node) = finished else {
            continue;
        };
        match stack.last_mut() {
            Some((Node::Seq(items, _), _, _)) => items.push(node),
            Some((Node::Map(entries, _), _, _)) => match entries.last_mut() {
                Some((_, value)) if is_pending(value) => *value = node,
                _ => entries.push((
                    node,
                    Node::Scalar {
                        text: PENDING.into(),
                        plain: true,
                        at,
                    },
                )),
            },
            Some((Node::Scalar { .. }, _, _)) => unreachable!("scalars are never open"),
            None => root = Some(node),
        }
    }
    Ok(root.unwrap_or(Node::Map(
        Vec::new(),
        Origin {
            file,
            line: 1,
            column: 1,
        },
    )))
}

/// The mapping of `text` that holds the key written at `line`, `column`:
/// where it is written (the key holding it, or its own start at the top
/// level and in a list), and `text` with the key `capsim-probe` added to it,
/// so that the schema's error for an unknown key lists the keys it takes.
pub struct MappingAt {
    /// 1-based line and column.
    pub line: u64,
    pub column: u64,
    /// Its key path, such as `functions[0]` (empty at the top level).
    pub key: String,
    /// `text` with the probe key in that mapping.
    pub probed: String,
}

/// The probe key [`mapping_holding`] adds: no schema has it.
pub const PROBE_KEY: &str = "capsim-probe";

/// See [`MappingAt`]; `None` if no key (or mapping) starts there.
pub fn mapping_holding(text: &str, line: u64, column: u64) -> Option<MappingAt> {
    /// The holder, start and key path of the mapping under `node` (at
    /// `path`, held at `holder`) with a key or start at `target`.
    fn find(
        node: &Node,
        holder: Origin,
        path: &str,
        target: (u64, u64),
    ) -> Option<(Origin, Origin, String)> {
        let at = |origin: Origin| (origin.line, origin.column) == target;
        match node {
            Node::Map(entries, start) => {
                if at(*start) || entries.iter().any(|(key, _)| at(key.origin())) {
                    return Some((holder, *start, path.to_string()));
                }
                entries.iter().find_map(|(key, value)| {
                    let key_text = key.key_text()?;
                    let path = if path.is_empty() {
                        key_text.to_string()
                    } else {
                        format!("{path}.{key_text}")
                    };
                    find(value, key.origin(), &path, target)
                })
            }
            Node::Seq(items, _) => items.iter().enumerate().find_map(|(index, item)| {
                find(item, item.origin(), &format!("{path}[{index}]"), target)
            }),
            Node::Scalar { .. } => None,
        }
    }
    let root = parse_tree(text, 0).ok()?;
    let (holder, start, key) = find(&root, root.origin(), "", (line, column))?;
    let offset = byte_offset(text, start.line, start.column)?;
    let probe = if text[offset..].starts_with('{') {
        (offset + 1, format!("{PROBE_KEY}: 0, "))
    } else {
        let indent = " ".repeat(start.column.saturating_sub(1) as usize);
        (offset, format!("{PROBE_KEY}: 0\n{indent}"))
    };
    let mut probed = text.to_string();
    probed.insert_str(probe.0, &probe.1);
    Some(MappingAt {
        line: holder.line,
        column: holder.column,
        key,
        probed,
    })
}

/// The byte offset of 1-based `line` and character `column` in `text`.
fn byte_offset(text: &str, line: u64, column: u64) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let line_text = &text[start..];
    let within = line_text
        .char_indices()
        .nth(column.checked_sub(1)? as usize)
        .map_or(line_text.len(), |(index, _)| index);
    Some(start + within)
}

/// The most YAML values (scalars, sequences, mappings) a scenario file may
/// make, aliases expanded: a few thousand make a large one.
const MAX_NODES: usize = 200_000;

/// The largest scenario file read: the shipped ones are some 20 kB.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The text of scenario file `path`: a regular file of at most
/// [`MAX_FILE_BYTES`] (a device or FIFO could be read forever).
pub fn read_scenario_file(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, Read};
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(Error::other("it is not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::other(format!(
            "it is over {MAX_FILE_BYTES} bytes, the most a scenario file may have"
        )));
    }
    Ok(text)
}

/// Marks a mapping entry whose value has not been read yet.
const PENDING: &str = "\u{0}pending";

fn is_pending(node: &Node) -> bool {
    matches!(node, Node::Scalar { text, plain: true, .. } if text == PENDING)
}

/// Writes a tree as block-style YAML, recording each line's origins.
#[derive(Default)]
struct Writer {
    text: String,
    lines: Vec<Vec<(u64, Origin)>>,
}

impl Writer {
    /// Starts a line at `indent` with `prefix`; returns the column after it.
    fn start(&mut self, indent: usize, prefix: &str) -> u64 {
        self.lines.push(Vec::new());
        let _ = write!(self.text, "{:indent$}{prefix}", "");
        (indent + prefix.len()) as u64 + 1
    }

    fn mark(&mut self, column: u64, at: Origin) {
        self.lines
            .last_mut()
            .expect("a line is open")
            .push((column, at));
    }

    fn entries(&mut self, entries: &[(Node, Node)], indent: usize) {
        for (key, value) in entries {
            let column = self.start(indent, "");
            self.mark(column, key.origin());
            let key_text = scalar_text(key);
            self.text.push_str(&key_text);
            self.text.push(':');
            self.value(indent, column + key_text.len() as u64 + 1, value);
        }
    }

    /// Writes `value` after a `key:` or `-`; `column` is the 1-based column
    /// right after it.
    fn value(&mut self, indent: usize, column: u64, value: &Node) {
        match value {
            Node::Scalar { .. } => {
                self.text.push(' ');
                self.mark(column + 1, value.origin());
                self.text.push_str(&scalar_text(value));
                self.text.push('\n');
            }
            Node::Map(entries, at) if entries.is_empty() => {
                self.mark(column + 1, *at);
                self.text.push_str(" {}\n");
            }
            Node::Seq(items, at) if items.is_empty() => {
                self.mark(column + 1, *at);
                self.text.push_str(" []\n");
            }
            Node::Map(entries, _) => {
                self.text.push('\n');
                self.entries(entries, indent + 2);
            }
            Node::Seq(items, _) => {
                self.text.push('\n');
                for item in items {
                    self.value_line(indent + 2, "-", item);
                }
            }
        }
    }

    fn value_line(&mut self, indent: usize, prefix: &str, node: &Node) {
        let after = self.start(indent, prefix);
        self.mark(after.saturating_sub(1).max(1), node.origin());
        self.value(indent, after, node);
    }
}

/// A scalar as YAML: plain scalars as written, others double-quoted.
fn scalar_text(node: &Node) -> String {
    let Node::Scalar { text, plain, .. } = node else {
        unreachable!("keys and values written here are scalars");
    };
    if *plain {
        return text.clone();
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        parse_tree(text, 0).expect("valid YAML")
    }

    fn emitted(root: &Node) -> String {
        let tree = Tree {
            files: Files {
                paths: vec![PathBuf::from("a.yaml")],
            },
            root: root.clone(),
        };
        tree.scenario().text
    }

    #[test]
    fn merges_mappings_key_by_key_and_replaces_lists() {
        let base = tree("a: 1\nb: { c: 2, d: [1, 2] }\ne: \"x y\"\n");
        let over = tree("b: { d: [3], f: 4 }\ng: 5\n");
        let text = emitted(&merge(base, over));
        assert_eq!(
            text,
            "a: 1\nb:\n  c: 2\n  d:\n    - 3\n  f: 4\ne: \"x y\"\ng: 5\n"
        );
    }

    #[test]
    fn positions_map_back_to_the_files() {
        let base = tree("a: 1\nb:\n  c: 2\n");
        let mut over = tree("b: { c: 3 }\n");
        if let Node::Map(entries, _) = &mut over {
            for (key, value) in entries.iter_mut() {
                for node in [key] {
                    if let Node::Scalar { at, .. } = node {
                        at.file = 1;
                    }
                }
                if let Node::Map(inner, _) = value {
                    for (k, v) in inner.iter_mut() {
                        for node in [k, v] {
                            if let Node::Scalar { at, .. } = node {
                                at.file = 1;
                            }
                        }
                    }
                }
            }
        }
        let merged = merge(base, over);
        let tree = Tree {
            files: Files {
                paths: vec![PathBuf::from("base.yaml"), PathBuf::from("over.yaml")],
            },
            root: merged,
        };
        let composed = tree.scenario();
        assert_eq!(composed.text, "a: 1\nb:\n  c: 3\n");
        // `3` on line 3, column 6 of the merged text came from over.yaml 1:9.
        let position = composed.map.position_of(3, 6);
        assert_eq!(position.file, PathBuf::from("over.yaml"));
        assert_eq!((position.line, position.column), (1, 9));
        let position = composed.map.position_of(1, 4);
        assert_eq!(position.file, PathBuf::from("base.yaml"));
        assert_eq!((position.line, position.column), (1, 4));
    }

    #[test]
    fn quotes_what_was_quoted() {
        let text = emitted(&tree("a: 'it''s'\nb: |\n  two\n  lines\nc: 30\n"));
        assert_eq!(text, "a: \"it's\"\nb: \"two\\nlines\\n\"\nc: 30\n");
    }
}
