//! The loop construct: a scan over time steps with a cell subgraph, and `get`, which takes a part of its result.

use crate::ir::{Op, Scan, TensorType, Type};

pub(super) fn scan(scan: &Scan, inputs: &[&Type]) -> Result<Type, String> {
    let body_inputs: Vec<&TensorType> = scan
        .body
        .ids()
        .filter(|&id| matches!(scan.body.node(id).op, Op::Input { .. }))
        .map(|id| scan.body.tensor_type(id))
        .collect();
    if body_inputs.len() != inputs.len() {
        return Err(format!("the body takes {} inputs but the scan passes {}", body_inputs.len(), inputs.len()));
    }
    if scan.carries + scan.sequences > inputs.len() {
        return Err(format!(
            "{} carries and {} sequences but only {} inputs",
            scan.carries,
            scan.sequences,
            inputs.len()
        ));
    }
    let outputs = &scan.body.outputs;
    if outputs.len() < scan.carries {
        return Err(format!("the body returns {} values but there are {} carries", outputs.len(), scan.carries));
    }
    let mut parts = Vec::new();
    for (index, (input, body_input)) in inputs.iter().zip(&body_inputs).enumerate() {
        let input = input.tensor().ok_or_else(|| format!("input {index} is a tuple"))?;
        let expected = if (scan.carries..scan.carries + scan.sequences).contains(&index) {
            if input.shape.first() != Some(&scan.steps) {
                return Err(format!("sequence {input} does not have {} steps on its first axis", scan.steps));
            }
            TensorType::new(input.dtype, input.shape[1..].to_vec())
        } else {
            input.clone()
        };
        if &expected != *body_input {
            return Err(format!("input {index} of the scan is {input} but the body reads {body_input}"));
        }
        if index < scan.carries {
            let returned = scan.body.tensor_type(outputs[index].node);
            if returned != input {
                return Err(format!("carry {index} enters as {input} but the body returns {returned}"));
            }
            parts.push(input.clone());
        }
    }
    for output in &outputs[scan.carries..] {
        let per_step = scan.body.tensor_type(output.node);
        let mut shape = vec![scan.steps];
        shape.extend(&per_step.shape);
        parts.push(TensorType::new(per_step.dtype, shape));
    }
    Ok(Type::Tuple(parts))
}

pub(super) fn get(inputs: &[&Type], index: usize) -> Result<Type, String> {
    match inputs {
        [Type::Tuple(parts)] => parts
            .get(index)
            .map(|part| Type::Tensor(part.clone()))
            .ok_or_else(|| format!("part {index} of a tuple of {}", parts.len())),
        [_] => Err("reads a tensor; `get` takes a part of a tuple".to_string()),
        _ => Err(format!("takes 1 input, found {}", inputs.len())),
    }
}
