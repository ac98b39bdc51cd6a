//! Parameters given as MXNet gives them to its operators: names and string values
//! (`lr=0.1`, `lazy_update=True`), checked against the names a rule knows. The texts of
//! the errors follow dmlc's parameter parser, with the operator named.

use crate::error::{Error, Result};

pub struct Params<'a> {
    op: &'a str,
    pairs: &'a [(&'a str, &'a str)],
}

impl<'a> Params<'a> {
    /// Checks that every given name is one of `known`.
    pub fn new(op: &'a str, pairs: &'a [(&'a str, &'a str)], known: &[&str]) -> Result<Self> {
        if let Some((name, _)) = pairs.iter().find(|(n, _)| !known.contains(n)) {
            return Err(Error::invalid(format!(
                "Cannot find argument '{name}' of {op}, possible arguments: {}",
                known.join(", ")
            )));
        }
        Ok(Params { op, pairs })
    }

    /// The value given last for `name` (a later value overrides, as in dmlc); the text
    /// `None` counts as not given.
    pub fn text_of(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| *v != "None")
    }

    fn parse<T: std::str::FromStr>(
        &self,
        name: &str,
        type_name: &str,
        default: Option<T>,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T> {
        match self.text_of(name) {
            Some(v) => parse(v).ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid Parameter format for {name} expect {type_name} but value='{v}', in operator {}",
                    self.op
                ))
            }),
            None => default.ok_or_else(|| {
                Error::invalid(format!(
                    "Required parameter {name} of {type_name} is not presented, in operator {}",
                    self.op
                ))
            }),
        }
    }

    /// A float32 field; `None` for `default` makes it required.
    pub fn f32(&self, name: &str, default: Option<f32>) -> Result<f32> {
        self.parse(name, "float", default, |v| v.parse().ok())
    }

    /// A float64 field (a Python float of an optimizer's constructor).
    pub fn f64(&self, name: &str, default: Option<f64>) -> Result<f64> {
        self.parse(name, "double", default, |v| v.parse().ok())
    }

    /// A float64 field that may be absent (`None`).
    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>> {
        match self.text_of(name) {
            Some(_) => self.f64(name, None).map(Some),
            None => Ok(None),
        }
    }

    pub fn int(&self, name: &str, default: Option<i64>) -> Result<i64> {
        self.parse(name, "int", default, |v| v.parse().ok())
    }

    /// A boolean: `true`/`false` in any case, or `1`/`0`.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool> {
        self.parse(name, "boolean", Some(default), |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_defaults_and_errors() {
        let pairs = [
            ("lr", "0.5"),
            ("lazy_update", "False"),
            ("wd", "x"),
            ("lr", "0.25"),
        ];
        let p = Params::new("sgd_update", &pairs, &["lr", "wd", "lazy_update"]).unwrap();
        assert_eq!(p.f32("lr", None).unwrap(), 0.25);
        assert!(!p.bool("lazy_update", true).unwrap());
        assert_eq!(
            p.f32("wd", Some(0.0)).unwrap_err().to_string(),
            "Invalid Parameter format for wd expect float but value='x', in operator sgd_update"
        );
        let none: [(&str, &str); 0] = [];
        let p = Params::new("sgd_update", &none, &["lr"]).unwrap();
        assert_eq!(
            p.f32("lr", None).unwrap_err().to_string(),
            "Required parameter lr of float is not presented, in operator sgd_update"
        );
        let err = Params::new("sgd_update", &[("momentum", "0.9")], &["lr", "wd"])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "Cannot find argument 'momentum' of sgd_update, possible arguments: lr, wd"
        );
    }
}
