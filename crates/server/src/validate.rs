//! Input validation from the service model's constraints, with AWS's messages.
//!
//! What it does: walks an operation's JSON input against its input shape —
//! required members, string length (in UTF-16 units, as Java counts), enum
//! values, patterns, integer ranges, list/map sizes, nested structures, lists
//! and maps — and reports every failure in one `ValidationException` message:
//! `1 validation error detected: Value at 'domainId' failed to satisfy
//! constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9]{22}`,
//! members named in lower camel case, list items as `tags.1.member.key`.
//!
//! What it does not do: Voice ID's semantic rules (existence, quotas, states —
//! those are `voiceprint-voiceid`'s), or complain about unknown members (AWS
//! ignores them). Values are never echoed back: many members are `sensitive`
//! (names, speaker ids) and the path alone says what to fix.
//!
//! Key decision: JSON nulls count as absent, as AWS's JSON protocol treats them;
//! a value of the wrong JSON type is reported here too, naming the member,
//! rather than surfacing later as an opaque decoding error.

use serde_json::Value;

use crate::model::{ServiceModel, ShapeId, ShapeKind};

/// The input broke at least one constraint; `message` is the full AWS text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationFailure {
    pub message: String,
    /// Each constraint failure (`Value at '…' failed to satisfy constraint: …`).
    pub failures: Vec<String>,
}

/// Validate `input` for operation `op`. An operation the model does not know
/// (never the case for dispatched operations) has nothing to check.
pub fn validate_input(
    model: &ServiceModel,
    op: &str,
    input: &Value,
) -> Result<(), ValidationFailure> {
    let Some(shape) = model.operation(op).and_then(|o| o.input) else {
        return Ok(());
    };
    let mut walker = Walker {
        model,
        path: String::new(),
        failures: Vec::new(),
    };
    walker.check(shape, input);
    if walker.failures.is_empty() {
        return Ok(());
    }
    let n = walker.failures.len();
    let message = format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        walker.failures.join("; ")
    );
    Err(ValidationFailure {
        message,
        failures: walker.failures,
    })
}

struct Walker<'m> {
    model: &'m ServiceModel,
    /// Path of the value being checked (`tags.1.member.key`); built in place.
    path: String,
    failures: Vec<String>,
}

impl Walker<'_> {
    fn fail(&mut self, constraint: impl std::fmt::Display) {
        self.failures.push(format!(
            "Value at '{}' failed to satisfy constraint: {constraint}",
            self.path
        ));
    }

    fn enter(&mut self, segment: &str) -> usize {
        let len = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(segment);
        len
    }

    fn check(&mut self, id: ShapeId, value: &Value) {
        let model = self.model;
        match (&model.shape(id).kind, value) {
            (ShapeKind::Structure(members), Value::Object(map)) => {
                for m in members {
                    let mark = self.enter(&m.path_name);
                    match map.get(&m.name) {
                        None | Some(Value::Null) if m.required => self.failures.push(format!(
                            "Value null at '{}' failed to satisfy constraint: Member must not be null",
                            self.path
                        )),
                        None | Some(Value::Null) => {}
                        Some(v) => self.check(m.shape, v),
                    }
                    self.path.truncate(mark);
                }
            }
            (ShapeKind::List { member, min, max }, Value::Array(items)) => {
                self.check_length(items.len() as u64, *min, *max);
                for (i, item) in items.iter().enumerate() {
                    // AWS numbers list items from 1.
                    let mark = self.enter(&format!("{}.member", i + 1));
                    if item.is_null() {
                        self.fail("Member must not be null");
                    } else {
                        self.check(*member, item);
                    }
                    self.path.truncate(mark);
                }
            }
            (
                ShapeKind::Map {
                    key,
                    value: value_shape,
                    min,
                    max,
                },
                Value::Object(map),
            ) => {
                self.check_length(map.len() as u64, *min, *max);
                for (k, v) in map {
                    let mark = self.enter(k);
                    self.check(*key, &Value::String(k.clone()));
                    if v.is_null() {
                        self.fail("Member must not be null");
                    } else {
                        self.check(*value_shape, v);
                    }
                    self.path.truncate(mark);
                }
            }
            (
                ShapeKind::String {
                    min,
                    max,
                    pattern,
                    enum_values,
                },
                Value::String(s),
            ) => {
                if let Some(allowed) = enum_values {
                    if !allowed.iter().any(|a| a == s) {
                        self.fail(format_args!(
                            "Member must satisfy enum value set: [{}]",
                            allowed.join(", ")
                        ));
                    }
                }
                if min.is_some() || max.is_some() {
                    // Java's String.length(): UTF-16 code units.
                    let len = s.encode_utf16().count() as u64;
                    self.check_length(len, *min, *max);
                }
                if let Some(p) = pattern {
                    if !p.regex.is_match(s) {
                        self.fail(format_args!(
                            "Member must satisfy regular expression pattern: {}",
                            p.display
                        ));
                    }
                }
            }
            (ShapeKind::Integer { min, max }, Value::Number(n)) => match n.as_i64() {
                Some(v) => {
                    if let Some(lo) = min.filter(|lo| v < *lo) {
                        self.fail(format_args!(
                            "Member must have value greater than or equal to {lo}"
                        ));
                    }
                    if let Some(hi) = max.filter(|hi| v > *hi) {
                        self.fail(format_args!(
                            "Member must have value less than or equal to {hi}"
                        ));
                    }
                }
                None => self.fail("Member must be an integer"),
            },
            (ShapeKind::Boolean, Value::Bool(_)) => {}
            // awsJson timestamps are epoch seconds; SDKs send numbers.
            (ShapeKind::Timestamp, Value::Number(_)) => {}
            (ShapeKind::Double, Value::Number(_)) => {}
            (kind, _) => {
                let expected = match kind {
                    ShapeKind::Structure(_) | ShapeKind::Map { .. } => "a JSON object",
                    ShapeKind::List { .. } => "a JSON array",
                    ShapeKind::String { .. } => "a string",
                    ShapeKind::Integer { .. } => "an integer",
                    ShapeKind::Boolean => "a boolean",
                    ShapeKind::Timestamp => "a timestamp (epoch seconds)",
                    ShapeKind::Double => "a number",
                };
                self.fail(format_args!("Member must be {expected}"));
            }
        }
    }

    fn check_length(&mut self, len: u64, min: Option<u64>, max: Option<u64>) {
        if let Some(lo) = min.filter(|lo| len < *lo) {
            self.fail(format_args!(
                "Member must have length greater than or equal to {lo}"
            ));
        }
        if let Some(hi) = max.filter(|hi| len > *hi) {
            self.fail(format_args!(
                "Member must have length less than or equal to {hi}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DOMAIN: &str = "AbCdEfGhIjKlMnOpQrStUv";
    const WATCHLIST: &str = "WaTcHlIsT0123456789abc";

    fn check(op: &str, input: Value) -> Result<(), ValidationFailure> {
        validate_input(ServiceModel::embedded(), op, &input)
    }

    fn message(op: &str, input: Value) -> String {
        check(op, input).expect_err("input must be refused").message
    }

    #[test]
    fn valid_inputs_pass_on_real_operations() {
        check(
            "DescribeSpeaker",
            json!({"DomainId": DOMAIN, "SpeakerId": "caller-42"}),
        )
        .unwrap();
        check(
            "CreateDomain",
            json!({"Name": "main_domain-1", "Description": "Fraud team: main/line @ 100%",
                   "ServerSideEncryptionConfiguration": {"KmsKeyId": "default"},
                   "ClientToken": "tok-1", "Tags": [{"Key": "team", "Value": ""}]}),
        )
        .unwrap();
        check(
            "ListSpeakers",
            json!({"DomainId": DOMAIN, "MaxResults": 100, "NextToken": "x.y"}),
        )
        .unwrap();
        check(
            "StartFraudsterRegistrationJob",
            json!({"DomainId": DOMAIN, "DataAccessRoleArn": "arn:aws:iam::123456789012:role/voice",
                   "InputDataConfig": {"S3Uri": "s3://bucket/in.json"},
                   "OutputDataConfig": {"S3Uri": "s3://bucket/out/"},
                   "RegistrationConfig": {"DuplicateRegistrationAction": "SKIP", "FraudsterSimilarityThreshold": 0,
                                          "WatchlistIds": [WATCHLIST]}}),
        )
        .unwrap();
        // Unknown members are ignored, as AWS does.
        check(
            "DescribeDomain",
            json!({"DomainId": DOMAIN, "Surprise": [1, 2]}),
        )
        .unwrap();
    }

    #[test]
    fn pattern_failure_names_the_member_like_aws() {
        assert_eq!(
            message("DescribeDomain", json!({"DomainId": "A".repeat(21) + "!"})),
            "1 validation error detected: Value at 'domainId' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [a-zA-Z0-9]{22}"
        );
        // Fraudster ids need their id# prefix.
        let m = message(
            "DescribeFraudster",
            json!({"DomainId": DOMAIN, "FraudsterId": format!("xx#{}", "a".repeat(22))}),
        );
        assert!(
            m.contains("Value at 'fraudsterId' failed to satisfy constraint: Member must satisfy regular expression pattern: id#[a-zA-Z0-9]{22}"),
            "{m}"
        );
    }

    #[test]
    fn required_members_are_reported_null_and_nulls_count_as_absent() {
        assert_eq!(
            message("DescribeSpeaker", json!({"DomainId": DOMAIN, "SpeakerId": null})),
            "1 validation error detected: Value null at 'speakerId' failed to satisfy constraint: Member must not be null"
        );
        let m = message("DescribeSpeaker", json!({}));
        assert!(m.starts_with("2 validation errors detected: "), "{m}");
        assert!(
            m.contains("Value null at 'domainId'") && m.contains("Value null at 'speakerId'"),
            "{m}"
        );
        // An optional member set to null is simply absent.
        check("ListDomains", json!({"MaxResults": null})).unwrap();
    }

    #[test]
    fn string_lengths_are_checked_at_both_ends() {
        let m = message(
            "CreateDomain",
            json!({"Name": "", "ServerSideEncryptionConfiguration": {"KmsKeyId": "k"}}),
        );
        assert!(m.contains("Value at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1"), "{m}");
        let m = message(
            "CreateDomain",
            json!({"Name": "n".repeat(257), "ServerSideEncryptionConfiguration": {"KmsKeyId": "k"}}),
        );
        assert_eq!(
            m,
            "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 256"
        );
        check("CreateDomain", json!({"Name": "n".repeat(256), "ServerSideEncryptionConfiguration": {"KmsKeyId": "k"}}))
            .unwrap();
    }

    #[test]
    fn length_counts_utf16_units_like_java() {
        // 'ä' is one UTF-16 unit (two UTF-8 bytes): 1024 of them fit a Description.
        let ok = "\u{e4}".repeat(1024);
        check("CreateDomain", json!({"Name": "n", "Description": ok, "ServerSideEncryptionConfiguration": {"KmsKeyId": "k"}}))
            .unwrap();
        let too_long = "\u{e4}".repeat(1025);
        let m = message(
            "CreateDomain",
            json!({"Name": "n", "Description": too_long, "ServerSideEncryptionConfiguration": {"KmsKeyId": "k"}}),
        );
        assert!(
            m.contains("'description'") && m.contains("less than or equal to 1024"),
            "{m}"
        );
    }

    #[test]
    fn unicode_category_patterns_accept_letters_and_refuse_symbols() {
        let input = |d: &str| json!({"Name": "n", "Description": d, "ServerSideEncryptionConfiguration": {"KmsKeyId": "k"}});
        check("CreateDomain", input("Équipe fraude 東京 42")).unwrap();
        let m = message("CreateDomain", input("no <script>"));
        assert!(
            m.contains(
                r"Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)"
            ),
            "{m}"
        );
    }

    #[test]
    fn enums_list_the_allowed_values() {
        let m = message(
            "StartSpeakerEnrollmentJob",
            json!({"DomainId": DOMAIN, "DataAccessRoleArn": "arn:aws:iam::123456789012:role/voice",
                   "InputDataConfig": {"S3Uri": "s3://bucket/in.json"}, "OutputDataConfig": {"S3Uri": "s3://bucket/out/"},
                   "EnrollmentConfig": {"ExistingEnrollmentAction": "REPLACE"}}),
        );
        assert_eq!(
            m,
            "1 validation error detected: Value at 'enrollmentConfig.existingEnrollmentAction' failed to satisfy \
             constraint: Member must satisfy enum value set: [SKIP, OVERWRITE]"
        );
    }

    #[test]
    fn integer_ranges_bound_max_results() {
        for (op, max) in [
            ("ListSpeakers", 100),
            ("ListFraudsterRegistrationJobs", 100),
        ] {
            let m = message(op, json!({"DomainId": DOMAIN, "MaxResults": 0}));
            assert!(m.contains("Value at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"), "{m}");
            let m = message(op, json!({"DomainId": DOMAIN, "MaxResults": max + 1}));
            assert!(
                m.contains(&format!(
                    "Member must have value less than or equal to {max}"
                )),
                "{m}"
            );
            check(op, json!({"DomainId": DOMAIN, "MaxResults": max})).unwrap();
        }
        let m = message("ListDomains", json!({"MaxResults": 11}));
        assert!(m.contains("less than or equal to 10"), "{m}");
        // Score thresholds are 0..=100.
        let m = message(
            "StartFraudsterRegistrationJob",
            json!({"DomainId": DOMAIN, "DataAccessRoleArn": "arn:aws:iam::123456789012:role/voice",
                   "InputDataConfig": {"S3Uri": "s3://bucket/in.json"}, "OutputDataConfig": {"S3Uri": "s3://bucket/out/"},
                   "RegistrationConfig": {"FraudsterSimilarityThreshold": 101}}),
        );
        assert!(
            m.contains("'registrationConfig.fraudsterSimilarityThreshold'")
                && m.contains("less than or equal to 100"),
            "{m}"
        );
    }

    #[test]
    fn list_lengths_and_items_are_checked_with_aws_item_paths() {
        let m = message(
            "AssociateFraudster",
            json!({"DomainId": DOMAIN, "FraudsterId": format!("id#{}", "a".repeat(22)), "WatchlistId": "short"}),
        );
        assert!(m.contains("'watchlistId'"), "{m}");
        let m = message(
            "StartFraudsterRegistrationJob",
            json!({"DomainId": DOMAIN, "DataAccessRoleArn": "arn:aws:iam::123456789012:role/voice",
                   "InputDataConfig": {"S3Uri": "s3://bucket/in.json"}, "OutputDataConfig": {"S3Uri": "s3://bucket/out/"},
                   "RegistrationConfig": {"WatchlistIds": [WATCHLIST, WATCHLIST]}}),
        );
        assert!(m.contains("Value at 'registrationConfig.watchlistIds' failed to satisfy constraint: Member must have length less than or equal to 1"), "{m}");
        let tags: Vec<Value> = (0..201)
            .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
            .collect();
        let m = message(
            "TagResource",
            json!({"ResourceArn": format!("arn:aws:voiceid:us-east-1:123456789012:domain/{DOMAIN}"), "Tags": tags}),
        );
        assert!(m.contains("Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 200"), "{m}");
        let m = message(
            "TagResource",
            json!({"ResourceArn": format!("arn:aws:voiceid:us-east-1:123456789012:domain/{DOMAIN}"),
                   "Tags": [{"Key": "ok", "Value": "v"}, {"Key": "bad<", "Value": "v"}, {"Value": "v"}]}),
        );
        assert!(m.starts_with("2 validation errors detected: "), "{m}");
        assert!(m.contains("Value at 'tags.2.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern"), "{m}");
        assert!(m.contains("Value null at 'tags.3.member.key'"), "{m}");
        let m = message(
            "UntagResource",
            json!({"ResourceArn": format!("arn:aws:voiceid:us-east-1:123456789012:domain/{DOMAIN}"), "TagKeys": [""]}),
        );
        assert!(m.contains("Value at 'tagKeys.1.member' failed to satisfy constraint: Member must have length greater than or equal to 1"), "{m}");
    }

    #[test]
    fn nested_required_members_are_found() {
        let m = message(
            "CreateDomain",
            json!({"Name": "n", "ServerSideEncryptionConfiguration": {}}),
        );
        assert_eq!(
            m,
            "1 validation error detected: Value null at 'serverSideEncryptionConfiguration.kmsKeyId' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn wrong_json_types_name_the_member() {
        let m = message(
            "ListSpeakers",
            json!({"DomainId": DOMAIN, "MaxResults": "10"}),
        );
        assert!(
            m.contains(
                "Value at 'maxResults' failed to satisfy constraint: Member must be an integer"
            ),
            "{m}"
        );
        let m = message(
            "ListSpeakers",
            json!({"DomainId": DOMAIN, "MaxResults": 1.5}),
        );
        assert!(
            m.contains("'maxResults'") && m.contains("an integer"),
            "{m}"
        );
        let m = message("DescribeDomain", json!({"DomainId": 7}));
        assert!(
            m.contains("Value at 'domainId' failed to satisfy constraint: Member must be a string"),
            "{m}"
        );
        let m = message(
            "CreateDomain",
            json!({"Name": "n", "ServerSideEncryptionConfiguration": "default"}),
        );
        assert!(
            m.contains("'serverSideEncryptionConfiguration'") && m.contains("a JSON object"),
            "{m}"
        );
        let m = message(
            "TagResource",
            json!({"ResourceArn": format!("arn:aws:voiceid:us-east-1:123456789012:domain/{DOMAIN}"), "Tags": {}}),
        );
        assert!(m.contains("'tags'") && m.contains("a JSON array"), "{m}");
    }

    #[test]
    fn several_constraints_on_one_member_are_all_reported() {
        // Too long AND not matching the pattern.
        let m = message("DescribeDomain", json!({"DomainId": "!".repeat(23)}));
        assert!(m.starts_with("2 validation errors detected: "), "{m}");
        assert!(
            m.contains("less than or equal to 22") && m.contains("regular expression pattern"),
            "{m}"
        );
    }

    #[test]
    fn values_are_never_echoed() {
        let secret_name = "Bob Smith <bob@example.com>";
        let m = message(
            "CreateDomain",
            json!({"Name": secret_name, "ServerSideEncryptionConfiguration": {"KmsKeyId": "k"}}),
        );
        assert!(!m.contains("Bob"), "{m}");
    }
}
