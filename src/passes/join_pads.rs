//! Sums of zero pads that tile an axis become one concat: `pad(a) + pad(b) + pad(c) + pad(d)`, where each pad
//! places its operand in its own window of one axis and the windows cover the axis end to end, is
//! `concat(a, b, c, d) + 0`.
//!
//! This is the gradient of cutting a tensor into pieces along an axis (an LSTM's four gates, a GRU's three): the
//! gradient of each slice is its cotangent padded back to the full width, and autodiff adds them up. Computed as
//! written, that is a full-size pad per piece and a chain of full-size adds; joined, it is one copy.
//!
//! The rewrite is exact for every value: at each position exactly one term is the operand and the others are
//! `+0.0`, and adding `+0.0` changes nothing but the sign of a zero (`-0.0 + 0.0` is `0.0`), which the `+ 0` kept
//! after the concat reproduces. NaN and infinities pass through both forms alike.

use super::rewrite::in_bodies;
use crate::ir::{rebuild, Binary, Graph, NodeId, Op};

/// The graph with every tiling sum of zero pads joined into a concat, scan bodies included.
pub fn join_pads(mut graph: Graph) -> Graph {
    join_in_place(&mut graph);
    graph
}

fn join_in_place(graph: &mut Graph) {
    in_bodies(graph, join_in_place);
    let mut uses = vec![0usize; graph.nodes.len()];
    for node in &graph.nodes {
        for input in &node.inputs {
            uses[input.index()] += 1;
        }
    }
    for output in &graph.outputs {
        uses[output.node.index()] += 1;
    }
    let joins: Vec<Option<(usize, Vec<NodeId>)>> = graph.ids().map(|id| tiling_pads(graph, id, &uses)).collect();
    if joins.iter().all(Option::is_none) {
        return;
    }
    *graph = rebuild(graph, |builder, index, renumbered| {
        let (axis, pieces) = joins[index].as_ref()?;
        let joined = builder.concat(pieces.iter().map(|piece| renumbered[piece.index()]).collect(), *axis);
        let zero = builder.constant_like(0.0, joined);
        Some(builder.add(joined, zero))
    });
}

/// When `id` is an add whose terms (through adds that nothing else reads) are all float pads with `+0.0` along one
/// and the same axis, whose windows tile that axis: the axis and the padded operands in axis order.
fn tiling_pads(graph: &Graph, id: NodeId, uses: &[usize]) -> Option<(usize, Vec<NodeId>)> {
    let node = graph.node(id);
    if node.op != Op::Binary(Binary::Add) || !graph.tensor_type(id).dtype.is_float() {
        return None;
    }
    // The terms, given up at the first that is not a pad (so that a long chain of adds is not walked from each).
    let mut terms = Vec::new();
    let mut pending = node.inputs.clone();
    while let Some(term) = pending.pop() {
        let term_node = graph.node(term);
        if term_node.op == Op::Binary(Binary::Add) && uses[term.index()] == 1 {
            pending.extend(&term_node.inputs);
        } else if matches!(term_node.op, Op::Pad { .. }) {
            terms.push(term);
        } else {
            return None;
        }
    }
    // (axis, start of the window, operand) of each term.
    let mut windows: Vec<(usize, usize, NodeId)> = Vec::with_capacity(terms.len());
    for term in terms {
        let Op::Pad { low, high, interior, value } = &graph.node(term).op else { return None };
        if value.to_bits() != 0.0f64.to_bits() || interior.iter().any(|&gap| gap != 0) {
            return None;
        }
        let mut padded = (0..low.len()).filter(|&axis| low[axis] != 0 || high[axis] != 0);
        let axis = padded.next()?;
        if padded.next().is_some() {
            return None;
        }
        windows.push((axis, low[axis], graph.node(term).inputs[0]));
    }
    let axis = windows[0].0;
    if windows.iter().any(|&(other, _, _)| other != axis) {
        return None;
    }
    windows.sort_by_key(|&(_, start, _)| start);
    let mut end = 0;
    for &(_, start, operand) in &windows {
        if start != end {
            return None;
        }
        end += graph.tensor_type(operand).shape[axis];
    }
    (end == graph.tensor_type(id).shape[axis])
        .then(|| (axis, windows.into_iter().map(|(_, _, operand)| operand).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpreter::{run, Tensor};
    use crate::ir::{Builder, DType, Role, TensorType};
    use ndarray::{ArrayD, IxDyn};
    use std::collections::BTreeMap;

    /// `x` cut into pieces of `widths` along axis 1, each piece scaled and padded back, the pads added up in the order
    /// given; `x` holds -0.0, NaN and infinities among its values.
    fn pads_of_pieces(widths: &[usize], order: &[usize], value: f64) -> Graph {
        let total: usize = widths.iter().sum();
        let mut builder = Builder::new("pieces");
        let x = builder.input("x", Role::Batch, TensorType::new(DType::F32, [2, total]));
        let mut start = 0;
        let mut pads = Vec::new();
        for &width in widths {
            let piece = builder.slice(x, vec![0, start], vec![2, start + width], vec![1, 1]);
            let scaled = builder.scale(piece, 2.0);
            let pad =
                Op::Pad { low: vec![0, start], high: vec![0, total - start - width], interior: vec![0, 0], value };
            pads.push(builder.push(pad, vec![scaled], None));
            start += width;
        }
        let mut sum = pads[order[0]];
        for &index in &order[1..] {
            sum = builder.add(sum, pads[index]);
        }
        builder.output("sum", sum);
        builder.finish()
    }

    fn outputs(graph: &Graph, total: usize) -> Vec<u32> {
        let values: Vec<f32> = (0..2 * total)
            .map(|i| match i % 5 {
                0 => -0.0,
                1 => f32::NAN,
                2 => f32::NEG_INFINITY,
                _ => i as f32 - 4.5,
            })
            .collect();
        let x = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2, total]), values).expect("2 rows"));
        let outputs = run(graph, &BTreeMap::from([("x".to_string(), x)])).expect("the graph runs");
        outputs["sum"].as_f32().expect("f32").iter().map(|value| value.to_bits()).collect()
    }

    fn concats(graph: &Graph) -> usize {
        graph.nodes.iter().filter(|node| matches!(node.op, Op::Concat { .. })).count()
    }

    #[test]
    fn pads_that_tile_an_axis_become_a_concat_with_the_same_bits() {
        for order in [[0, 1, 2, 3], [2, 0, 3, 1]] {
            let graph = pads_of_pieces(&[3, 2, 4, 1], &order, 0.0);
            let joined = join_pads(graph.clone());
            assert_eq!(concats(&joined), 1, "{joined}");
            assert_eq!(outputs(&joined, 10), outputs(&graph, 10));
            assert_eq!(joined.nodes.iter().filter(|node| matches!(node.op, Op::Pad { .. })).count(), 4, "left dead");
        }
    }

    #[test]
    fn pads_that_leave_a_gap_overlap_or_fill_with_another_value_stay() {
        // Pieces 0 and 2 of three leave a gap; a -0.0 or 1.0 fill is not the zero that adds nothing.
        assert_eq!(concats(&join_pads(pads_of_pieces(&[3, 2, 4], &[0, 2], 0.0))), 0, "a gap");
        for value in [-0.0, 1.0] {
            assert_eq!(concats(&join_pads(pads_of_pieces(&[3, 2], &[0, 1], value))), 0);
        }
        let overlapping = pads_of_pieces(&[3, 3], &[0, 0], 0.0);
        assert_eq!(concats(&join_pads(overlapping)), 0, "the same piece twice");
    }
}
