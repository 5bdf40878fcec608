//! Seeded random graphs for the IR's tests: well typed (built through [`Builder`]), covering every op, with scans
//! whose bodies hold scans, awkward names and awkward constants. The same seed gives the same graph.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{Binary, Builder, Compare, DType, Graph, NodeId, Op, Role, Scan, TensorType, Unary};

/// A random well-typed graph: a few inputs, a dozen nodes or so, some outputs. No constant is NaN, so that the
/// graph equals itself.
pub(crate) fn random_graph(seed: u64) -> Graph {
    let mut generator = Generator { rng: ChaCha20Rng::seed_from_u64(seed), names: 0 };
    let name = ["forward", "train_step", "with space", "", "cell.2"][generator.below(5)];
    generator.graph(name, 0, Vec::new())
}

/// Every op's text name in the graph, scan bodies included, to check what a set of graphs covers.
pub(crate) fn op_names(graph: &Graph, names: &mut std::collections::BTreeSet<&'static str>) {
    for node in &graph.nodes {
        names.insert(super::ops::name(&node.op));
        if let Op::Scan(scan) = &node.op {
            op_names(&scan.body, names);
        }
    }
}

/// How deep scans nest in a random graph.
const MAX_DEPTH: usize = 2;

struct Generator {
    rng: ChaCha20Rng,
    /// A counter that keeps names unique.
    names: usize,
}

impl Generator {
    fn below(&mut self, bound: usize) -> usize {
        self.rng.gen_range(0..bound.max(1))
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// A graph whose first nodes are `inputs` (name, role, type), then random ones.
    fn graph(&mut self, name: &str, depth: usize, inputs: Vec<TensorType>) -> Graph {
        let mut builder = Builder::new(name);
        let mut pool: Vec<NodeId> = Vec::new();
        let top = depth == 0;
        for ty in inputs {
            let name = self.name();
            pool.push(builder.input(name, Role::Batch, ty));
        }
        if top {
            for _ in 0..1 + self.below(3) {
                let node = self.input(&mut builder);
                pool.push(node);
            }
        }
        let steps = if depth == 0 { 4 + self.below(14) } else { 1 + self.below(5) };
        for _ in 0..steps {
            if let Some(node) = self.node(&mut builder, &pool, depth) {
                pool.extend(node);
            }
        }
        if !top {
            return builder.finish();
        }
        for _ in 0..1 + self.below(3) {
            let node = pool[self.below(pool.len())];
            let name = self.name();
            builder.output(name, node);
        }
        builder.finish()
    }

    /// A unique name with characters the text form must escape.
    fn name(&mut self) -> String {
        const STEMS: [&str; 9] = [
            "x",
            "dense_1.kernel",
            "a \"quoted\" name",
            "tab\there",
            "line\nbreak",
            "é",
            "\u{1}ctl",
            "back\\slash",
            "",
        ];
        self.names += 1;
        format!("{}{}", STEMS[self.below(STEMS.len())], self.names)
    }

    fn tensor_type(&mut self) -> TensorType {
        let dtype = match self.below(20) {
            0..=11 => DType::F32,
            12..=14 => DType::F64,
            15..=17 => DType::I32,
            _ => DType::Bool,
        };
        let shape: Vec<usize> = (0..self.below(4)).map(|_| 1 + self.below(4)).collect();
        TensorType::new(dtype, shape)
    }

    fn input(&mut self, builder: &mut Builder) -> NodeId {
        let role = Role::ALL[self.below(Role::ALL.len())];
        let ty = self.tensor_type();
        let name = self.name();
        builder.input(name, role, ty)
    }

    /// A value for a constant or a pad of a dtype: floats include signed zeros, infinities and values whose
    /// shortest text needs an exponent.
    fn value(&mut self, dtype: DType) -> f64 {
        const FLOATS: [f64; 13] =
            [0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 2.0, 1e-7, 1e30, 123456.789, f64::INFINITY, f64::NEG_INFINITY, 5e-324];
        match dtype {
            DType::F32 | DType::F64 if self.chance(20) => self.rng.gen_range(-10.0..10.0),
            DType::F32 | DType::F64 => FLOATS[self.below(FLOATS.len())],
            DType::I32 => self.below(7) as f64 - 3.0,
            DType::Bool => self.below(2) as f64,
        }
    }

    fn pick(&mut self, builder: &Builder, pool: &[NodeId], fits: impl Fn(&TensorType) -> bool) -> Option<NodeId> {
        let fitting: Vec<NodeId> = pool.iter().copied().filter(|&node| fits(builder.ty(node))).collect();
        (!fitting.is_empty()).then(|| fitting[self.below(fitting.len())])
    }

    /// Another node of `x`'s type: one from the pool or a new constant.
    fn partner(&mut self, builder: &mut Builder, pool: &[NodeId], x: NodeId) -> NodeId {
        let ty = builder.ty(x).clone();
        match self.pick(builder, pool, |other| *other == ty) {
            Some(other) if self.chance(60) => other,
            _ => {
                let value = self.value(ty.dtype);
                builder.constant(value, ty.dtype, ty.shape)
            }
        }
    }

    /// One random node (or a few: a scan and its parts), or `None` when the pool has nothing that fits.
    fn node(&mut self, builder: &mut Builder, pool: &[NodeId], depth: usize) -> Option<Vec<NodeId>> {
        let any = |_: &TensorType| true;
        let float = |ty: &TensorType| ty.dtype.is_float();
        let number = |ty: &TensorType| ty.dtype != DType::Bool;
        let ranked = |ty: &TensorType| ty.rank() >= 1;
        // Ops that grow a tensor take small ones, so that graphs stay small enough to run.
        let small = |ty: &TensorType| ty.elements() <= 64;
        let node = match self.below(17) {
            0 if depth == 0 => self.input(builder),
            0 => return None,
            1 => {
                let ty = self.tensor_type();
                let value = self.value(ty.dtype);
                builder.constant(value, ty.dtype, ty.shape)
            }
            2 => {
                let x = self.pick(builder, pool, float)?;
                const UNARIES: [Unary; 7] =
                    [Unary::Neg, Unary::Exp, Unary::Log, Unary::Sqrt, Unary::Recip, Unary::Tanh, Unary::Erf];
                builder.unary(UNARIES[self.below(7)], x)
            }
            3 => {
                let x = self.pick(builder, pool, number)?;
                let y = self.partner(builder, pool, x);
                const BINARIES: [Binary; 6] =
                    [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div, Binary::Max, Binary::Min];
                let (a, b) = if self.chance(50) { (x, y) } else { (y, x) };
                builder.binary(BINARIES[self.below(6)], a, b)
            }
            4 => {
                let x = self.pick(builder, pool, any)?;
                let y = self.partner(builder, pool, x);
                const COMPARES: [Compare; 6] =
                    [Compare::Lt, Compare::Le, Compare::Gt, Compare::Ge, Compare::Eq, Compare::Ne];
                builder.compare(COMPARES[self.below(6)], x, y)
            }
            5 => {
                let x = self.pick(builder, pool, any)?;
                let shape = builder.shape(x);
                let condition = match self.pick(builder, pool, |ty| ty.dtype == DType::Bool && ty.shape == shape) {
                    Some(condition) => condition,
                    None => {
                        let y = self.partner(builder, pool, x);
                        builder.compare(Compare::Ne, x, y)
                    }
                };
                let other = self.partner(builder, pool, x);
                builder.select(condition, x, other)
            }
            6 => {
                let x = self.pick(builder, pool, any)?;
                builder.cast(x, DType::ALL[self.below(4)])
            }
            7 => {
                let x = self.pick(builder, pool, |ty| number(ty) && ranked(ty))?;
                let axes: Vec<usize> = (0..builder.ty(x).rank()).filter(|_| self.chance(50)).collect();
                if self.chance(50) {
                    builder.reduce_sum(x, axes)
                } else {
                    builder.reduce_max(x, axes)
                }
            }
            8 => {
                let x = self.pick(builder, pool, ranked)?;
                let axis = self.below(builder.ty(x).rank());
                builder.argmax(x, axis)
            }
            9 => {
                let x = self.pick(builder, pool, any)?;
                let ty = builder.ty(x).clone();
                let shape = match self.below(3) {
                    0 => vec![ty.elements()],
                    1 => [vec![1], ty.shape.clone()].concat(),
                    _ => ty.shape.iter().rev().copied().collect(),
                };
                builder.push(Op::Reshape, vec![x], Some(TensorType::new(ty.dtype, shape).into()))
            }
            10 => {
                let x = self.pick(builder, pool, ranked)?;
                let mut perm: Vec<usize> = (0..builder.ty(x).rank()).collect();
                crate::rng::shuffle(&mut perm, &mut self.rng);
                builder.permute(x, perm)
            }
            11 => {
                let x = self.pick(builder, pool, small)?;
                let ty = builder.ty(x).clone();
                let reshaped = builder.push(
                    Op::Reshape,
                    vec![x],
                    Some(TensorType::new(ty.dtype, [vec![1], ty.shape.clone()].concat()).into()),
                );
                let shape = [vec![2 + self.below(2)], ty.shape].concat();
                builder.push(Op::Expand, vec![reshaped], Some(TensorType::new(ty.dtype, shape).into()))
            }
            12 => {
                let x = self.pick(builder, pool, small)?;
                let rank = builder.ty(x).rank();
                let mut sizes = || (0..rank).map(|_| self.rng.gen_range(0..3)).collect::<Vec<usize>>();
                let (low, high, interior) = (sizes(), sizes(), sizes());
                let value = self.value(builder.dtype(x));
                builder.pad(x, low, high, interior, value)
            }
            13 => {
                let x = self.pick(builder, pool, any)?;
                let shape = builder.shape(x);
                let start: Vec<usize> = shape.iter().map(|&size| self.below(size)).collect();
                let end: Vec<usize> =
                    shape.iter().zip(&start).map(|(&size, &start)| self.rng.gen_range(start + 1..=size)).collect();
                let step: Vec<usize> = shape.iter().map(|_| 1 + self.below(3)).collect();
                builder.slice(x, start, end, step)
            }
            14 => {
                let x = self.pick(builder, pool, |ty| ranked(ty) && small(ty))?;
                let ty = builder.ty(x).clone();
                let axis = self.below(ty.rank());
                let mut other_shape = ty.shape.clone();
                other_shape[axis] = 1 + self.below(3);
                let value = self.value(ty.dtype);
                let other = builder.constant(value, ty.dtype, other_shape);
                builder.push(Op::Concat { axis }, vec![x, other, x], None)
            }
            15 => {
                let x = self.pick(builder, pool, |ty| float(ty) && ty.rank() >= 2 && small(ty))?;
                let transposed = builder.transpose(x);
                builder.matmul(x, transposed)
            }
            _ if depth < MAX_DEPTH => return self.scan(builder, pool, depth),
            _ => return None,
        };
        Some(vec![node])
    }

    /// A scan over some carries, sequences and invariants from the pool, and a `get` of each part of its result.
    fn scan(&mut self, builder: &mut Builder, pool: &[NodeId], depth: usize) -> Option<Vec<NodeId>> {
        let mut sequences = Vec::new();
        let steps = match self.pick(builder, pool, |ty| ty.rank() >= 1) {
            Some(first) if self.chance(70) => {
                let steps = builder.shape(first)[0];
                sequences.push(first);
                if let Some(second) = self.pick(builder, pool, |ty| ty.shape.first() == Some(&steps)) {
                    sequences.push(second);
                }
                steps
            }
            _ => 1 + self.below(3),
        };
        let carries: Vec<NodeId> =
            (0..self.below(3)).filter_map(|_| self.pick(builder, pool, |_| true)).collect::<Vec<_>>();
        let invariants: Vec<NodeId> = (0..self.below(2)).filter_map(|_| self.pick(builder, pool, |_| true)).collect();
        let mut body_inputs: Vec<TensorType> = carries.iter().map(|&carry| builder.ty(carry).clone()).collect();
        for &sequence in &sequences {
            let ty = builder.ty(sequence);
            body_inputs.push(TensorType::new(ty.dtype, ty.shape[1..].to_vec()));
        }
        body_inputs.extend(invariants.iter().map(|&invariant| builder.ty(invariant).clone()));
        let mut body = self.graph("cell", depth + 1, body_inputs);
        // Each carry returns a value of its own type: the body's input itself or any node of that type.
        for index in 0..carries.len() {
            let ty = body.tensor_type(NodeId(index as u32)).clone();
            let fitting: Vec<NodeId> = body.ids().filter(|&id| body.node(id).ty.tensor() == Some(&ty)).collect();
            let node = fitting[self.below(fitting.len())];
            let name = self.name();
            body.outputs.push(super::Output { name, node });
        }
        let tensors: Vec<NodeId> = body.ids().filter(|&id| body.node(id).ty.tensor().is_some()).collect();
        for _ in 0..self.below(3) {
            if tensors.is_empty() {
                break;
            }
            let node = tensors[self.below(tensors.len())];
            let name = self.name();
            body.outputs.push(super::Output { name, node });
        }
        let parts = body.outputs.len();
        let scan = Scan { steps, carries: carries.len(), sequences: sequences.len(), reverse: self.chance(50), body };
        let inputs = [carries, sequences, invariants].concat();
        let scanned = builder.scan(scan, inputs);
        Some((0..parts).map(|index| builder.get(scanned, index)).collect())
    }
}
