//! Scalar value checks of kube-openapi's validators: strings (maxLength, minLength, pattern, with
//! a per-thread regex cache) and numbers (multipleOf, minimum, maximum).

use crate::formats::go_float;
use crate::schema as sc;
use crate::validate::{is_json_integer, Code, Res};
use regex::Regex;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;

pub(crate) fn check_string(s: &Value, text: &str, path: &str, res: &mut Res) {
    let len = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
    let value = Value::String(text.to_string());
    if let Some(max) = sc::count(s, "maxLength") {
        if len > max {
            let msg = format!("{path} in body should be at most {max} chars long");
            res.err(path, Code::TooLong(max), value, msg);
            return;
        }
    }
    if let Some(min) = sc::count(s, "minLength") {
        if len < min {
            let msg = format!("{path} in body should be at least {min} chars long");
            res.err(path, Code::Other, value, msg);
            return;
        }
    }
    let pattern = sc::str_of(s, "pattern");
    if !pattern.is_empty() {
        match compile(pattern) {
            Ok(re) if re.is_match(text) => {}
            Ok(_) => res.err(
                path,
                Code::Other,
                value,
                format!("{path} in body should match '{pattern}'"),
            ),
            Err(e) => res.err(
                path,
                Code::Other,
                value,
                format!("{path} in body should match '{pattern}, but pattern is invalid: {e}'"),
            ),
        }
    }
}

thread_local! {
    static REGEX_CACHE: RefCell<HashMap<String, Result<Regex, String>>> = RefCell::new(HashMap::new());
}

/// Compiles a schema `pattern` (cached per thread). Errors are one line.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    REGEX_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(r) = cache.get(pattern) {
            return r.clone();
        }
        if cache.len() >= 512 {
            cache.clear();
        }
        let compiled = Regex::new(pattern).map_err(|e| {
            let text = e.to_string();
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        });
        cache.insert(pattern.to_string(), compiled.clone());
        compiled
    })
}

pub(crate) fn check_number(s: &Value, d: &Value, path: &str, res: &mut Res) {
    let int = d.as_i64();
    let f = d.as_f64().unwrap_or(0.0);
    if let Some(factor) = sc::num(s, "multipleOf") {
        match int {
            Some(v) if factor as i64 != 0 => {
                let fi = factor as i64;
                if fi < 0 {
                    let msg =
                        format!("factor MultipleOf declared for {path} must be positive: {fi}");
                    res.err(path, Code::Other, fi.into(), msg);
                } else if v.checked_rem(fi).is_some_and(|r| r != 0) {
                    res.err(
                        path,
                        Code::Other,
                        d.clone(),
                        format!("{path} in body should be a multiple of {fi}"),
                    );
                }
            }
            _ => {
                if factor < 0.0 {
                    let msg = format!(
                        "factor MultipleOf declared for {path} must be positive: {}",
                        go_float(factor)
                    );
                    res.err(path, Code::Other, d.clone(), msg);
                } else {
                    let mult = if factor < 1.0 {
                        1.0 / factor * f
                    } else {
                        f / factor
                    };
                    if !is_json_integer(mult) {
                        let msg = format!(
                            "{path} in body should be a multiple of {}",
                            go_float(factor)
                        );
                        res.err(path, Code::Other, d.clone(), msg);
                    }
                }
            }
        }
    }
    let bound = |limit: f64| match int {
        Some(_) => (limit as i64).to_string(),
        None => go_float(limit),
    };
    let exceeds = |limit: f64, below: bool, exclusive: bool| -> bool {
        match int {
            Some(v) => {
                let l = limit as i64;
                if below {
                    (!exclusive && v < l) || (exclusive && v <= l)
                } else {
                    (!exclusive && v > l) || (exclusive && v >= l)
                }
            }
            None if below => (!exclusive && f < limit) || (exclusive && f <= limit),
            None => (!exclusive && f > limit) || (exclusive && f >= limit),
        }
    };
    if let Some(min) = sc::num(s, "minimum") {
        let exclusive = sc::flag(s, "exclusiveMinimum");
        if exceeds(min, true, exclusive) {
            let op = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            let msg = format!("{path} in body should be {op} {}", bound(min));
            res.err(path, Code::Other, d.clone(), msg);
        }
    }
    if let Some(max) = sc::num(s, "maximum") {
        let exclusive = sc::flag(s, "exclusiveMaximum");
        if exceeds(max, false, exclusive) {
            let op = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            let msg = format!("{path} in body should be {op} {}", bound(max));
            res.err(path, Code::Other, d.clone(), msg);
        }
    }
}
