//! The scenario format's JSON Schema: committed as generated, met by every
//! shipped scenario, refusing what `check` refuses, described key by key,
//! and the README's format reference generated from it.

use std::fs;
use std::path::PathBuf;

use capsim::scenario::json_schema::{self, Form};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validator(form: Form) -> jsonschema::Validator {
    jsonschema::validator_for(&json_schema::generate(form)).expect("the schema compiles")
}

/// A YAML file's value as JSON, as an editor's YAML language server sees it.
fn yaml_value(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("YAML")
}

/// What `validator` says is wrong with `value`, one line per error.
fn errors(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

#[test]
fn the_committed_schemas_are_what_capsim_schema_prints() {
    for form in [Form::Whole, Form::Part] {
        let path = root().join("schema").join(form.file_name());
        let committed = fs::read_to_string(&path).expect("the committed schema");
        assert!(
            committed == json_schema::to_text(&json_schema::generate(form)),
            "{} differs from `capsim schema{}`: regenerate it",
            path.display(),
            if form == Form::Part { " --part" } else { "" }
        );
    }
}

#[test]
fn every_shipped_scenario_names_its_schema_and_meets_it() {
    let (whole, part) = (validator(Form::Whole), validator(Form::Part));
    let scenarios = root().join("scenarios");
    let files = crate::shipped_scenarios(&scenarios);
    assert!(files.len() > 50, "the shipped scenarios are found");
    for file in files {
        let text = fs::read_to_string(scenarios.join(&file)).expect("readable");
        let value = yaml_value(&text);
        // A file that extends another is a part, checked once merged.
        let form = if value.get("extends").is_some() {
            Form::Part
        } else {
            Form::Whole
        };
        let depth = file.components().count();
        let line = format!(
            "# yaml-language-server: $schema={}schema/{}",
            "../".repeat(depth),
            form.file_name()
        );
        assert_eq!(
            text.lines().next(),
            Some(line.as_str()),
            "{}",
            file.display()
        );
        let validator = if form == Form::Whole { &whole } else { &part };
        let found = errors(validator, &value);
        assert!(found.is_empty(), "{}: {found:#?}", file.display());
    }
}

/// Edits of the baseline that `check` refuses and the schema refuses too,
/// as `(what, from, to)`.
const BAD_EDITS: &[(&str, &str, &str)] = &[
    ("an unknown key", "\nname:", "\nreplication: 3\nname:"),
    (
        "a misspelt nested key",
        "  daily_active_share:",
        "  daily_active_shares:",
    ),
    (
        "a duration without a unit",
        "cold_start: ",
        "cold_start: 300 #",
    ),
    (
        "a duration in unknown units",
        "cold_start: ",
        "cold_start: 3 parsecs #",
    ),
    ("a choice that is not one", "model: fluid", "model: fluidd"),
    (
        "a distribution with another's keys",
        "think_time: ",
        "think_time: { dist: lognormal, mean: 5s } #",
    ),
    (
        "a distribution that does not exist",
        "think_time: ",
        "think_time: { dist: pareto, mean: 5s } #",
    ),
    ("users in words", "users: 100 ", "users: lots "),
    (
        "a share above 1",
        "daily_active_share: ",
        "daily_active_share: 1.5 #",
    ),
    ("a negative weight", "weight: ", "weight: -3 #"),
    (
        "a rate without a period",
        "scale_rate: 1000/10s",
        "scale_rate: 1000",
    ),
    (
        "a list where a mapping goes",
        "slo:\n",
        "slo: []\nunused_slo:\n",
    ),
    ("a required key missing", "\nstart:", "\nbegins:"),
];

#[test]
fn the_schema_refuses_what_check_refuses() {
    let baseline_path = root().join("scenarios/autorev-baseline.yaml");
    let baseline = fs::read_to_string(&baseline_path).expect("the baseline");
    let whole = validator(Form::Whole);
    assert!(errors(&whole, &yaml_value(&baseline)).is_empty());
    let dir = tempfile::tempdir().expect("temporary directory");
    for (what, from, to) in BAD_EDITS {
        assert!(
            baseline.contains(from),
            "{what}: `{from}` is in the baseline"
        );
        let text = baseline.replacen(from, to, 1);
        assert!(
            !errors(&whole, &yaml_value(&text)).is_empty(),
            "the schema accepts {what}"
        );
        let file = dir.path().join("bad.yaml");
        fs::write(&file, &text).expect("writable");
        assert!(
            capsim::scenario::load(&file).is_err(),
            "`check` accepts {what}"
        );
    }
}

/// Every property's schema, with its path.
fn properties<'a>(node: &'a Value, path: &str, found: &mut Vec<(String, &'a Value)>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                for (key, value) in properties {
                    found.push((format!("{path}.{key}"), value));
                }
            }
            for (key, value) in map {
                properties(value, &format!("{path}/{key}"), found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| properties(item, path, found)),
        _ => {}
    }
}

#[test]
fn every_key_is_described_in_the_scenarios_words() {
    let schema = json_schema::generate(Form::Whole);
    let mut found = Vec::new();
    properties(&schema, "", &mut found);
    assert!(found.len() > 200, "{} properties", found.len());
    for (path, property) in found {
        // The distributions' own keys are described by their choice.
        let Some(description) = property["description"].as_str() else {
            assert!(path.contains("Dist/"), "{path} has no description");
            continue;
        };
        for internal in ["super::", "crate::", "[`", "Option<", "Spanned"] {
            assert!(!description.contains(internal), "{path}: {description}");
        }
    }
    // Unit-carrying values are typed, not any string.
    let defs = &schema["$defs"];
    for (def, example) in [
        ("Duration", "250ms"),
        ("Rate", "300/min"),
        ("Size", "512MB"),
    ] {
        let pattern = serde_json::to_string(&defs[def]).expect("JSON");
        assert!(pattern.contains("pattern"), "{def} has a pattern");
        assert!(pattern.contains(example), "{def} shows {example}");
    }
}

#[test]
fn the_readmes_format_reference_is_generated_from_the_schema() {
    let readme = fs::read_to_string(root().join("README.md")).expect("the README");
    let start = "<!-- format reference: capsim schema --markdown -->\n";
    let end = "<!-- end of format reference -->";
    let from = readme.find(start).expect("the start marker") + start.len();
    let to = readme.find(end).expect("the end marker");
    let generated = json_schema::reference(&json_schema::generate(Form::Whole));
    assert!(
        readme[from..to] == generated,
        "the README's format reference differs from `capsim schema --markdown`: paste its output between the markers"
    );
    for key in [
        "`tiers[].users`",
        "`database.pooler.default_pool_size`",
        "`routes[].cache.s_maxage`",
    ] {
        assert!(generated.contains(key), "{key} is in the reference");
    }
    assert!(generated.contains("| `name` | string | **required** |"));
}

#[test]
fn the_starter_names_the_schema_written_beside_it_and_meets_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("my-app.yaml");
    assert!(capsim::init::write_starter(capsim::init::Preset::Classic, &file).expect("written"));
    let text = fs::read_to_string(&file).expect("the starter");
    assert_eq!(
        text.lines().next(),
        Some("# yaml-language-server: $schema=scenario.schema.json")
    );
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(dir.path().join("scenario.schema.json")).expect("the schema beside it"),
    )
    .expect("JSON");
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    assert!(errors(&validator, &yaml_value(&text)).is_empty());
    // A second starter in the folder leaves the schema there as it was.
    fs::write(dir.path().join("scenario.schema.json"), "{}").expect("writable");
    let other = dir.path().join("other.yaml");
    assert!(!capsim::init::write_starter(capsim::init::Preset::Classic, &other).expect("written"));
    assert_eq!(
        fs::read_to_string(dir.path().join("scenario.schema.json")).expect("kept"),
        "{}"
    );
}

#[test]
fn part_files_need_no_key_but_take_only_the_formats_keys() {
    let part = validator(Form::Part);
    let ok =
        yaml_value("extends: autorev-baseline.yaml\ndatabase: { pooler: { enabled: true } }\n");
    assert!(errors(&part, &ok).is_empty());
    let bad =
        yaml_value("extends: autorev-baseline.yaml\ndatabase: { poolr: { enabled: true } }\n");
    assert!(!errors(&part, &bad).is_empty());
    assert!(!errors(&validator(Form::Whole), &ok).is_empty());
}
