//! Input/output schemas: dotprompt's Picoschema → JSON Schema, and validation of a value.
//!
//! The validator implements the JSON Schema subset agent schemas use (see
//! docs/decisions/0009-model-providers.md for why not a full validator crate): `type`
//! (one or a list), `properties`, `required`, `additionalProperties` (bool or schema),
//! `items`, `enum`, `const`, `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`,
//! `minLength`/`maxLength`, `minItems`/`maxItems`, `anyOf`/`oneOf`/`allOf`/`not`. Other
//! keywords (`format`, `pattern`, `$ref`, …) are accepted and not checked.

use serde_json::{Map, Value, json};

use crate::error::PromptError;

const SCALAR_TYPES: &[&str] = &["string", "boolean", "null", "number", "integer", "any"];

/// Converts a schema as written in a `.prompt` front matter into JSON Schema. A value that
/// is already JSON Schema (a top-level `type: object|array`, or `properties`) is kept.
pub fn to_json_schema(schema: &Value) -> Result<Value, PromptError> {
    match schema {
        Value::Null => Ok(json!({})),
        Value::String(s) => scalar(s),
        Value::Object(m) => {
            if matches!(
                m.get("type").and_then(Value::as_str),
                Some("object" | "array")
            ) {
                return Ok(schema.clone());
            }
            if m.get("properties").is_some_and(Value::is_object) {
                let mut out = m.clone();
                out.insert("type".into(), "object".into());
                return Ok(Value::Object(out));
            }
            pico_object(m, "")
        }
        other => Err(PromptError::Schema(format!(
            "expected a mapping or a type name, got `{other}`"
        ))),
    }
}

/// Checks `value` against `schema` (Picoschema or JSON Schema). The errors name the path
/// of each offending value (`$.items[2].name: expected string, got number`).
pub fn validate(schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let schema = to_json_schema(schema).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    check(&schema, value, "$", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// `type, description` → (type, description).
fn split_description(text: &str) -> (&str, Option<&str>) {
    match text.split_once(',') {
        Some((t, d)) => (t.trim(), Some(d.trim())),
        None => (text.trim(), None),
    }
}

fn scalar(text: &str) -> Result<Value, PromptError> {
    let (ty, description) = split_description(text);
    if !SCALAR_TYPES.contains(&ty) {
        return Err(PromptError::Schema(format!(
            "unknown type `{ty}` (use string, number, integer, boolean, null, any, or name(object) / name(array))"
        )));
    }
    let mut out = Map::new();
    if ty != "any" {
        out.insert("type".into(), ty.into());
    }
    if let Some(d) = description {
        out.insert("description".into(), d.into());
    }
    Ok(Value::Object(out))
}

fn pico(value: &Value, path: &str) -> Result<Value, PromptError> {
    match value {
        Value::String(s) => scalar(s).map_err(|e| at(path, e)),
        Value::Object(m) => pico_object(m, path),
        other => Err(PromptError::Schema(format!(
            "{path}: expected a type or a mapping, got `{other}`"
        ))),
    }
}

fn pico_object(fields: &Map<String, Value>, path: &str) -> Result<Value, PromptError> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut additional = Value::Bool(false);
    for (key, def) in fields {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if key == "(*)" {
            additional = pico(def, &here)?;
            continue;
        }
        let (name, type_info) = match key.split_once('(') {
            Some((n, rest)) => {
                let inner = rest.strip_suffix(')').ok_or_else(|| {
                    PromptError::Schema(format!("{here}: `(` without `)` in the field name"))
                })?;
                (n.trim(), Some(inner))
            }
            None => (key.trim(), None),
        };
        let optional = name.ends_with('?');
        let name = name.trim_end_matches('?');
        if !optional {
            required.push(Value::from(name));
        }
        let mut prop = match type_info {
            None => pico(def, &here)?,
            Some(info) => {
                let (ty, description) = split_description(info);
                let mut prop = match ty {
                    "array" => json!({"type": "array", "items": pico(def, &here)?}),
                    "object" => pico(def, &here)?,
                    "enum" => {
                        let values = def.as_array().ok_or_else(|| {
                            PromptError::Schema(format!("{here}: an enum needs a list of values"))
                        })?;
                        let mut values = values.clone();
                        if optional && !values.contains(&Value::Null) {
                            values.push(Value::Null);
                        }
                        json!({"enum": values})
                    }
                    other => {
                        return Err(PromptError::Schema(format!(
                            "{here}: parenthetical types must be object, array or enum, got `{other}`"
                        )));
                    }
                };
                if let Some(d) = description {
                    prop["description"] = d.into();
                }
                prop
            }
        };
        if optional && let Some(Value::String(t)) = prop.get("type").cloned() {
            prop["type"] = json!([t, "null"]);
        }
        properties.insert(name.to_owned(), prop);
    }
    let mut out =
        json!({"type": "object", "properties": properties, "additionalProperties": additional});
    if !required.is_empty() {
        out["required"] = required.into();
    }
    Ok(out)
}

fn at(path: &str, e: PromptError) -> PromptError {
    match e {
        PromptError::Schema(m) if !path.is_empty() => PromptError::Schema(format!("{path}: {m}")),
        other => other,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_type(v: &Value, ty: &str) -> bool {
    match ty {
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => type_name(v) == other,
    }
}

fn check(schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{path}: no value is allowed here"));
        }
        return;
    };
    if let Some(ty) = s.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() && !types.iter().any(|t| is_type(v, t)) {
            errors.push(format!(
                "{path}: expected {}, got {}",
                types.join(" or "),
                type_name(v)
            ));
            return;
        }
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(v)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        errors.push(format!("{path}: {v} is not one of {}", list.join(", ")));
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errors.push(format!("{path}: expected {c}, got {v}"));
    }
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    let count = |k: &str| s.get(k).and_then(Value::as_u64).map(|n| n as usize);
    if let Some(x) = v.as_f64() {
        let bounds = [
            ("minimum", num("minimum").filter(|m| x < *m)),
            ("maximum", num("maximum").filter(|m| x > *m)),
            (
                "exclusiveMinimum",
                num("exclusiveMinimum").filter(|m| x <= *m),
            ),
            (
                "exclusiveMaximum",
                num("exclusiveMaximum").filter(|m| x >= *m),
            ),
        ];
        for (name, bound) in bounds {
            if let Some(b) = bound {
                errors.push(format!("{path}: {x} violates {name} {b}"));
            }
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count();
        if let Some(min) = count("minLength").filter(|m| len < *m) {
            errors.push(format!("{path}: shorter than {min} characters"));
        }
        if let Some(max) = count("maxLength").filter(|m| len > *m) {
            errors.push(format!("{path}: longer than {max} characters"));
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(min) = count("minItems").filter(|m| items.len() < *m) {
            errors.push(format!("{path}: fewer than {min} items"));
        }
        if let Some(max) = count("maxItems").filter(|m| items.len() > *m) {
            errors.push(format!("{path}: more than {max} items"));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}[{i}]"), errors);
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for name in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str()
                && !obj.contains_key(name)
            {
                errors.push(format!("{path}: missing required field `{name}`"));
            }
        }
        for (key, val) in obj {
            let here = format!("{path}.{key}");
            match props.and_then(|p| p.get(key)) {
                Some(ps) => check(ps, val, &here, errors),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{path}: unexpected field `{key}`"))
                    }
                    Some(extra @ Value::Object(_)) => check(extra, val, &here, errors),
                    _ => {}
                },
            }
        }
    }
    let passes = |sub: &Value| {
        let mut e = Vec::new();
        check(sub, v, path, &mut e);
        e.is_empty()
    };
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            check(sub, v, path, errors);
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf")
        && !any.iter().any(passes)
    {
        errors.push(format!("{path}: matches none of the anyOf schemas"));
    }
    if let Some(Value::Array(one)) = s.get("oneOf") {
        let n = one.iter().filter(|sub| passes(sub)).count();
        if n != 1 {
            errors.push(format!(
                "{path}: matches {n} of the oneOf schemas (exactly one needed)"
            ));
        }
    }
    if let Some(not) = s.get("not")
        && passes(not)
    {
        errors.push(format!("{path}: matches a schema it must not match"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picoschema_fields_optional_descriptions_objects_arrays_enums() {
        let yaml_like = json!({
            "name": "string, the user's name",
            "age?": "integer",
            "address(object, where they live)": {"street": "string", "zip?": "string"},
            "tags(array)": "string",
            "level(enum, how loud)": ["low", "high"],
            "mood?(enum)": ["ok"],
            "extra?": "any, anything"
        });
        let s = to_json_schema(&yaml_like).unwrap();
        assert_eq!(s["type"], "object");
        assert_eq!(s["additionalProperties"], false);
        // serde_json maps are sorted by key, so `required` is in key order.
        assert_eq!(s["required"], json!(["address", "level", "name", "tags"]));
        assert_eq!(
            s["properties"]["name"],
            json!({"type": "string", "description": "the user's name"})
        );
        assert_eq!(s["properties"]["age"], json!({"type": ["integer", "null"]}));
        assert_eq!(s["properties"]["address"]["description"], "where they live");
        assert_eq!(s["properties"]["address"]["required"], json!(["street"]));
        assert_eq!(
            s["properties"]["tags"],
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(
            s["properties"]["level"],
            json!({"enum": ["low", "high"], "description": "how loud"})
        );
        assert_eq!(s["properties"]["mood"], json!({"enum": ["ok", null]}));
        assert_eq!(s["properties"]["extra"], json!({"description": "anything"}));
    }

    #[test]
    fn wildcard_and_json_schema_pass_through() {
        let s = to_json_schema(&json!({"(*)": "number"})).unwrap();
        assert_eq!(s["additionalProperties"], json!({"type": "number"}));
        let js = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(to_json_schema(&js).unwrap(), js);
        let props_only = to_json_schema(&json!({"properties": {"a": {}}})).unwrap();
        assert_eq!(props_only["type"], "object");
    }

    #[test]
    fn bad_picoschema_names_the_field() {
        let err = to_json_schema(&json!({"user": {"age": "int"}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("user.age") && err.contains("`int`"), "{err}");
        let err = to_json_schema(&json!({"x(map)": "string"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`map`"), "{err}");
    }

    #[test]
    fn validation_reports_every_problem_with_its_path() {
        let schema =
            json!({"name": "string", "items(array)": {"id": "integer"}, "level(enum)": ["a", "b"]});
        assert!(
            validate(
                &schema,
                &json!({"name": "x", "items": [{"id": 1}], "level": "a"})
            )
            .is_ok()
        );
        let errs = validate(
            &schema,
            &json!({"items": [{"id": "1"}, {"id": 2, "z": 0}], "level": "c"}),
        )
        .unwrap_err();
        assert!(
            errs.contains(&"$: missing required field `name`".to_owned()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"$.items[0].id: expected integer, got string".to_owned()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"$.items[1]: unexpected field `z`".to_owned()),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("$.level: \"c\" is not one of")),
            "{errs:?}"
        );
    }

    #[test]
    fn json_schema_keywords() {
        let s = json!({"type": "object", "properties": {
            "n": {"type": "number", "minimum": 0, "exclusiveMaximum": 10},
            "s": {"type": "string", "minLength": 2, "maxLength": 3},
            "l": {"type": "array", "minItems": 1},
            "u": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "o": {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        }});
        assert!(
            validate(
                &s,
                &json!({"n": 0, "s": "ab", "l": [1], "u": null, "o": 1.5})
            )
            .is_ok()
        );
        let errs =
            validate(&s, &json!({"n": 10, "s": "abcd", "l": [], "u": 1, "o": 1})).unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(is_type(&json!(2.0), "integer"));
    }
}
