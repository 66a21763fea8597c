//! Finds the key path (`routes[2].handler_time`) of a line and column in a
//! block-style YAML document, for parse errors whose position the parser
//! knows but whose key it does not.

/// Indentation of a line, or `None` for blank and comment lines.
fn indent(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        None
    } else {
        Some(line.len() - trimmed.len())
    }
}

/// `line` without its comment: a `#` at the start or after a space, outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, '#') if previous.is_whitespace() => return &line[..at],
            _ => {}
        }
        previous = c;
    }
    line
}

/// Whether `text` is a plain key.
fn is_key(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The keys leading to the end of `text` inside flow collections on one
/// line: `a: { b: { c: 1` gives [a, b, c].
fn flow_keys(text: &str) -> Vec<&str> {
    let mut parents = Vec::new();
    let mut current: Option<&str> = None;
    let mut token_start = 0;
    let bytes = text.as_bytes();
    for (at, c) in text.char_indices() {
        match c {
            '{' | '[' => {
                if let Some(key) = current.take() {
                    parents.push(key);
                }
                token_start = at + 1;
            }
            '}' | ']' => {
                parents.pop();
                current = None;
                token_start = at + 1;
            }
            ',' => {
                current = None;
                token_start = at + 1;
            }
            ':' if bytes.get(at + 1).is_none_or(|b| b.is_ascii_whitespace()) => {
                let token = text[token_start..at].trim().trim_start_matches('-').trim();
                if is_key(token) {
                    current = Some(token);
                }
                token_start = at + 1;
            }
            _ => {}
        }
    }
    parents.extend(current);
    parents
}

/// The last key of a block line (the key its children belong to).
fn last_key(text: &str) -> Option<&str> {
    flow_keys(text).first().copied()
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn is_item(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed == "-" || trimmed.starts_with("- ")
}

/// The key path at 1-based `line` and `column` of `text`, or an empty string.
pub fn key_path(text: &str, line: u64, column: u64) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(index) = (line as usize).checked_sub(1).filter(|&i| i < lines.len()) else {
        return String::new();
    };
    let current = strip_comment(lines[index]);
    let cut = current
        .char_indices()
        .nth(column.saturating_sub(1) as usize)
        .map_or(current.len(), |(at, _)| at);
    // Segments from the leaf up.
    let mut segments = Vec::new();
    let mut leaf = flow_keys(&current[..cut]);
    if leaf.is_empty() {
        leaf = flow_keys(current);
    }
    segments.extend(leaf.into_iter().rev().map(Segment::Key));
    let Some(mut level) = indent(current) else {
        return String::new();
    };
    // The dash column of the list item the walk is inside, and the number of
    // earlier siblings seen so far.
    let mut item: Option<(usize, usize)> = is_item(current).then_some((level, 0));
    for &row in lines[..index].iter().rev() {
        let Some(row_indent) = indent(row) else {
            continue;
        };
        if let Some((dash, siblings)) = item {
            if row_indent > dash {
                continue;
            }
            if row_indent == dash && is_item(row) {
                item = Some((dash, siblings + 1));
                continue;
            }
            segments.push(Segment::Index(siblings));
            item = None;
        }
        if row_indent >= level {
            continue;
        }
        level = row_indent;
        if is_item(row) {
            item = Some((row_indent, 0));
        } else if let Some(key) = last_key(strip_comment(row)) {
            segments.push(Segment::Key(key));
        }
    }
    let mut path = String::new();
    for segment in segments.iter().rev() {
        match segment {
            Segment::Key(key) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Segment::Index(position) => path.push_str(&format!("[{position}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::key_path;

    const DOC: &str = "name: x\ntraffic:\n  share: 30%\n  bursts:\n    - { name: a, at: x }\n    - { name: b, at: y }\nroutes:\n  - name: one\n    weight: 3\n  - name: two\n    handler_time: { dist: lognormal, median: 30ms }\n";

    #[test]
    fn finds_nested_keys_and_list_indices() {
        assert_eq!(key_path(DOC, 1, 7), "name");
        assert_eq!(key_path(DOC, 3, 10), "traffic.share");
        assert_eq!(key_path(DOC, 6, 15), "traffic.bursts[1].name");
        assert_eq!(key_path(DOC, 6, 22), "traffic.bursts[1].at");
        assert_eq!(key_path(DOC, 9, 13), "routes[0].weight");
        assert_eq!(key_path(DOC, 10, 5), "routes[1].name");
        assert_eq!(key_path(DOC, 11, 19), "routes[1].handler_time");
        assert_eq!(key_path(DOC, 11, 46), "routes[1].handler_time.median");
    }
}
