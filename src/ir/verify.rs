//! The verifier: checks that a graph is well formed, well typed, and uses only the ops legal at its stage. It runs
//! after lowering and after every pass when verification is on; an error is a bug in the code that made the graph,
//! printed under the offending line of the graph's text.
//!
//! # Rules at every stage
//!
//! - A node reads only nodes before it (ids are positions, so this also rules out cycles and missing nodes).
//! - A node's type is what [`ops::infer`] gives for its op and its inputs' types. A node that reads a broken node is
//!   not checked further, so that one mistake gives one error.
//! - Input names are unique within a graph; so are output names. An output reads an existing node holding a
//!   tensor (a tuple is read through `get`).
//! - A scan's body obeys all of these rules and the stage's rules, recursively; errors inside it are printed in
//!   the body.
//!
//! # Which ops are legal at each stage
//!
//! Each stage is the graph as one step of the compiler leaves it, in pipeline order. [`Stage::allows`] is the
//! single place that says what a stage forbids.
//!
//! - [`Stage::Model`], what lowering makes (the forward graph and its loss, before autodiff): no reverse scans
//!   (only autodiff makes them) and no `hyper` inputs (the learning rate and the step come with the optimizer).
//! - [`Stage::Step`], what autodiff, the optimizer and the passes make: every op of the IR.
//!
//! `state` inputs are legal before autodiff because batch normalisation's running statistics are state. Input
//! roles are checked in the top graph only: a body's inputs are fed by its scan, and their roles mean nothing.
//!
//! Later stages slot in as new variants, each with the rows of [`Stage::allows`] that say what it forbids: after
//! fusion (fused kernels only, no loose elementwise ops), before codegen (no scan left unlowered, buffers
//! planned).

use std::collections::BTreeMap;
use std::fmt;

use super::text::{print_with_notes, Line, Place};
use super::{ops, Graph, NodeId, Op, Role, Type};

/// A point in the pipeline, which decides the ops a graph may hold (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A lowered forward graph (model and loss) before autodiff.
    Model,
    /// A training step: after autodiff, the optimizer update and the passes. Every op is legal.
    Step,
}

impl Stage {
    /// The stage's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Model => "model",
            Stage::Step => "step",
        }
    }

    /// Says why `op` is not legal at this stage. `top` is whether the node is in the top graph (not in a body).
    pub fn allows(self, op: &Op, top: bool) -> Result<(), String> {
        match (self, op) {
            (Stage::Model, Op::Scan(scan)) if scan.reverse => {
                Err("a reverse scan before autodiff (stage model); only autodiff makes reverse scans".to_string())
            }
            (Stage::Model, Op::Input { role: Role::Hyper, .. }) if top => {
                Err("a `hyper` input before autodiff (stage model); the learning rate and step come with the optimizer"
                    .to_string())
            }
            _ => Ok(()),
        }
    }
}

/// One broken rule: the line it is about and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The line of the graph's text the error is printed under.
    pub line: Line,
    /// What is wrong.
    pub message: String,
}

/// Every broken rule of a graph. `Display` (and `Debug`, so that a failed `expect` is readable) prints the graph's
/// text with `; error: ...` under each offending line.
#[derive(Clone, PartialEq)]
pub struct VerifyErrors {
    /// The graph as verified.
    pub graph: Graph,
    /// The errors, in the order of the lines they are about.
    pub errors: Vec<VerifyError>,
}

impl fmt::Display for VerifyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let notes: Vec<(Line, String)> =
            self.errors.iter().map(|error| (error.line.clone(), format!("error: {}", error.message))).collect();
        let count = self.errors.len();
        writeln!(f, "the verifier found {count} error{}:", if count == 1 { "" } else { "s" })?;
        f.write_str(&print_with_notes(&self.graph, &notes))
    }
}

impl fmt::Debug for VerifyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for VerifyErrors {}

/// Checks a graph against the rules of every stage and those of `stage`; see the module documentation.
pub fn verify(graph: &Graph, stage: Stage) -> Result<(), VerifyErrors> {
    let mut verifier = Verifier { stage, scope: Vec::new(), errors: Vec::new() };
    verifier.graph(graph);
    if verifier.errors.is_empty() {
        Ok(())
    } else {
        Err(VerifyErrors { graph: graph.clone(), errors: verifier.errors })
    }
}

struct Verifier {
    stage: Stage,
    /// The scans whose body is being checked, outermost first.
    scope: Vec<NodeId>,
    errors: Vec<VerifyError>,
}

impl Verifier {
    fn error(&mut self, place: Place, message: String) {
        self.errors.push(VerifyError { line: Line { scope: self.scope.clone(), place }, message });
    }

    /// Checks one graph and says whether its types can be trusted: every node typed, every output a tensor. A
    /// scan's type is only inferred from a body that can.
    fn graph(&mut self, graph: &Graph) -> bool {
        let top = self.scope.is_empty();
        // Whether each node's type has been checked, so that later nodes can be inferred from it.
        let mut typed = vec![false; graph.nodes.len()];
        let mut input_names: BTreeMap<&str, NodeId> = BTreeMap::new();
        for (index, node) in graph.nodes.iter().enumerate() {
            let id = NodeId(index as u32);
            let place = Place::Node(id);
            let mut inputs_typed = true;
            for input in &node.inputs {
                if input.index() >= index {
                    self.error(place, format!("reads {input}, which is not before it"));
                    inputs_typed = false;
                } else if !typed[input.index()] {
                    // That node's error is reported on its own line.
                    inputs_typed = false;
                }
            }
            if let Err(reason) = self.stage.allows(&node.op, top) {
                self.error(place, reason);
            }
            if let Op::Input { name, .. } = &node.op {
                if let Some(earlier) = input_names.insert(name, id) {
                    input_names.insert(name, earlier);
                    self.error(place, format!("the input name {name:?} is already {earlier}'s"));
                }
            }
            let body_typed = match &node.op {
                Op::Scan(scan) => {
                    self.scope.push(id);
                    let body_typed = self.graph(&scan.body);
                    self.scope.pop();
                    body_typed
                }
                _ => true,
            };
            if inputs_typed && body_typed {
                typed[index] = self.node_type(graph, id);
            }
        }
        let outputs_sound = self.outputs(graph, &typed);
        typed.iter().all(|&typed| typed) && outputs_sound
    }

    /// Checks that a node's type is its op's on its inputs' types, which are known to be right.
    fn node_type(&mut self, graph: &Graph, id: NodeId) -> bool {
        let node = graph.node(id);
        let input_types: Vec<&Type> = node.inputs.iter().map(|&input| &graph.node(input).ty).collect();
        let op = ops::name(&node.op);
        match ops::infer(&node.op, &input_types, Some(&node.ty)) {
            Ok(inferred) if inferred == node.ty => true,
            Ok(inferred) => {
                self.error(Place::Node(id), format!("the type is {} but `{op}` gives {inferred}", node.ty));
                false
            }
            Err(reason) => {
                self.error(Place::Node(id), format!("`{op}`: {reason}"));
                false
            }
        }
    }

    /// Checks the outputs: unique names, existing tensor nodes. Says whether every output reads a tensor.
    fn outputs(&mut self, graph: &Graph, typed: &[bool]) -> bool {
        let mut sound = true;
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, output) in graph.outputs.iter().enumerate() {
            let place = Place::Output(index);
            if let Some(earlier) = names.insert(&output.name, index) {
                names.insert(&output.name, earlier);
                self.error(place, format!("the output name {:?} is already output {earlier}'s", output.name));
            }
            match graph.nodes.get(output.node.index()) {
                None => {
                    let count = graph.nodes.len();
                    self.error(place, format!("reads {}, but the graph has {count} nodes", output.node));
                    sound = false;
                }
                Some(node) if typed[output.node.index()] && node.ty.tensor().is_none() => {
                    self.error(place, format!("reads {}, a tuple; read a part with `get`", output.node));
                    sound = false;
                }
                Some(_) => {}
            }
        }
        sound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::random::random_graph;
    use crate::ir::text::parse;
    use crate::ir::{DType, Node, Output, TensorType};

    /// A small graph with a scan, as text, for the tests to break.
    const SCAN: &str = "graph g {
  %0 = input \"x\" batch : f32[3, 2]
  %1 = input \"h\" state : f32[2]
  %2 = scan %1, %0 steps=3 carries=1 sequences=1 reverse=false : (f32[2], f32[3, 2]) graph cell {
    %0 = input \"h\" batch : f32[2]
    %1 = input \"x\" batch : f32[2]
    %2 = add %0, %1 : f32[2]
    output \"h\" = %2
    output \"y\" = %2
  }
  %3 = get %2 index=1 : f32[3, 2]
  %4 = neg %3 : f32[3, 2]
  output \"y\" = %4
}
";

    fn graph(text: &str) -> Graph {
        parse(text).unwrap_or_else(|error| panic!("{error}"))
    }

    /// The errors of a graph that must not verify, as (scope, place, message).
    fn errors(graph: &Graph, stage: Stage) -> Vec<(Vec<NodeId>, Place, String)> {
        match verify(graph, stage) {
            Ok(()) => panic!("expected errors in:\n{graph}"),
            Err(errors) => {
                errors.errors.into_iter().map(|error| (error.line.scope, error.line.place, error.message)).collect()
            }
        }
    }

    fn body(graph: &mut Graph, scan: usize) -> &mut Graph {
        match &mut graph.nodes[scan].op {
            Op::Scan(scan) => &mut scan.body,
            other => panic!("not a scan: {other:?}"),
        }
    }

    #[test]
    fn random_graphs_verify() {
        for seed in 0..200 {
            let graph = random_graph(seed);
            verify(&graph, Stage::Step).unwrap_or_else(|errors| panic!("seed {seed}: {errors}"));
        }
        verify(&graph(SCAN), Stage::Model).expect("a forward graph with state verifies at stage model");
    }

    #[test]
    fn a_node_reads_only_earlier_nodes() {
        let mut graph = graph(SCAN);
        graph.nodes[3].inputs = vec![NodeId(7)];
        graph.nodes[0].inputs = vec![NodeId(0)];
        let found = errors(&graph, Stage::Step);
        // %4 reads the broken %3 and is not checked, so each mistake gives one error.
        assert_eq!(
            found,
            vec![
                (vec![], Place::Node(NodeId(0)), "reads %0, which is not before it".to_string()),
                (vec![], Place::Node(NodeId(3)), "reads %7, which is not before it".to_string()),
            ]
        );
    }

    #[test]
    fn a_node_has_its_ops_type() {
        let mut graph = graph(SCAN);
        graph.nodes[4].ty = TensorType::new(DType::F64, [3, 2]).into();
        let found = errors(&graph, Stage::Step);
        assert_eq!(found[0].1, Place::Node(NodeId(4)));
        assert_eq!(found[0].2, "the type is f64[3, 2] but `neg` gives f32[3, 2]");
        let mut graph = self::graph(SCAN);
        graph.nodes[4].inputs = vec![NodeId(2)];
        let found = errors(&graph, Stage::Step);
        assert_eq!(found[0].2, "`neg`: input 0 is a tuple; read a part with `get`");
        let mut graph = self::graph(SCAN);
        graph.nodes[1].ty = Type::Tuple(vec![]);
        let found = errors(&graph, Stage::Step);
        assert_eq!(
            found,
            vec![(vec![], Place::Node(NodeId(1)), "`input`: the result must be a tensor, not a tuple".to_string())]
        );
    }

    #[test]
    fn names_are_unique_and_outputs_read_tensors() {
        let mut graph = graph(SCAN);
        if let Op::Input { name, .. } = &mut graph.nodes[1].op {
            *name = "x".to_string();
        }
        graph.outputs.push(Output { name: "y".to_string(), node: NodeId(3) });
        graph.outputs.push(Output { name: "z".to_string(), node: NodeId(9) });
        graph.outputs.push(Output { name: "t".to_string(), node: NodeId(2) });
        let found = errors(&graph, Stage::Step);
        assert_eq!(
            found,
            vec![
                (vec![], Place::Node(NodeId(1)), "the input name \"x\" is already %0's".to_string()),
                (vec![], Place::Output(1), "the output name \"y\" is already output 0's".to_string()),
                (vec![], Place::Output(2), "reads %9, but the graph has 5 nodes".to_string()),
                (vec![], Place::Output(3), "reads %2, a tuple; read a part with `get`".to_string()),
            ]
        );
    }

    #[test]
    fn scan_bodies_are_verified_in_place() {
        let mut graph = graph(SCAN);
        let cell = body(&mut graph, 2);
        cell.nodes[2].ty = TensorType::new(DType::F32, [3]).into();
        cell.outputs[1].node = NodeId(5);
        let found = errors(&graph, Stage::Step);
        // The scan's own type is not checked against a broken body, which would only repeat the body's errors.
        assert_eq!(
            found,
            vec![
                (vec![NodeId(2)], Place::Node(NodeId(2)), "the type is f32[3] but `add` gives f32[2]".to_string()),
                (vec![NodeId(2)], Place::Output(1), "reads %5, but the graph has 3 nodes".to_string()),
            ]
        );
        // A well-formed body whose outputs do not fit the scan is the scan's error.
        let mut graph = self::graph(SCAN);
        let cell = body(&mut graph, 2);
        cell.outputs[0].node = NodeId(1);
        cell.nodes.push(Node {
            op: Op::Constant { value: 1.0 },
            inputs: vec![],
            ty: TensorType::new(DType::F32, [4]).into(),
        });
        cell.outputs[0].node = NodeId(3);
        let found = errors(&graph, Stage::Step);
        assert_eq!(
            found,
            vec![(
                vec![],
                Place::Node(NodeId(2)),
                "`scan`: carry 0 enters as f32[2] but the body returns f32[4]".to_string()
            )]
        );
    }

    #[test]
    fn stage_model_forbids_reverse_scans_and_hyper_inputs() {
        let text = SCAN.replace("reverse=false", "reverse=true").replace("\"h\" state", "\"lr\" hyper");
        let graph = graph(&text);
        verify(&graph, Stage::Step).expect("every op is legal after autodiff");
        let found = errors(&graph, Stage::Model);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].1, Place::Node(NodeId(1)));
        assert!(found[0].2.starts_with("a `hyper` input before autodiff"), "{}", found[0].2);
        assert_eq!(found[1].1, Place::Node(NodeId(2)));
        assert!(found[1].2.starts_with("a reverse scan before autodiff"), "{}", found[1].2);
        // A body's input roles mean nothing: the scan feeds them.
        let in_body = SCAN.replace("\"h\" batch", "\"h\" hyper");
        verify(&self::graph(&in_body), Stage::Model).expect("roles inside a body are not checked");
    }

    #[test]
    fn errors_print_under_their_lines() {
        let mut graph = graph(SCAN);
        body(&mut graph, 2).nodes[2].inputs = vec![NodeId(0), NodeId(2)];
        graph.outputs[0].node = NodeId(12);
        let errors = verify(&graph, Stage::Step).expect_err("two mistakes");
        let expected = "the verifier found 2 errors:
graph g {
  %0 = input \"x\" batch : f32[3, 2]
  %1 = input \"h\" state : f32[2]
  %2 = scan %1, %0 steps=3 carries=1 sequences=1 reverse=false : (f32[2], f32[3, 2]) graph cell {
    %0 = input \"h\" batch : f32[2]
    %1 = input \"x\" batch : f32[2]
    %2 = add %0, %2 : f32[2]
    ; error: reads %2, which is not before it
    output \"h\" = %2
    output \"y\" = %2
  }
  %3 = get %2 index=1 : f32[3, 2]
  %4 = neg %3 : f32[3, 2]
  output \"y\" = %12
  ; error: reads %12, but the graph has 5 nodes
}
";
        assert_eq!(errors.to_string(), expected);
        assert_eq!(format!("{errors:?}"), expected);
    }
}
