//! The scenario format as JSON Schema, generated from the types that parse
//! it ([`super::schema`]), for editors (the `yaml-language-server` line at
//! the top of a scenario) and for the README's format reference.
//!
//! Two schemas: a whole scenario, and a part of one (a file that `extends`
//! another, or `calibrate`'s fragment), the same keys with none required,
//! since a part is checked once merged.

use schemars::generate::SchemaSettings;
use schemars::{Schema, json_schema};
use serde_json::{Map, Value};

use super::schema::Scenario;

/// Which schema: a whole scenario or a part of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A file with every required key.
    Whole,
    /// A file that `extends` another: no key is required.
    Part,
}

impl Form {
    /// The committed schema file's name, as scenarios' `$schema` lines name it.
    pub fn file_name(self) -> &'static str {
        match self {
            Form::Whole => "scenario.schema.json",
            Form::Part => "scenario-part.schema.json",
        }
    }
}

/// The JSON Schema of scenario files of `form`.
pub fn generate(form: Form) -> Value {
    let mut root = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<Scenario>();
    root.insert("title".into(), "capsim scenario".into());
    let extends = json_schema!({
        "type": "string",
        "description": "a scenario file (relative to this one) to merge this file over: mappings key by key, lists and scalars replaced whole",
    });
    properties_mut(&mut root).insert("extends".into(), extends.to_value());
    let mut value = root.to_value();
    match form {
        Form::Whole => {
            value["description"] = "A capsim scenario: a stack and its users. Every key is described with its unit and default; `capsim check` checks what a schema cannot (relations between keys, ranges).".into();
        }
        Form::Part => {
            value["description"] = "A part of a capsim scenario: a file that `extends` another (or `calibrate`'s fragment). The keys of a scenario, none required: `capsim check` checks the merged file.".into();
            remove_required(&mut value);
        }
    }
    value
}

fn properties_mut(root: &mut Schema) -> &mut Map<String, Value> {
    root.get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("a struct's schema has properties")
}

fn remove_required(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("required").is_some_and(Value::is_array) {
                map.remove("required");
            }
            map.values_mut().for_each(remove_required);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_required),
        _ => {}
    }
}

/// The schema as committed: pretty JSON and a final newline.
pub fn to_text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a JSON value serialises");
    text.push('\n');
    text
}

/// The format reference generated from `schema` (a [`Form::Whole`]
/// schema): a Markdown table with one row per key, its path as a scenario
/// writes it (`routes[].cache.s_maxage`), its kind of value, whether it is
/// required or its default, and its description.
pub fn reference(schema: &Value) -> String {
    let mut reference = Reference {
        defs: &schema["$defs"],
        rows: vec![
            "| key | value | required or default | meaning |".into(),
            "|---|---|---|---|".into(),
        ],
    };
    reference.mapping(schema, "");
    let mut text = reference.rows.join("\n");
    text.push('\n');
    text
}

struct Reference<'a> {
    defs: &'a Value,
    rows: Vec<String>,
}

impl Reference<'_> {
    /// The definition a `$ref` names, or `node` itself.
    fn resolve<'n>(&'n self, node: &'n Value) -> &'n Value {
        match node["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            Some(name) => &self.defs[name],
            None => node,
        }
    }

    /// The alternatives of `node` other than `null`, as written (`node`
    /// itself when it has none).
    fn alternatives<'n>(&'n self, node: &'n Value) -> Vec<&'n Value> {
        let resolved = self.resolve(node);
        match resolved["anyOf"]
            .as_array()
            .or(resolved["oneOf"].as_array())
        {
            Some(choices) => choices
                .iter()
                .filter(|choice| choice["type"] != "null")
                .collect(),
            None => vec![node],
        }
    }

    /// The word for `node` if it is one of the format's value types,
    /// described as a whole (its forms are in the README's prose).
    fn value_word(node: &Value) -> Option<&'static str> {
        let name = node["$ref"].as_str()?.strip_prefix("#/$defs/")?;
        VALUE_WORDS
            .iter()
            .find(|(def, _)| *def == name)
            .map(|(_, word)| *word)
    }

    fn mapping(&mut self, node: &Value, path: &str) {
        let required: Vec<&str> = node["required"]
            .as_array()
            .map(|keys| keys.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = node["properties"].as_object() else {
            return;
        };
        let mut keys: Vec<&String> = properties.keys().collect();
        // The file's own order is the types' order; a reference reads better
        // with what is required first.
        keys.sort_by_key(|key| !required.contains(&key.as_str()));
        for key in keys {
            let full = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            self.key(&properties[key], &full, required.contains(&key.as_str()));
        }
    }

    fn key(&mut self, node: &Value, path: &str, required: bool) {
        let status = if required {
            "**required**".to_string()
        } else {
            match &node["default"] {
                Value::Null => "optional".to_string(),
                Value::String(text) => format!("`{text}`"),
                other => format!("`{other}`"),
            }
        };
        let description = node["description"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "\\|");
        self.rows.push(format!(
            "| `{path}` | {} | {status} | {description} |",
            self.kind(node)
        ));
        // Items of lists and values of maps, then any mapping among the choices.
        let node = match self.alternatives(node).as_slice() {
            [single] => single,
            _ => node,
        };
        if Self::value_word(node).is_some() {
            return;
        }
        let node = self.resolve(node);
        let (inner, inner_path) = if let Some(items) = node.get("items") {
            (items, format!("{path}[]"))
        } else if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
            (values, format!("{path}.<name>"))
        } else {
            (node, path.to_string())
        };
        if Self::value_word(inner).is_some() {
            return;
        }
        let choices: Vec<Value> = self
            .alternatives(inner)
            .into_iter()
            .filter(|choice| Self::value_word(choice).is_none())
            .map(|choice| self.resolve(choice).clone())
            .collect();
        for choice in &choices {
            self.mapping(choice, &inner_path);
        }
    }

    /// What kind of value `node` takes, in words.
    fn kind(&self, node: &Value) -> String {
        if let Some(word) = Self::value_word(node) {
            return word.to_string();
        }
        let node = self.resolve(node);
        if let Some(values) = node["enum"].as_array() {
            return values
                .iter()
                .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ");
        }
        let choices = self.alternatives(node);
        if choices.len() > 1 || !std::ptr::eq(self.resolve(choices[0]), node) {
            let words: Vec<String> = choices.iter().map(|choice| self.kind(choice)).collect();
            let mut unique = Vec::new();
            for word in words {
                if !unique.contains(&word) {
                    unique.push(word);
                }
            }
            return unique.join(" or ");
        }
        if let Some(constant) = node.get("const") {
            return format!(
                "`{}`",
                constant
                    .as_str()
                    .map_or(constant.to_string(), str::to_string)
            );
        }
        let kind = match &node["type"] {
            Value::Array(types) => types
                .iter()
                .find(|t| *t != "null")
                .cloned()
                .unwrap_or_default(),
            other => other.clone(),
        };
        match kind.as_str() {
            Some("array") => format!("list of {}", self.kind(&node["items"])),
            Some("object") if node.get("properties").is_some() => "mapping".into(),
            Some("object") => match node.get("additionalProperties") {
                Some(values) if values.is_object() => format!("names to {}", self.kind(values)),
                _ => "mapping".into(),
            },
            Some("integer") => "whole number".into(),
            Some("boolean") => "`true` or `false`".into(),
            Some(other) => other.into(),
            None => "any".into(),
        }
    }
}

/// The words for the format's value types (their forms: README's "Scenario format").
const VALUE_WORDS: &[(&str, &str)] = &[
    ("Duration", "duration"),
    ("DurationDist", "duration distribution"),
    ("CountDist", "count distribution"),
    ("Rate", "rate"),
    ("Share", "share"),
    ("Weight", "weight"),
    ("Size", "size"),
    ("UserCount", "user count"),
    ("Amount", "amount (0 or more)"),
    ("Count", "whole number (1 or more)"),
    ("Threshold", "threshold"),
    ("Date", "date"),
    ("Timezone", "time zone"),
    ("DayTime", "moment"),
];
