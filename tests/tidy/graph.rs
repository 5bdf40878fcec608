//! The module graph of the tidy test: which modules use which, built from the scanner's paths, and its cycles.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use crate::scanner::Crate;
use crate::EXPANDED;

/// The modules' dependencies, test code left out: the nodes are the top-level modules and, for [`EXPANDED`] ones,
/// their submodules (`ir::ops`; the module's own items, in its `mod.rs`, are the node `ir`). An edge `a -> b` says
/// code of `a` names an item of `b`; a re-export (`pub use`) is followed to the item, not an edge of its own.
///
/// A module and its own submodules may use each other (the parent holds the vocabulary its children share and
/// puts them to work); any other edge on a cycle is a layering mistake. So `runtime -> backend -> backend::exec ->
/// runtime` is a cycle even though one of its steps is a parent using its child.
pub(crate) struct ModuleGraph {
    /// Every edge, with the first place that makes it.
    pub(crate) edges: BTreeMap<(String, String), String>,
    /// Every node, edges or not.
    pub(crate) nodes: BTreeSet<String>,
}

impl ModuleGraph {
    pub(crate) fn of(krate: &Crate) -> ModuleGraph {
        let mut edges = BTreeMap::new();
        let mut nodes = BTreeSet::new();
        for module in krate.modules.keys().filter(|module| !krate.modules[*module].test) {
            nodes.extend(node(module));
        }
        for file in krate.files.iter().filter(|file| !file.test) {
            for path in file.paths.iter().filter(|path| !path.public && !file.in_test(path.at)) {
                let from = file.module_at(path.at);
                let Some(to) = krate.resolve(&from, &path.segments) else { continue };
                let (Some(from), Some(to)) = (node(&from), node(&to)) else { continue };
                if from != to {
                    edges.entry((from, to)).or_insert_with(|| format!("{}: `{path}`", file.place(path.at)));
                }
            }
        }
        ModuleGraph { edges, nodes }
    }

    /// The graph as text: each node and the nodes it uses, then the nodes in an order that points one way.
    pub(crate) fn render(&self) -> String {
        let mut text = String::from("module graph (a -> b: a uses b; test code left out):\n");
        for node in &self.nodes {
            let uses: Vec<&str> =
                self.edges.keys().filter(|(from, _)| from == node).map(|(_, to)| to.as_str()).collect();
            let uses = if uses.is_empty() { "(nothing)".to_string() } else { uses.join(", ") };
            let _ = writeln!(text, "  {node} -> {uses}");
        }
        let layers = self.without(true).order();
        let _ = writeln!(text, "lowest first (a module and its own submodules in any order): {}", layers.join(", "));
        text
    }

    /// The graph, less (with `family`) the edges between a module and its own submodules.
    pub(crate) fn without(&self, family: bool) -> Level {
        let mut level = Level { nodes: self.nodes.clone(), edges: BTreeMap::new() };
        for ((from, to), place) in &self.edges {
            if family && (contains(from, to) || contains(to, from)) {
                continue;
            }
            level.edges.entry(from.clone()).or_default().insert(to.clone(), place.clone());
        }
        level
    }

    /// What is wrong: each edge on a cycle that is not between a module and its own submodule (one cycle reported
    /// per group of modules that reach each other).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let graph = self.without(false);
        let mut reported: Vec<BTreeSet<String>> = Vec::new();
        for (from, uses) in &graph.edges {
            for to in uses.keys() {
                if contains(from, to) || contains(to, from) {
                    continue;
                }
                let Some(back) = graph.path(to, from) else { continue };
                let group = graph.group(from);
                if reported.contains(&group) {
                    continue;
                }
                let mut cycle = vec![from.clone()];
                cycle.extend(back);
                let mut text = format!("module cycle: {}", cycle.join(" -> "));
                if group.len() > cycle.len() - 1 {
                    let members: Vec<&str> = group.iter().map(String::as_str).collect();
                    let _ = write!(text, " (one of the cycles among {})", members.join(", "));
                }
                for pair in cycle.windows(2) {
                    let _ = write!(text, "\n  {} -> {}: {}", pair[0], pair[1], graph.edges[&pair[0]][&pair[1]]);
                }
                problems.push(text);
                reported.push(group);
            }
        }
        problems
    }
}

/// A graph of modules: its nodes and its edges, each with a place that makes it.
pub(crate) struct Level {
    pub(crate) nodes: BTreeSet<String>,
    pub(crate) edges: BTreeMap<String, BTreeMap<String, String>>,
}

impl Level {
    /// A shortest path of one step or more from `from` to `to`, both ends included.
    pub(crate) fn path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut before: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(node) = queue.pop_front() {
            for next in self.edges.get(node).into_iter().flat_map(|uses| uses.keys()) {
                if next == to {
                    let mut path = vec![to.to_string(), node.to_string()];
                    let mut at = node;
                    while at != from {
                        at = before[at];
                        path.push(at.to_string());
                    }
                    path.reverse();
                    return Some(path);
                }
                if next != from && !before.contains_key(next.as_str()) {
                    before.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// The nodes that reach `node` and that it reaches, itself included.
    pub(crate) fn group(&self, node: &str) -> BTreeSet<String> {
        let mut group: BTreeSet<String> = self
            .nodes
            .iter()
            .filter(|other| self.path(node, other).is_some() && self.path(other, node).is_some())
            .cloned()
            .collect();
        group.insert(node.to_string());
        group
    }

    /// The nodes in an order in which each uses only nodes before it, as far as there is one.
    pub(crate) fn order(&self) -> Vec<String> {
        let mut placed: Vec<String> = Vec::new();
        let mut left: BTreeSet<&String> = self.nodes.iter().collect();
        while !left.is_empty() {
            let ready: Vec<&String> = left
                .iter()
                .copied()
                .filter(|node| self.edges.get(*node).is_none_or(|uses| uses.keys().all(|to| placed.contains(to))))
                .collect();
            let ready = if ready.is_empty() { vec![*left.iter().next().expect("a node is left")] } else { ready };
            for node in ready {
                left.remove(node);
                placed.push(node.clone());
            }
        }
        placed
    }
}

/// The graph node of a module: its top-level module, or for an expanded one its submodule.
pub(crate) fn node(module: &[String]) -> Option<String> {
    let top = module.first()?;
    match module.get(1) {
        Some(sub) if EXPANDED.contains(&top.as_str()) => Some(format!("{top}::{sub}")),
        _ => Some(top.clone()),
    }
}

/// Whether node `outer` is a module holding node `inner`.
pub(crate) fn contains(outer: &str, inner: &str) -> bool {
    inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with("::"))
}
