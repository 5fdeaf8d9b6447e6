//! The subset of kubectl's JSONPath that `additionalPrinterColumns` use: fields (`.a.b`,
//! `['a.b']`), indexes (`[0]`, `[-1]`), wildcards (`[*]`, `.*`) and filters
//! (`[?(@.type=="Ready")]`, `[?(@.x)]`). Missing keys give no results, never errors.

use serde_json::Value;

/// One step of a path.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter(Vec<Step>, Option<(String, Value)>),
}

/// A parsed path; `None` from [`parse`] means the expression is not understood.
#[derive(Clone, Debug, PartialEq)]
pub struct Path(Vec<Step>);

/// Parses `.spec.x`, `{.spec.x}` or `$.spec.x`.
pub fn parse(expr: &str) -> Option<Path> {
    let mut e = expr.trim();
    if let Some(inner) = e.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
        e = inner.trim();
    }
    e = e.strip_prefix('$').unwrap_or(e);
    let chars: Vec<char> = e.chars().collect();
    let (steps, rest) = parse_steps(&chars, 0)?;
    (rest == chars.len()).then_some(Path(steps))
}

fn parse_steps(c: &[char], mut pos: usize) -> Option<(Vec<Step>, usize)> {
    let mut steps = Vec::new();
    while pos < c.len() {
        match c[pos] {
            '.' => {
                pos += 1;
                if c.get(pos) == Some(&'.') {
                    return None; // recursive descent is not supported
                }
                let start = pos;
                while pos < c.len()
                    && !matches!(c[pos], '.' | '[' | ')' | '=' | '!' | '<' | '>' | ' ')
                {
                    if c[pos] == '\\' {
                        pos += 1;
                    }
                    pos += 1;
                }
                let name: String = c[start..pos.min(c.len())]
                    .iter()
                    .collect::<String>()
                    .replace("\\.", ".");
                if name.is_empty() {
                    continue;
                }
                steps.push(if name == "*" {
                    Step::Wildcard
                } else {
                    Step::Field(name)
                });
            }
            '[' => {
                let close = find_close(c, pos)?;
                let inner: String = c[pos + 1..close].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                pos = close + 1;
            }
            ')' | '=' | '!' | '<' | '>' | ' ' => break,
            _ => {
                // A leading bare field (`spec.x`).
                let start = pos;
                while pos < c.len() && !matches!(c[pos], '.' | '[') {
                    pos += 1;
                }
                steps.push(Step::Field(c[start..pos].iter().collect()));
            }
        }
    }
    Some((steps, pos))
}

fn find_close(c: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (idx, ch) in c.iter().enumerate().skip(open) {
        match (quote, ch) {
            (Some(q), x) if *x == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(*ch),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(idx);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_literal(s: &str) -> Option<Value> {
    let s = s.trim();
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        return Some(Value::String(s[1..s.len() - 1].to_string()));
    }
    match s {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => serde_json::from_str::<serde_json::Number>(s)
            .ok()
            .map(Value::Number),
    }
}

fn parse_bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::Wildcard);
    }
    if let Some(Value::String(key)) =
        parse_literal(inner).filter(|_| inner.starts_with(['\'', '"']))
    {
        return Some(Step::Field(key));
    }
    if let Ok(n) = inner.parse::<i64>() {
        return Some(Step::Index(n));
    }
    let expr = inner.strip_prefix("?(")?.strip_suffix(')')?.trim();
    let expr = expr.strip_prefix('@')?;
    let chars: Vec<char> = expr.chars().collect();
    let (path, pos) = parse_steps(&chars, 0)?;
    let rest: String = chars[pos..].iter().collect();
    let rest = rest.trim();
    if rest.is_empty() {
        return Some(Step::Filter(path, None));
    }
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some(lit) = rest.strip_prefix(op) {
            return Some(Step::Filter(
                path,
                Some((op.to_string(), parse_literal(lit)?)),
            ));
        }
    }
    None
}

fn compare(a: &Value, op: &str, b: &Value) -> bool {
    let ord = match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (x, y) if op == "==" || op == "!=" => return (x == y) == (op == "=="),
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        "==" => ord.is_eq(),
        "!=" => ord.is_ne(),
        "<" => ord.is_lt(),
        ">" => ord.is_gt(),
        "<=" => ord.is_le(),
        ">=" => ord.is_ge(),
        _ => false,
    }
}

fn apply<'a>(steps: &[Step], roots: Vec<&'a Value>) -> Vec<&'a Value> {
    let mut cur = roots;
    for step in steps {
        let mut next = Vec::new();
        for v in cur {
            match (step, v) {
                (Step::Field(f), Value::Object(m)) => next.extend(m.get(f)),
                (Step::Index(n), Value::Array(a)) => {
                    let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                    if idx >= 0 {
                        next.extend(a.get(idx as usize));
                    }
                }
                (Step::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                (Step::Wildcard, Value::Object(m)) => next.extend(m.values()),
                (Step::Filter(path, cond), Value::Array(a)) => {
                    for el in a {
                        let found = apply(path, vec![el]);
                        let keep = match cond {
                            None => !found.is_empty(),
                            Some((op, lit)) => found.first().is_some_and(|x| compare(x, op, lit)),
                        };
                        if keep {
                            next.push(el);
                        }
                    }
                }
                _ => {}
            }
        }
        cur = next;
    }
    cur
}

impl Path {
    /// Every value the path reaches in `root`, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        apply(&self.0, vec![root])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn first(expr: &str, v: &Value) -> Option<Value> {
        parse(expr).unwrap().find(v).first().map(|x| (*x).clone())
    }

    #[test]
    fn fields_indexes_filters() {
        let v = json!({
            "spec": { "replicas": 3, "containers": [{ "image": "a" }, { "image": "b" }] },
            "metadata": { "labels": { "app.kubernetes.io/name": "web" } },
            "status": { "conditions": [{ "type": "Synced", "status": "False" }, { "type": "Ready", "status": "True" }] },
        });
        assert_eq!(first(".spec.replicas", &v), Some(json!(3)));
        assert_eq!(first("{.spec.replicas}", &v), Some(json!(3)));
        assert_eq!(first(".spec.containers[1].image", &v), Some(json!("b")));
        assert_eq!(first(".spec.containers[-1].image", &v), Some(json!("b")));
        assert_eq!(first(".spec.containers[*].image", &v), Some(json!("a")));
        assert_eq!(
            first(".metadata.labels['app.kubernetes.io/name']", &v),
            Some(json!("web"))
        );
        assert_eq!(
            first(r#".status.conditions[?(@.type=="Ready")].status"#, &v),
            Some(json!("True"))
        );
        assert_eq!(
            first(".status.conditions[?(@.type=='Synced')].status", &v),
            Some(json!("False"))
        );
        assert_eq!(first(".spec.missing.deeper", &v), None);
        assert_eq!(first(".spec.replicas.x", &v), None);
        assert!(parse("..x").is_none());
        assert!(parse(".a[?(@.x ~~ 1)]").is_none());
    }
}
