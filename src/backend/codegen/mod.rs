//! TEMPORARY local stand-in (not committed): runs kernels on the reference evaluator until Cranelift codegen lands.
use super::kernel::Kernel;
use std::fmt;
#[derive(Debug)]
pub struct CodegenError(String);
impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
pub struct Compiled {
    kernels: Vec<Kernel>,
}
pub fn compile(kernels: &[Kernel]) -> Result<Compiled, CodegenError> {
    Ok(Compiled { kernels: kernels.to_vec() })
}
impl Compiled {
    /// # Safety
    /// see reference
    pub unsafe fn call_raw(&self, index: usize, ptrs: *const *mut f32, start: usize, end: usize) {
        super::reference::run_raw(&self.kernels[index], ptrs, start, end)
    }
}
pub fn clif(kernel: &Kernel) -> Result<String, CodegenError> { Err(CodegenError(format!("no code generator yet for {}", kernel.name))) }
