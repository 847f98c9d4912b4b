//! The Voice ID service model (botocore's `voice-id-service-2.json`, embedded
//! at build time) as the typed constraint tree that [`crate::validate`] walks.
//!
//! What it does: parses the model once, resolves shape references to indices,
//! and compiles every string `pattern` into a [`regex::Regex`] (translating the
//! Java-isms the model uses, such as `\p{ASCII}`), so validating a request
//! never touches JSON-model lookups or compiles a regex.
//!
//! What it does not do: output shapes' serialisation, documentation, or
//! anything beyond the constraints an input can break.
//!
//! Key decision: the embedded model is the single authority for input
//! constraints — the same file SDKs are generated from — so a request an SDK
//! accepts is accepted here, and the error names the member as AWS does.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

/// The model file, as shipped with botocore.
pub const MODEL_JSON: &str = include_str!("../model/voice-id-service-2.json");
/// voiceprint's extension operations (live call sessions), in the same botocore
/// form; merged into [`MODEL_JSON`] so they are validated like the rest. Also the
/// file a boto3 client loads to call them (docs/SESSIONS.md).
pub const EXTENSION_MODEL_JSON: &str = include_str!("../model/voiceprint-sessions.json");
/// voiceprint's contact extension operations (flows and agent actions, docs/FLOWS.md).
pub const CONTACTS_MODEL_JSON: &str = include_str!("../model/voiceprint-contacts.json");
/// voiceprint's agent panel token operation (CreateAgentToken, docs/AGENT.md).
pub const AGENT_MODEL_JSON: &str = include_str!("../model/voiceprint-agent.json");
/// voiceprint's engine-settings and voiceprint-lifecycle operations (docs/ENGINE-CONDITIONS.md).
pub const VOICEPRINTS_MODEL_JSON: &str = include_str!("../model/voiceprint-voiceprints.json");

/// Why a service model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("service model is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("service model: shape '{0}' is referenced but not defined")]
    UnknownShape(String),
    #[error("service model: shape '{shape}' has unsupported type '{kind}'")]
    UnsupportedType { shape: String, kind: String },
    #[error("service model: pattern of shape '{shape}' does not compile: {source}")]
    Pattern {
        shape: String,
        source: Box<regex::Error>,
    },
}

/// Index of a shape in [`ServiceModel::shapes`].
pub type ShapeId = usize;

/// One member of a structure.
#[derive(Debug)]
pub struct Member {
    /// The wire name (`DomainId`).
    pub name: String,
    /// The name as AWS prints it in validation messages (`domainId`).
    pub path_name: String,
    pub shape: ShapeId,
    pub required: bool,
}

/// A string pattern: the model's text (for messages) and its compiled form.
#[derive(Debug)]
pub struct Pattern {
    /// As printed in messages: the model's pattern without its `^…$` anchors.
    pub display: String,
    pub regex: Regex,
}

/// The constraints of one shape.
#[derive(Debug)]
pub enum ShapeKind {
    Structure(Vec<Member>),
    List {
        member: ShapeId,
        min: Option<u64>,
        max: Option<u64>,
    },
    Map {
        key: ShapeId,
        value: ShapeId,
        min: Option<u64>,
        max: Option<u64>,
    },
    String {
        min: Option<u64>,
        max: Option<u64>,
        pattern: Option<Pattern>,
        enum_values: Option<Vec<String>>,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Boolean,
    Timestamp,
    /// `double` / `float` (only in the extension model's outputs).
    Double,
}

#[derive(Debug)]
pub struct Shape {
    pub name: String,
    /// Marked `sensitive` in the model: its value is never echoed.
    pub sensitive: bool,
    pub kind: ShapeKind,
}

/// An operation's input shape.
#[derive(Debug)]
pub struct Operation {
    pub name: String,
    pub input: Option<ShapeId>,
}

/// The parsed, resolved model.
#[derive(Debug)]
pub struct ServiceModel {
    pub shapes: Vec<Shape>,
    operations: HashMap<String, Operation>,
}

#[derive(Deserialize)]
struct RawModel {
    operations: HashMap<String, RawOperation>,
    shapes: HashMap<String, RawShape>,
}

#[derive(Deserialize)]
struct RawOperation {
    input: Option<RawRef>,
}

#[derive(Deserialize)]
struct RawRef {
    shape: String,
}

#[derive(Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    members: HashMap<String, RawRef>,
    #[serde(default)]
    required: Vec<String>,
    member: Option<RawRef>,
    key: Option<RawRef>,
    value: Option<RawRef>,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    enum_values: Option<Vec<String>>,
    #[serde(default)]
    sensitive: bool,
}

impl ServiceModel {
    /// The embedded Voice ID model, parsed once.
    pub fn embedded() -> &'static ServiceModel {
        static MODEL: OnceLock<ServiceModel> = OnceLock::new();
        // The file is compiled in and covered by tests, so failing here is a build defect.
        MODEL.get_or_init(|| {
            ServiceModel::from_json_with_extensions(MODEL_JSON, &[EXTENSION_MODEL_JSON, CONTACTS_MODEL_JSON, AGENT_MODEL_JSON, VOICEPRINTS_MODEL_JSON])
                .expect("embedded Voice ID model is valid")
        })
    }

    /// Parse and resolve a botocore service model.
    pub fn from_json(text: &str) -> Result<ServiceModel, ModelError> {
        Self::from_json_with_extensions(text, &[])
    }

    /// [`ServiceModel::from_json`] plus the operations and shapes of `extensions`
    /// (models in the same form that may refer to the base model's shapes).
    pub fn from_json_with_extensions(
        text: &str,
        extensions: &[&str],
    ) -> Result<ServiceModel, ModelError> {
        let mut raw: RawModel = serde_json::from_str(text)?;
        for extension in extensions {
            let more: RawModel = serde_json::from_str(extension)?;
            raw.operations.extend(more.operations);
            raw.shapes.extend(more.shapes);
        }
        // Stable ids: shapes in name order.
        let mut names: Vec<&String> = raw.shapes.keys().collect();
        names.sort();
        let ids: HashMap<&str, ShapeId> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let resolve = |r: &RawRef| -> Result<ShapeId, ModelError> {
            ids.get(r.shape.as_str())
                .copied()
                .ok_or_else(|| ModelError::UnknownShape(r.shape.clone()))
        };
        let need = |r: &Option<RawRef>, what: &str, shape: &str| -> Result<ShapeId, ModelError> {
            match r {
                Some(r) => resolve(r),
                None => Err(ModelError::UnknownShape(format!("{shape}.{what}"))),
            }
        };
        let count = |v: Option<f64>| v.map(|x| x as u64);
        let mut shapes = Vec::with_capacity(names.len());
        for name in &names {
            let raw_shape = &raw.shapes[*name];
            let kind = match raw_shape.kind.as_str() {
                "structure" => {
                    let mut members: Vec<Member> = raw_shape
                        .members
                        .iter()
                        .map(|(m, r)| {
                            Ok(Member {
                                name: m.clone(),
                                path_name: lower_camel(m),
                                shape: resolve(r)?,
                                required: raw_shape.required.contains(m),
                            })
                        })
                        .collect::<Result<_, ModelError>>()?;
                    // Messages list failures in a stable order.
                    members.sort_by(|a, b| a.name.cmp(&b.name));
                    ShapeKind::Structure(members)
                }
                "list" => ShapeKind::List {
                    member: need(&raw_shape.member, "member", name)?,
                    min: count(raw_shape.min),
                    max: count(raw_shape.max),
                },
                "map" => ShapeKind::Map {
                    key: need(&raw_shape.key, "key", name)?,
                    value: need(&raw_shape.value, "value", name)?,
                    min: count(raw_shape.min),
                    max: count(raw_shape.max),
                },
                "string" => ShapeKind::String {
                    min: count(raw_shape.min),
                    max: count(raw_shape.max),
                    pattern: raw_shape
                        .pattern
                        .as_deref()
                        .map(|p| compile_pattern(name, p))
                        .transpose()?,
                    enum_values: raw_shape.enum_values.clone(),
                },
                "integer" | "long" => ShapeKind::Integer {
                    min: raw_shape.min.map(|x| x as i64),
                    max: raw_shape.max.map(|x| x as i64),
                },
                "boolean" => ShapeKind::Boolean,
                "timestamp" => ShapeKind::Timestamp,
                "double" | "float" => ShapeKind::Double,
                other => {
                    return Err(ModelError::UnsupportedType {
                        shape: (*name).clone(),
                        kind: other.to_string(),
                    })
                }
            };
            shapes.push(Shape {
                name: (*name).clone(),
                sensitive: raw_shape.sensitive,
                kind,
            });
        }
        let operations = raw
            .operations
            .iter()
            .map(|(name, op)| {
                Ok((
                    name.clone(),
                    Operation {
                        name: name.clone(),
                        input: op.input.as_ref().map(&resolve).transpose()?,
                    },
                ))
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(ServiceModel { shapes, operations })
    }

    /// The operation named `name` (`CreateDomain`), if the model has it.
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }

    /// Every operation name, sorted.
    pub fn operation_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.operations.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    pub fn shape(&self, id: ShapeId) -> &Shape {
        &self.shapes[id]
    }

    /// The shape named `name`, if any.
    pub fn shape_named(&self, name: &str) -> Option<&Shape> {
        self.shapes.iter().find(|s| s.name == name)
    }
}

/// `DomainId` → `domainId`: how AWS's validation messages name members.
fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Compile a model pattern (Java `java.util.regex` syntax, matched against the
/// whole value) as a Rust regex anchored at both ends.
fn compile_pattern(shape: &str, pattern: &str) -> Result<Pattern, ModelError> {
    let translated = translate_java_pattern(pattern);
    let regex = regex::RegexBuilder::new(&format!("^(?:{translated})$"))
        // `\p{ASCII}{0,8192}` (NextToken) expands beyond the default limit.
        .size_limit(64 << 20)
        .build()
        .map_err(|e| ModelError::Pattern {
            shape: shape.to_string(),
            source: Box::new(e),
        })?;
    let display = pattern.strip_prefix('^').unwrap_or(pattern);
    let display = display
        .strip_suffix('$')
        .filter(|d| !d.ends_with('\\'))
        .unwrap_or(display);
    Ok(Pattern {
        display: display.to_string(),
        regex,
    })
}

/// Java class names the Rust regex crate spells differently. Java's `\p{L}`,
/// `\p{N}`, `\p{Z}` are Unicode categories in both; the POSIX-style classes
/// (`\p{ASCII}`, `\p{Alnum}`…) are ASCII-only in Java and must become explicit
/// ranges here.
fn translate_java_pattern(pattern: &str) -> String {
    const POSIX: &[(&str, &str)] = &[
        (r"\p{ASCII}", r"\x00-\x7F"),
        (r"\p{Alpha}", r"a-zA-Z"),
        (r"\p{Digit}", r"0-9"),
        (r"\p{Alnum}", r"a-zA-Z0-9"),
        (r"\p{Upper}", r"A-Z"),
        (r"\p{Lower}", r"a-z"),
        (r"\p{Punct}", r"!-/:-@\[-`{-~"),
        (r"\p{Space}", r" \t\n\x0B\f\r"),
    ];
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = 0usize;
    let mut rest = pattern;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '\\' {
            for (java, ranges) in POSIX {
                if let Some(after) = rest.strip_prefix(java) {
                    // Inside a class the ranges join it; outside they need brackets.
                    if in_class > 0 {
                        out.push_str(ranges);
                    } else {
                        out.push('[');
                        out.push_str(ranges);
                        out.push(']');
                    }
                    rest = after;
                    continue 'outer;
                }
            }
            // Copy any other escape verbatim (both characters).
            let mut it = rest.char_indices();
            it.next();
            let end = it.nth(1).map_or(rest.len(), |(i, _)| i);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        match c {
            '[' => in_class += 1,
            ']' if in_class > 0 => in_class -= 1,
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_model_has_the_29_operations_and_compiles_every_pattern() {
        let m = ServiceModel::embedded();
        assert_eq!(
            m.operation_names().len(),
            29 + crate::ops::EXTENSION_OPERATIONS.len()
        );
        for op in crate::OPERATIONS
            .iter()
            .chain(&crate::ops::EXTENSION_OPERATIONS)
        {
            assert!(m.operation(op).is_some(), "model lacks {op}");
        }
        let patterns = m
            .shapes
            .iter()
            .filter(|s| {
                matches!(
                    s.kind,
                    ShapeKind::String {
                        pattern: Some(_),
                        ..
                    }
                )
            })
            .count();
        assert!(patterns >= 20, "only {patterns} patterns compiled");
    }

    #[test]
    fn structure_members_carry_required_flags_and_aws_path_names() {
        let m = ServiceModel::embedded();
        let op = m.operation("DescribeSpeaker").unwrap();
        let ShapeKind::Structure(members) = &m.shape(op.input.unwrap()).kind else {
            panic!("input is not a structure");
        };
        let names: Vec<(&str, &str, bool)> = members
            .iter()
            .map(|mb| (mb.name.as_str(), mb.path_name.as_str(), mb.required))
            .collect();
        assert_eq!(
            names,
            vec![
                ("DomainId", "domainId", true),
                ("SpeakerId", "speakerId", true)
            ]
        );
    }

    #[test]
    fn java_posix_classes_are_translated_inside_and_outside_brackets() {
        assert_eq!(
            translate_java_pattern(r"^\p{ASCII}{0,8}$"),
            r"^[\x00-\x7F]{0,8}$"
        );
        assert_eq!(translate_java_pattern(r"[\p{Digit}x]"), r"[0-9x]");
        // Unicode categories and ordinary escapes pass through unchanged.
        assert_eq!(
            translate_java_pattern(r"^([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)$"),
            r"^([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)$"
        );
    }

    #[test]
    fn patterns_match_whole_values_like_java_matches() {
        let p = compile_pattern("DomainId", "[a-zA-Z0-9]{22}").unwrap();
        assert!(p.regex.is_match(&"a".repeat(22)));
        assert!(
            !p.regex.is_match(&"a".repeat(23)),
            "must not match a prefix"
        );
        assert!(!p.regex.is_match(&format!("{}\n", "a".repeat(22))));
        let next_token = ServiceModel::embedded().shape_named("NextToken").unwrap();
        let ShapeKind::String {
            pattern: Some(p), ..
        } = &next_token.kind
        else {
            panic!("NextToken has a pattern");
        };
        assert!(p.regex.is_match("abc.DEF-123"));
        assert!(
            !p.regex.is_match("caf\u{e9}"),
            "non-ASCII is outside \\p{{ASCII}}"
        );
        assert_eq!(p.display, r"\p{ASCII}{0,8192}");
    }

    #[test]
    fn broken_models_are_typed_errors() {
        assert!(matches!(
            ServiceModel::from_json("{"),
            Err(ModelError::Json(_))
        ));
        let dangling = r#"{"operations":{"X":{"input":{"shape":"Nope"}}},"shapes":{}}"#;
        assert!(matches!(
            ServiceModel::from_json(dangling),
            Err(ModelError::UnknownShape(s)) if s == "Nope"
        ));
        let bad = r#"{"operations":{},"shapes":{"S":{"type":"string","pattern":"(("}}}"#;
        assert!(matches!(
            ServiceModel::from_json(bad),
            Err(ModelError::Pattern { .. })
        ));
    }
}
