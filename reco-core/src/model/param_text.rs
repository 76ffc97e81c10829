//! Hyper-parameters set from text (`--param factors=128`, the bindings' keyword arguments) through serde:
//! a parameter is a field of the model's serialisable parameter struct, and its text is read as the type
//! that field holds (integer, float, flag, list), so a value of the wrong type is a serde error naming
//! the expected type and an unknown key an error listing the valid ones — no per-field parser to keep in
//! step with the structs.

use crate::error::{RecoError, Result};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// `params` with field `key` set from `value`, or `None` when `key` is not a settable field (it is not a
/// field, or it is in `hidden`: fields set some other way).
pub(crate) fn set_field<P: Serialize + DeserializeOwned>(
    params: &P,
    key: &str,
    value: &str,
    hidden: &[&str],
) -> Result<Option<P>> {
    let Ok(Value::Object(mut fields)) = serde_json::to_value(params) else {
        return Err(RecoError::param(key, "parameters do not serialise to named fields"));
    };
    let Some(old) = fields.get(key).filter(|_| !hidden.contains(&key)) else { return Ok(None) };
    let new = match old {
        Value::Bool(_) => Value::Bool(flag(key, value)?),
        Value::Array(_) => Value::Array(value.split(['-', ',']).map(|v| number(key, v)).collect::<Result<_>>()?),
        Value::String(_) => Value::String(value.trim().to_string()),
        // a number, or an optional one that is unset
        _ => number(key, value)?,
    };
    fields.insert(key.to_string(), new);
    serde_json::from_value(Value::Object(fields))
        .map(Some)
        .map_err(|e| RecoError::param(key, format!("`{}`: {e}", value.trim())))
}

/// A flag: true/1/yes/on or false/0/no/off.
pub(crate) fn flag(key: &str, v: &str) -> Result<bool> {
    match v.trim() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        o => Err(RecoError::param(key, format!("`{o}` is not true or false"))),
    }
}

/// A number as text, of any type (the field it goes into says which it must be).
pub(crate) fn number(key: &str, v: &str) -> Result<Value> {
    v.trim()
        .parse::<serde_json::Number>()
        .map(Value::Number)
        .map_err(|_| RecoError::param(key, format!("`{v}` is not a valid number")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Als, Bpr, Ncf, NcfKind};

    #[test]
    fn fields_are_read_as_their_type() {
        let p = set_field(&Als::params(), "factors", " 128 ", &[]).unwrap().unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap()["factors"], 128);
        let p = set_field(&Bpr::params(), "blocks", "4", &[]).unwrap().unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap()["blocks"], 4, "an unset option takes a number");
        let p = set_field(&Ncf::params(NcfKind::Mlp), "tower", "64-32,16", &[]).unwrap().unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap()["tower"], serde_json::json!([64, 32, 16]));
        let p = set_field(&Ncf::params(NcfKind::Mlp), "pretrain", "yes", &[]).unwrap().unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap()["pretrain"], true);
    }

    #[test]
    fn wrong_types_and_unknown_keys_are_refused() {
        let e = |k, v| set_field(&Als::params(), k, v, &[]).unwrap_err().to_string();
        assert!(e("factors", "1.5").contains("expected usize"), "{}", e("factors", "1.5"));
        assert!(e("factors", "-3").contains("expected usize"), "{}", e("factors", "-3"));
        assert!(e("alpha", "abc").contains("not a valid number"));
        assert!(e("alpha", "NaN").contains("not a valid number"));
        assert!(set_field(&Als::params(), "factorz", "3", &[]).unwrap().is_none());
        assert!(set_field(&Ncf::params(NcfKind::Gmf), "kind", "3", &["kind"]).unwrap().is_none());
        assert!(set_field(&Ncf::params(NcfKind::Gmf), "pretrain", "maybe", &[])
            .unwrap_err()
            .to_string()
            .contains("true or false"));
    }
}
