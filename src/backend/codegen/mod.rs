//! Cranelift code generation for fused kernels: each [`Kernel`] becomes one native function, and a whole graph's
//! kernels compile into one JIT module at once ([`compile`]), owned by the [`Compiled`] that runs them.
//!
//! The code is specialised to the kernel: its extents and every buffer's strides are constants, the innermost axis
//! runs four lanes at a time (f32x4) with a scalar tail, loop-invariant loads and expressions are hoisted per row,
//! and exp, ln, tanh, the logistic function and erf are inline polynomial approximations ([`math`]) built on fused
//! multiply-adds. The ISA is the host's architecture with exactly the extensions of the chosen CPU path
//! ([`super::cpu`]), compiled with `opt_level=speed`: every `fma` is rounded once on every path (an instruction on
//! v3 and v4, a call of the C library's correctly rounded `fmaf` per lane on the portable path), so a kernel gives
//! the same bits on every path and every CPU.
//!
//! What the native code computes, against the reference evaluator ([`super::reference`]):
//! - `+ - * /`, sqrt, recip (a division), neg, comparisons, select, `max`/`min` (NaN from either operand
//!   propagates, with the interpreter's exact rule) and an outer-axis reduction give the same bits. A product
//!   followed by a sum stays two rounded operations: the generator never contracts a kernel's own `a * b + c` into
//!   a fused multiply-add, so that a result does not depend on the CPU.
//! - The approximations are within a few ulps of std / libm (see [`math`] for each bound), with the special values
//!   (±inf, ±0, NaN) exact.
//! - A sum along the innermost axis adds in four lanes and combines them at the end, so it differs from the
//!   sequential sum by rounding; its order is fixed by the code, never by the caller's split.
//!
//! The native signature is `extern "C" fn(buffers: *const *mut f32, start: usize, end: usize)`: the buffers
//! (operands, then outputs) and the positions to run, those whose index on the kernel's axis 0 lies in
//! `start..end`, so that callers split axis 0 among threads when [`Kernel::splittable`] allows.
//!
//! **Architecture invariant:** only this module imports `cranelift_*`.

mod emit;
mod layout;
mod math;
#[cfg(test)]
mod tests;
mod vector;

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::Range;
use std::time::{Duration, Instant};

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{AbiParam, Function, Signature, UserFuncName};
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Module, ModuleError, ModuleReloc};
use rayon::prelude::*;

use super::cpu::CpuPath;
use super::kernel::Kernel;
use layout::Layout;

/// Why kernels could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodegenError {
    /// The kernel breaks a rule of the kernel form (found before any code is emitted).
    InvalidKernel {
        /// The kernel's name.
        kernel: String,
        /// What is wrong, in words.
        reason: String,
    },
    /// Cranelift rejected the kernel's function (the verifier, or lowering): a bug of this code generator. The
    /// message shows the function with the verifier's errors under the offending lines.
    Rejected {
        /// The kernel's name.
        kernel: String,
        /// Cranelift's report.
        message: String,
    },
    /// The host cannot run JIT code: an unsupported CPU or no executable memory.
    Host {
        /// What failed, in words.
        message: String,
    },
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodegenError::InvalidKernel { kernel, reason } => write!(f, "kernel {kernel} is malformed: {reason}"),
            CodegenError::Rejected { kernel, message } => {
                write!(f, "cranelift rejected the code for kernel {kernel}:\n{message}")
            }
            CodegenError::Host { message } => write!(f, "cannot compile for this machine: {message}"),
        }
    }
}

impl std::error::Error for CodegenError {}

/// Kernels compiled to native code: one JIT module holding one function per kernel, in the order given to
/// [`compile`]. Calls may run concurrently from any threads (it is `Send + Sync`); the code is freed on drop.
pub struct Compiled {
    kernels: Vec<CompiledKernel>,
    /// Declared after `kernels`, whose function pointers point into it, so that it is dropped last.
    #[expect(dead_code, reason = "held for its drop, which frees the code the function pointers point into")]
    code: CodeMemory,
    compile_time: Duration,
}

// The executor shares one `Compiled` among its threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Compiled>();
};

/// One kernel's native function and what a safe call must check.
struct CompiledKernel {
    name: String,
    function: KernelFunction,
    operands: usize,
    /// Per buffer (operands, then outputs), the length it must have.
    required_lengths: Vec<usize>,
    /// The extent of the kernel's axis 0, the bound of a call's range.
    axis_0: usize,
}

/// The native signature of every kernel.
type KernelFunction = unsafe extern "C" fn(buffers: *const *mut f32, start: usize, end: usize);

/// The JIT module, kept only to free the code on drop.
struct CodeMemory(ManuallyDrop<JITModule>);

// SAFETY: `JITModule` is `Send` but not `Sync` (it caches symbol lookups in a `RefCell`). `CodeMemory` gives no access
// to the module through a shared reference: it is built and filled through `&mut` during `compile`, and afterwards
// only `Drop` (with exclusive access) touches it. Sharing `&CodeMemory` between threads therefore shares nothing.
unsafe impl Sync for CodeMemory {}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // SAFETY: the module is taken once, here. Its functions are only reachable through the `Compiled` that owns
        // this memory, which is being dropped, so no call is running and none can start.
        unsafe { ManuallyDrop::take(&mut self.0).free_memory() };
    }
}

/// Compiles `kernels` into one JIT module, one native function each (so that a whole graph compiles at once). The
/// kernels compile in parallel on rayon's threads (each is independent until its machine code is placed in the
/// module); the code for a kernel does not depend on the thread that compiled it.
pub fn compile(kernels: &[Kernel], path: CpuPath) -> Result<Compiled, CodegenError> {
    let started = Instant::now();
    let isa = isa(path)?;
    let signature = kernel_signature(&*isa)?;
    let mut builder = JITBuilder::with_isa(isa.clone(), default_libcall_names());
    // The portable path's fused multiply-add is a call of `fmaf`, which Cranelift looks up among the process's
    // symbols: a binary that never calls it itself (a test binary) has none. libm's is correctly rounded too.
    builder.symbol("fmaf", libm::fmaf as *const u8);
    let mut code = CodeMemory(ManuallyDrop::new(JITModule::new(builder)));
    let module = &mut *code.0;
    let ids = kernels
        .iter()
        .map(|_| module.declare_anonymous_function(&signature))
        .collect::<Result<Vec<FuncId>, _>>()
        .map_err(host_error)?;
    let target = Target { isa: &*isa, signature: &signature };
    // Collected in order before the first error is taken, so that the error reported does not depend on threads.
    let machine_code = kernels
        .par_iter()
        .zip(&ids)
        .map_init(
            || (FunctionBuilderContext::new(), Context::new()),
            |(builder_context, context), (kernel, &id)| target.compile(kernel, id, builder_context, context),
        )
        .collect::<Vec<Result<MachineCode, CodegenError>>>()
        .into_iter()
        .collect::<Result<Vec<MachineCode>, CodegenError>>()?;
    let mut compiled = Vec::with_capacity(kernels.len());
    for ((kernel, &id), machine_code) in kernels.iter().zip(&ids).zip(machine_code) {
        module
            .define_function_bytes(id, machine_code.alignment, &machine_code.bytes, &machine_code.relocations)
            .map_err(host_error)?;
        compiled.push((kernel, id, machine_code.required_lengths));
    }
    module.finalize_definitions().map_err(host_error)?;
    let kernels = compiled
        .into_iter()
        .map(|(kernel, id, required_lengths)| {
            let address = module.get_finalized_function(id);
            // SAFETY: the function was compiled with `kernel_signature`: three pointer-sized integers, no result, in
            // the host's default calling convention, which is `extern "C"`'s; pointers and `usize` are 64-bit
            // integers on the 64-bit hosts it accepts.
            let function = unsafe { std::mem::transmute::<*const u8, KernelFunction>(address) };
            CompiledKernel {
                name: kernel.name.clone(),
                function,
                operands: kernel.operands.len(),
                required_lengths,
                axis_0: kernel.dims[0],
            }
        })
        .collect();
    Ok(Compiled { kernels, code, compile_time: started.elapsed() })
}

/// What every kernel of a batch is compiled for.
struct Target<'a> {
    isa: &'a dyn TargetIsa,
    signature: &'a Signature,
}

/// One kernel's machine code, ready to be placed in the module.
struct MachineCode {
    bytes: Vec<u8>,
    alignment: u64,
    relocations: Vec<ModuleReloc>,
    required_lengths: Vec<usize>,
}

impl Target<'_> {
    /// Emits, optimises and lowers one kernel, reusing the thread's contexts.
    fn compile(
        &self,
        kernel: &Kernel,
        id: FuncId,
        builder_context: &mut FunctionBuilderContext,
        context: &mut Context,
    ) -> Result<MachineCode, CodegenError> {
        let layout = Layout::new(kernel)?;
        context.clear();
        context.func.signature = self.signature.clone();
        context.func.name = UserFuncName::user(0, id.as_u32());
        emit::define(&mut context.func, builder_context, kernel, &layout, self.isa);
        let rejected = |message: String| CodegenError::Rejected { kernel: kernel.name.clone(), message };
        if let Err(error) = context.compile(self.isa, &mut ControlPlane::default()) {
            return Err(rejected(cranelift_codegen::print_errors::pretty_error(error.func, error.inner)));
        }
        let Some(compiled) = context.compiled_code() else {
            return Err(rejected("cranelift compiled the function but kept no code".to_string()));
        };
        let relocations = compiled
            .buffer
            .relocs()
            .iter()
            .map(|reloc| ModuleReloc::from_mach_reloc(reloc, &context.func, id))
            .collect();
        Ok(MachineCode {
            bytes: compiled.code_buffer().to_vec(),
            alignment: compiled.buffer.alignment as u64,
            relocations,
            required_lengths: layout.required_lengths,
        })
    }
}

/// The Cranelift IR of `kernel`'s native function after Cranelift's optimisation (the egraph pass: constants
/// merged, loop invariants hoisted), just before lowering to machine code, as `galen compile --emit clif` prints it.
pub fn clif(kernel: &Kernel, path: CpuPath) -> Result<String, CodegenError> {
    let isa = isa(path)?;
    let layout = Layout::new(kernel)?;
    let mut function = Function::with_name_signature(UserFuncName::testcase(&kernel.name), kernel_signature(&*isa)?);
    emit::define(&mut function, &mut FunctionBuilderContext::new(), kernel, &layout, &*isa);
    let mut context = Context::for_function(function);
    if let Err(error) = context.optimize(&*isa, &mut ControlPlane::default()) {
        let message = cranelift_codegen::print_errors::pretty_error(&context.func, error);
        return Err(CodegenError::Rejected { kernel: kernel.name.clone(), message });
    }
    Ok(context.func.display().to_string())
}

impl Compiled {
    /// The number of kernels.
    pub fn len(&self) -> usize {
        self.kernels.len()
    }

    /// Whether there are no kernels.
    pub fn is_empty(&self) -> bool {
        self.kernels.is_empty()
    }

    /// The wall time [`compile`] took, from the host's ISA to the finalised code.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// Runs kernel `index` for the positions whose index on its axis 0 lies in `range`, reading `operands` and
    /// writing `outputs` (in the kernel's order). Inputs are shared slices and outputs exclusive ones, so the borrow
    /// checker rules out an output overlapping anything else; the same slice may be given as several operands.
    ///
    /// # Panics
    ///
    /// If there is no kernel `index`, the buffer counts differ from the kernel's, a buffer is shorter than the
    /// largest element the kernel touches over its whole iteration space (checked for every call, whatever the
    /// range, so that no call can read or write out of bounds), or `range` is not within the kernel's axis 0.
    pub fn run(&self, index: usize, operands: &[&[f32]], outputs: &mut [&mut [f32]], range: Range<usize>) {
        let kernel = self.kernel(index);
        let name = &kernel.name;
        assert_eq!(operands.len(), kernel.operands, "kernel {name} reads {} operands", kernel.operands);
        let stores = kernel.required_lengths.len() - kernel.operands;
        assert_eq!(outputs.len(), stores, "kernel {name} writes {stores} outputs");
        let lengths = operands.iter().map(|operand| operand.len()).chain(outputs.iter().map(|output| output.len()));
        for (buffer, (length, &required)) in lengths.zip(&kernel.required_lengths).enumerate() {
            assert!(
                length >= required,
                "kernel {name}: buffer {buffer} has {length} elements but the kernel reaches element {}",
                required - 1
            );
        }
        assert!(
            range.start <= range.end && range.end <= kernel.axis_0,
            "kernel {name}: range {range:?} is not within its axis 0 of {}",
            kernel.axis_0
        );
        let pointers: Vec<*mut f32> = operands
            .iter()
            .map(|operand| operand.as_ptr().cast_mut())
            .chain(outputs.iter_mut().map(|output| output.as_mut_ptr()))
            .collect();
        // SAFETY: every buffer is as long as the kernel reaches, the range is within axis 0, the native code only
        // reads through the operands' pointers, and the outputs are exclusive borrows that overlap nothing else.
        unsafe { (kernel.function)(pointers.as_ptr(), range.start, range.end) }
    }

    /// Runs kernel `index` on raw buffer pointers, for the executor's hot path.
    ///
    /// # Safety
    ///
    /// - `buffers` points to one pointer per operand, then one per output, in the kernel's order.
    /// - Each pointer is valid for the elements the kernel touches at the positions run (at most its required
    ///   length, [`Compiled::required_lengths`], from the pointer): for reads through an operand's pointer, for
    ///   reads and writes through an output's.
    /// - `start <= end <= dims[0]` of the kernel.
    /// - While the call runs, nothing else writes the memory it reads or accesses the memory it writes, and its
    ///   outputs overlap none of its other buffers. The one exception: an elementwise kernel's output may be exactly
    ///   an operand with the same access (same offset and strides), updated in place.
    ///
    /// Calls on disjoint ranges of a splittable kernel may run at the same time from several threads when the
    /// outputs they write are disjoint.
    ///
    /// # Panics
    ///
    /// If there is no kernel `index`.
    pub unsafe fn call_raw(&self, index: usize, buffers: *const *mut f32, start: usize, end: usize) {
        let kernel = self.kernel(index);
        // SAFETY: the caller upholds the contract above, which is the native function's.
        unsafe { (kernel.function)(buffers, start, end) }
    }

    /// Per buffer of kernel `index` (operands, then outputs), the length it must have: one past the largest element
    /// it touches over the whole iteration space.
    ///
    /// # Panics
    ///
    /// If there is no kernel `index`.
    pub fn required_lengths(&self, index: usize) -> &[usize] {
        &self.kernel(index).required_lengths
    }

    fn kernel(&self, index: usize) -> &CompiledKernel {
        self.kernels
            .get(index)
            .unwrap_or_else(|| panic!("there is no kernel {index}: {} were compiled", self.kernels.len()))
    }
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.kernels.iter().map(|kernel| kernel.name.as_str()).collect();
        f.debug_struct("Compiled").field("kernels", &names).field("compile_time", &self.compile_time).finish()
    }
}

/// The ISA of `path`, optimising for speed: the host's architecture with exactly the path's instruction set
/// extensions (not whatever else the CPU has), so that the same path compiles the same code on every machine.
fn isa(path: CpuPath) -> Result<OwnedTargetIsa, CodegenError> {
    let setting = |error: settings::SetError| CodegenError::Host { message: format!("cranelift setting: {error}") };
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(setting)?;
    // The JIT places code anywhere in memory: calls and libcalls must reach any address.
    flags.set("use_colocated_libcalls", "false").map_err(setting)?;
    flags.set("is_pic", "false").map_err(setting)?;
    if !path.is_supported() {
        return Err(CodegenError::Host { message: format!("this CPU cannot run the {path} code path") });
    }
    let host = |message: &str| CodegenError::Host { message: message.to_string() };
    let builder = if cfg!(target_arch = "x86_64") {
        let mut builder = cranelift_native::builder_with_options(false).map_err(host)?;
        for extension in x86_extensions(path) {
            builder.enable(extension).map_err(setting)?;
        }
        builder
    } else {
        // Elsewhere (aarch64) the baseline has vectors and fused multiply-add, and only the portable path exists.
        cranelift_native::builder().map_err(host)?
    };
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|error| CodegenError::Host { message: format!("cranelift ISA: {error}") })
}

/// The Cranelift x86-64 extensions a path enables: none beyond SSE2 for the portable path (so `fma` becomes a call
/// of the C library's correctly rounded `fmaf` per lane), x86-64-v3's for v3, and AVX-512 F, VL and DQ on top for
/// v4.
fn x86_extensions(path: CpuPath) -> Vec<&'static str> {
    const V3: [&str; 12] = [
        "has_sse3",
        "has_ssse3",
        "has_sse41",
        "has_sse42",
        "has_popcnt",
        "has_avx",
        "has_avx2",
        "has_fma",
        "has_bmi1",
        "has_bmi2",
        "has_lzcnt",
        "has_cmpxchg16b",
    ];
    const V4_MORE: [&str; 3] = ["has_avx512f", "has_avx512vl", "has_avx512dq"];
    match path {
        CpuPath::Portable => Vec::new(),
        CpuPath::V3 => V3.to_vec(),
        CpuPath::V4 => V3.iter().chain(&V4_MORE).copied().collect(),
    }
}

/// `(buffers: i64, start: i64, end: i64)` in the host's calling convention.
fn kernel_signature(isa: &dyn TargetIsa) -> Result<Signature, CodegenError> {
    if isa.pointer_type() != I64 {
        return Err(CodegenError::Host { message: "kernels need a 64-bit machine".to_string() });
    }
    let mut signature = Signature::new(isa.default_call_conv());
    signature.params.extend([AbiParam::new(I64), AbiParam::new(I64), AbiParam::new(I64)]);
    Ok(signature)
}

fn host_error(error: ModuleError) -> CodegenError {
    CodegenError::Host { message: error.to_string() }
}
