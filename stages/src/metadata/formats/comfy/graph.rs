//! The ComfyUI API graph (`{id: {class_type, inputs}}`) and the bounded
//! primitives every walk is built from: links, literal values, a step budget.

use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// The most node visits one file's walks may make together. Real graphs have
/// at most a few hundred nodes; hostile ones (cycles, fan-out) stop here.
const STEP_BUDGET: usize = 50_000;

/// The deepest chain of links followed by one recursive resolution.
pub(super) const MAX_DEPTH: usize = 64;

/// The most use-everywhere nodes whose broadcasts are considered.
const MAX_BROADCASTERS: usize = 256;

/// The longest reason kept for an unresolved value.
const MAX_WHY: usize = 240;

/// The longest class name or id quoted in a reason.
const MAX_QUOTED: usize = 60;

/// `Class #id` for reasons, with hostile lengths cut.
pub(super) fn describe(node: &Node<'_>) -> String {
    let cut = |s: &str| -> String {
        if s.len() <= MAX_QUOTED {
            return s.to_owned();
        }
        let mut end = MAX_QUOTED;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    };
    format!("{} #{}", cut(node.class), cut(node.id))
}

/// One node of the API graph.
#[derive(Debug, Clone, Copy)]
pub(super) struct Node<'a> {
    pub(super) id: &'a str,
    pub(super) class: &'a str,
    pub(super) inputs: &'a Map<String, Value>,
}

impl<'a> Node<'a> {
    pub(super) fn input(&self, name: &str) -> Option<&'a Value> {
        self.inputs.get(name).filter(|v| !v.is_null())
    }

    /// The first of `names` that the node has.
    pub(super) fn first_input(&self, names: &[&str]) -> Option<(&'a str, &'a Value)> {
        names.iter().find_map(|name| {
            self.inputs
                .get_key_value(*name)
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.as_str(), v))
        })
    }

    /// Whether the class name contains `part`, ignoring ASCII case.
    pub(super) fn class_has(&self, part: &str) -> bool {
        contains_ignore_case(self.class, part)
    }
}

pub(super) fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len().max(1))
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A link `[node_id, output_slot]`; ids are strings (`"4"`, `"4:1"`, `"Sampler"`)
/// or, in older files, numbers.
pub(super) fn link(value: &Value) -> Option<(String, u64)> {
    let Value::Array(items) = value else {
        return None;
    };
    let [id, slot] = items.as_slice() else {
        return None;
    };
    let id = match id {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some((id, slot.as_u64()?))
}

/// A parsed API graph, borrowing the JSON it came from.
#[derive(Debug)]
pub(crate) struct Graph<'a> {
    nodes: BTreeMap<&'a str, Node<'a>>,
    steps: Cell<usize>,
    exhausted: Cell<bool>,
    /// Set when a walk met a cycle or a chain longer than [`MAX_DEPTH`].
    too_deep: Cell<bool>,
    /// Set when a walk reached a value made only at run time.
    runtime: Cell<bool>,
    /// Why the last resolution that failed could not resolve its value.
    why: RefCell<Option<String>>,
    /// The graph's use-everywhere nodes (at most [`MAX_BROADCASTERS`]).
    everywhere: Vec<Node<'a>>,
}

impl<'a> Graph<'a> {
    /// The graph in `root`, or `None` when `root` holds no node at all.
    /// Top-level entries that are not nodes (`extra`, `extraMetadata`) are
    /// skipped.
    pub(crate) fn new(root: &'a Map<String, Value>) -> Option<Self> {
        let nodes: BTreeMap<&str, Node<'_>> = root
            .iter()
            .filter_map(|(id, v)| {
                let class = v.get("class_type")?.as_str()?;
                let inputs = v.get("inputs")?.as_object()?;
                Some((
                    id.as_str(),
                    Node {
                        id: id.as_str(),
                        class,
                        inputs,
                    },
                ))
            })
            .collect();
        let everywhere: Vec<Node<'a>> = nodes
            .values()
            .filter(|n| n.class_has("Everywhere"))
            .take(MAX_BROADCASTERS)
            .copied()
            .collect();
        (!nodes.is_empty()).then(|| Graph {
            everywhere,
            nodes,
            steps: Cell::new(0),
            exhausted: Cell::new(false),
            too_deep: Cell::new(false),
            runtime: Cell::new(false),
            why: RefCell::new(None),
        })
    }

    /// The node a link points to, counting one step of the budget.
    pub(super) fn follow(&self, value: &Value) -> Option<(Node<'a>, u64)> {
        let (id, slot) = link(value)?;
        if !self.step() {
            return None;
        }
        self.nodes.get(id.as_str()).map(|node| (*node, slot))
    }

    /// Counts one step; false once the budget is spent.
    pub(super) fn step(&self) -> bool {
        let used = self.steps.get() + 1;
        self.steps.set(used);
        if used > STEP_BUDGET {
            self.exhausted.set(true);
            return false;
        }
        true
    }

    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted.get()
    }

    /// Records that a walk was cut at a cycle or at the depth limit.
    pub(super) fn too_deep<T>(&self) -> Option<T> {
        self.too_deep.set(true);
        self.unresolved("a cycle or a chain of links deeper than the resolver follows")
    }

    /// Records why a value is unknown (the first reason since the last
    /// [`Graph::take_why`] is kept) and gives `None`.
    pub(super) fn unresolved<T>(&self, why: impl Into<String>) -> Option<T> {
        let mut slot = self.why.borrow_mut();
        if slot.is_none() {
            let mut why: String = why.into();
            if why.len() > MAX_WHY {
                let mut end = MAX_WHY;
                while !why.is_char_boundary(end) {
                    end -= 1;
                }
                why.truncate(end);
                why.push('…');
            }
            *slot = Some(why);
        }
        None
    }

    /// The reason recorded since the last call, if any.
    pub(super) fn take_why(&self) -> Option<String> {
        self.why.borrow_mut().take()
    }

    pub(crate) fn was_too_deep(&self) -> bool {
        self.too_deep.get()
    }

    pub(super) fn mark_runtime(&self) {
        self.runtime.set(true);
    }

    pub(crate) fn take_runtime(&self) -> bool {
        self.runtime.replace(false)
    }

    pub(super) fn node(&self, id: &str) -> Option<Node<'a>> {
        self.nodes.get(id).copied()
    }

    pub(super) fn nodes(&self) -> impl Iterator<Item = &Node<'a>> {
        self.nodes.values()
    }

    /// Whether `node` is a sampling pass (see `sampler::is_pass_in`).
    pub(super) fn is_pass(&self, node: &Node<'a>) -> bool {
        super::sampler::is_pass_in(node, !self.everywhere.is_empty())
    }

    /// An input of `node`, or, when the node leaves it out, the value a
    /// use-everywhere node broadcasts to it. Broadcasts are usually written
    /// into the saved API graph as ordinary links; older saves leave the
    /// input out, and the broadcasting node still names the value by type
    /// (`MODEL`, `CONDITIONING`, `INT`…).
    pub(super) fn input_or_broadcast(&self, node: &Node<'a>, name: &str) -> Option<&'a Value> {
        node.input(name).or_else(|| self.broadcast(name))
    }

    fn broadcast(&self, name: &str) -> Option<&'a Value> {
        if self.everywhere.is_empty() {
            return None;
        }
        let wanted = match name {
            "model" => "MODEL",
            "clip" => "CLIP",
            "vae" => "VAE",
            "positive" | "negative" => "CONDITIONING",
            "latent_image" | "samples" => "LATENT",
            "seed" | "noise_seed" => "INT",
            _ => return None,
        };
        let mut specific = Vec::new();
        let mut general = Vec::new();
        for node in &self.everywhere {
            if node.class_has("Prompts Everywhere") {
                if wanted == "CONDITIONING" {
                    let mut conds: Vec<(&String, &'a Value)> = node
                        .inputs
                        .iter()
                        .filter(|(k, v)| k.starts_with("CONDITIONING") && link(v).is_some())
                        .collect();
                    conds.sort_by_key(|(k, _)| natural_key(k));
                    let index = usize::from(name == "negative");
                    if let Some((_, v)) = conds.get(index) {
                        general.push(*v);
                    }
                }
                continue;
            }
            if node.class_has("Seed Everywhere") {
                if wanted == "INT"
                    && let Some(v) = node.input("seed")
                {
                    general.push(v);
                }
                continue;
            }
            let restricted = ["title_regex", "input_regex", "group_regex"]
                .iter()
                .filter_map(|k| node.input(k)?.as_str())
                .any(|r| !r.is_empty() && r != ".*");
            let input_regex = node.input("input_regex").and_then(Value::as_str);
            for (key, value) in node.inputs {
                let ty = key.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
                if ty != wanted || link(value).is_none() {
                    continue;
                }
                if restricted {
                    // Only a plain input-name pattern is understood; a
                    // title or group pattern depends on the UI's node titles.
                    let title_or_group = ["title_regex", "group_regex"]
                        .iter()
                        .filter_map(|k| node.input(k)?.as_str())
                        .any(|r| !r.is_empty() && r != ".*");
                    let plain = input_regex.is_some_and(|r| {
                        !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    });
                    if !title_or_group
                        && plain
                        && input_regex.is_some_and(|r| contains_ignore_case(name, r))
                    {
                        specific.push(value);
                    }
                } else {
                    general.push(value);
                }
            }
        }
        let chosen = if specific.is_empty() {
            general
        } else {
            specific
        };
        match chosen.as_slice() {
            [one] => Some(*one),
            [] => None,
            [first, rest @ ..] if rest.iter().all(|v| v == first) => Some(*first),
            _ => self.unresolved(format!(
                "several use-everywhere nodes broadcast a {wanted} to {name}"
            )),
        }
    }
}

/// Orders node ids naturally: numeric parts by value (`"9" < "10" < "10:2"`).
pub(super) fn natural_key(id: &str) -> Vec<(u64, String)> {
    id.split(':')
        .map(|part| match part.parse::<u64>() {
            Ok(n) => (n, String::new()),
            Err(_) => (u64::MAX, part.to_owned()),
        })
        .collect()
}
