//! Label and node selectors over typed label maps, with upstream's parsing rules.
//!
//! Mirrors `labels.Selector` (`metav1.LabelSelectorAsSelector`: a missing selector selects
//! nothing, an empty one everything) and the node-affinity requirement operators
//! (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`).

use k8s_openapi::api::core::v1::NodeSelectorRequirement;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// Labels of a pod, node or namespace.
pub type Labels = BTreeMap<String, String>;

/// A selector operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label's value, read as an integer, is greater than the single value.
    Gt,
    /// The label's value, read as an integer, is less than the single value.
    Lt,
}

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// How the label is compared.
    pub op: Operator,
    /// Values to compare with (one for `Gt`/`Lt`, none for `Exists`/`DoesNotExist`).
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        let got = labels.get(&self.key);
        match self.op {
            Operator::In => got.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => got.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::Gt | Operator::Lt => {
                let (Some(have), Some(want)) = (
                    got.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.op == Operator::Gt {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

/// A parsed selector: nothing, or all of a list of requirements (none = everything).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Selector {
    /// Selects no object (`labels.Nothing()`, what a missing `LabelSelector` means).
    #[default]
    Nothing,
    /// Selects objects meeting every requirement; an empty list selects everything.
    All(Vec<Requirement>),
}

impl Selector {
    /// The selector matching every object.
    pub fn everything() -> Self {
        Selector::All(Vec::new())
    }

    /// `metav1.LabelSelectorAsSelector`: `None` selects nothing, `{}` everything.
    pub fn from_label_selector(sel: Option<&LabelSelector>) -> Result<Self, String> {
        let Some(sel) = sel else {
            return Ok(Selector::Nothing);
        };
        let mut reqs = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(Requirement {
                key: k.clone(),
                op: Operator::In,
                values: vec![v.clone()],
            });
        }
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let op = match e.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                op => return Err(format!("{op:?} is not a valid label selector operator")),
            };
            check_values(&e.key, &op, &values)?;
            reqs.push(Requirement {
                key: e.key.clone(),
                op,
                values,
            });
        }
        Ok(Selector::All(reqs))
    }

    /// `labels.SelectorFromSet`: every key must equal its value; an empty map selects everything.
    pub fn from_map(map: &Labels) -> Self {
        Selector::All(
            map.iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    op: Operator::In,
                    values: vec![v.clone()],
                })
                .collect(),
        )
    }

    /// `NodeSelectorRequirementsAsSelector` for node-affinity `matchExpressions`.
    pub fn from_node_requirements(reqs: &[NodeSelectorRequirement]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(reqs.len());
        for r in reqs {
            let values = r.values.clone().unwrap_or_default();
            let op = match r.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                "Gt" => Operator::Gt,
                "Lt" => Operator::Lt,
                op => return Err(format!("{op:?} is not a valid node selector operator")),
            };
            check_values(&r.key, &op, &values)?;
            out.push(Requirement {
                key: r.key.clone(),
                op,
                values,
            });
        }
        Ok(Selector::All(out))
    }

    /// Whether `labels` satisfies the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::All(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// Upstream `Empty()`: true only for a selector with no requirements (which selects everything).
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::All(r) if r.is_empty())
    }

    /// Adds requirements (no effect on [`Selector::Nothing`], like upstream's `Add`).
    pub fn add(&mut self, extra: impl IntoIterator<Item = Requirement>) {
        if let Selector::All(reqs) = self {
            reqs.extend(extra);
        }
    }

    /// The requirements, or `None` for [`Selector::Nothing`].
    pub fn requirements(&self) -> Option<&[Requirement]> {
        match self {
            Selector::Nothing => None,
            Selector::All(r) => Some(r),
        }
    }
}

fn check_values(key: &str, op: &Operator, values: &[String]) -> Result<(), String> {
    match op {
        Operator::In | Operator::NotIn if values.is_empty() => Err(format!(
            "{key}: for 'In', 'NotIn' operators, values set can't be empty"
        )),
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => Err(format!(
            "{key}: values set must be empty for exists and does not exist"
        )),
        Operator::Gt | Operator::Lt if values.len() != 1 || values[0].parse::<i64>().is_err() => {
            Err(format!(
                "{key}: for 'Gt', 'Lt' operators, exactly one integer value is required"
            ))
        }
        _ => Ok(()),
    }
}

/// Builds a label map from `key=value` pairs (for tests and builders).
pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn missing_selector_selects_nothing_and_empty_selects_everything() {
        let l = labels([("app", "web")]);
        assert!(!Selector::from_label_selector(None).unwrap().matches(&l));
        let empty = Selector::from_label_selector(Some(&LabelSelector::default())).unwrap();
        assert!(empty.matches(&l));
        assert!(empty.is_empty());
        assert!(!Selector::Nothing.is_empty());
    }

    #[test]
    fn label_selector_operators() {
        let sel = LabelSelector {
            match_labels: Some(labels([("app", "web")])),
            match_expressions: Some(vec![
                expr("tier", "In", &["a", "b"]),
                expr("canary", "DoesNotExist", &[]),
                expr("env", "NotIn", &["prod"]),
                expr("team", "Exists", &[]),
            ]),
        };
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        let cases = [
            (vec![("app", "web"), ("tier", "a"), ("team", "x")], true),
            (vec![("app", "web"), ("tier", "c"), ("team", "x")], false),
            (
                vec![
                    ("app", "web"),
                    ("tier", "a"),
                    ("team", "x"),
                    ("canary", "1"),
                ],
                false,
            ),
            (
                vec![
                    ("app", "web"),
                    ("tier", "b"),
                    ("team", "x"),
                    ("env", "prod"),
                ],
                false,
            ),
            (
                vec![("app", "web"), ("tier", "b"), ("team", "x"), ("env", "dev")],
                true,
            ),
            (vec![("app", "web"), ("tier", "b")], false),
        ];
        for (l, want) in cases {
            assert_eq!(s.matches(&labels(l.clone())), want, "{l:?}");
        }
    }

    #[test]
    fn invalid_selectors_are_errors() {
        let bad = |e| LabelSelector {
            match_expressions: Some(vec![e]),
            ..Default::default()
        };
        for e in [
            expr("a", "In", &[]),
            expr("a", "Exists", &["x"]),
            expr("a", "Gt", &["1"]),
            expr("a", "Near", &["x"]),
        ] {
            assert!(
                Selector::from_label_selector(Some(&bad(e.clone()))).is_err(),
                "{e:?}"
            );
        }
    }

    #[test]
    fn node_requirements_compare_integers() {
        let req = |op: &str, v: &[&str]| NodeSelectorRequirement {
            key: "cores".into(),
            operator: op.into(),
            values: Some(v.iter().map(|s| s.to_string()).collect()),
        };
        let gt = Selector::from_node_requirements(&[req("Gt", &["4"])]).unwrap();
        let lt = Selector::from_node_requirements(&[req("Lt", &["4"])]).unwrap();
        assert!(gt.matches(&labels([("cores", "8")])));
        assert!(!gt.matches(&labels([("cores", "4")])));
        assert!(!gt.matches(&labels([("cores", "many")])));
        assert!(!gt.matches(&labels([])));
        assert!(lt.matches(&labels([("cores", "2")])));
        assert!(Selector::from_node_requirements(&[req("Gt", &["x"])]).is_err());
        assert!(Selector::from_node_requirements(&[req("Lt", &["1", "2"])]).is_err());
    }
}
