//! In-place Candle ops that fuse the encoder's elementwise steps around its
//! matmuls, so each matmul output is touched once more instead of three times,
//! with no new tensor allocated:
//! - [`bias_activation`]: `x ← act(x + bias)` (a Linear's bias, optionally
//!   followed by GELU/ReLU);
//! - [`residual_norm`]: `x ← LayerNorm(x + bias + residual)` (the end of both
//!   BERT sublayers).
//!
//! (Scale + mask + softmax runs inside [`super::attention`].)
//!
//! The row kernels live in [`super::simd`]; here they are run on rayon's pool
//! (the pool Candle's matmuls use, sized by `RAYON_NUM_THREADS`) in chunks of
//! whole rows once a tensor is large enough to pay for the split. All tensors
//! must be contiguous f32 on the CPU (the encoder only builds such).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor};
use rayon::prelude::*;

use super::simd::{self, Activation, NormParams, RowKernel};

/// Below this many elements a tensor is processed on the calling thread.
const PARALLEL_MIN_ELEMENTS: usize = 16 * 1024;

/// `x ← activation(x + bias)` over the last dimension; `None` adds the bias only.
pub(crate) fn bias_activation(x: &Tensor, bias: &Tensor, activation: Option<Activation>) -> Result<()> {
    x.inplace_op2(bias, &BiasActivation(activation))
}

/// `x ← LayerNorm(x + bias + residual)` over the last dimension, with
/// `params` = `[bias; gamma; beta]` stacked as `(3, hidden)`.
pub(crate) fn residual_norm(x: &Tensor, residual: &Tensor, params: &Tensor, eps: f32) -> Result<()> {
    x.inplace_op3(residual, params, &ResidualNorm(eps))
}

struct BiasActivation(Option<Activation>);

impl InplaceOp2 for BiasActivation {
    fn name(&self) -> &'static str {
        "fused-bias-activation"
    }

    fn cpu_fwd(&self, x: &mut CpuStorage, xl: &Layout, b: &CpuStorage, bl: &Layout) -> Result<()> {
        let x = contiguous_mut(x, xl, self.name())?;
        let bias = contiguous(b, bl, self.name())?;
        check_len(bias.len(), last_dim(xl)?, self.name())?;
        let kernel = RowKernel::BiasActivation { bias, activation: self.0 };
        for_row_chunks(x, bias.len(), |_, rows| simd::run_rows(kernel, rows, bias.len()));
        Ok(())
    }
}

struct ResidualNorm(f32);

impl InplaceOp3 for ResidualNorm {
    fn name(&self) -> &'static str {
        "fused-residual-layer-norm"
    }

    fn cpu_fwd(
        &self,
        x: &mut CpuStorage,
        xl: &Layout,
        r: &CpuStorage,
        rl: &Layout,
        p: &CpuStorage,
        pl: &Layout,
    ) -> Result<()> {
        let x = contiguous_mut(x, xl, self.name())?;
        let residual = contiguous(r, rl, self.name())?;
        let params = contiguous(p, pl, self.name())?;
        let hidden = last_dim(xl)?;
        check_len(residual.len(), x.len(), self.name())?;
        check_len(params.len(), 3 * hidden, self.name())?;
        let (bias, rest) = params.split_at(hidden);
        let (gamma, beta) = rest.split_at(hidden);
        let norm = NormParams { bias, gamma, beta, eps: self.0 };
        for_row_chunks(x, hidden, |first_row, rows| {
            let residual = residual.get(first_row * hidden..).unwrap_or_default();
            simd::run_rows(RowKernel::ResidualNorm { residual, params: norm }, rows, hidden)
        });
        Ok(())
    }
}

/// Runs `kernel(index of the first row, rows)` over `data` split into whole
/// rows of `row_len`: on rayon's pool, a few chunks per thread, when `data` is
/// large and there is more than one thread; in one call otherwise.
pub(super) fn for_row_chunks(data: &mut [f32], row_len: usize, kernel: impl Fn(usize, &mut [f32]) + Sync) {
    let threads = rayon::current_num_threads();
    let rows = data.len() / row_len.max(1);
    if threads <= 1 || data.len() < PARALLEL_MIN_ELEMENTS || rows < 2 {
        kernel(0, data);
        return;
    }
    let rows_per_chunk = rows.div_ceil(threads * 4).max(1);
    data.par_chunks_mut(rows_per_chunk * row_len)
        .enumerate()
        .for_each(|(chunk, rows)| kernel(chunk * rows_per_chunk, rows));
}

pub(super) fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: f32 tensor expected, got {:?}", storage.dtype());
    };
    layout
        .contiguous_offsets()
        .and_then(|(start, end)| data.get(start..end))
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: contiguous tensor expected")))
}

fn contiguous_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout, op: &str) -> Result<&'a mut [f32]> {
    let dtype = storage.dtype();
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: f32 tensor expected, got {dtype:?}");
    };
    layout
        .contiguous_offsets()
        .and_then(|(start, end)| data.get_mut(start..end))
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: contiguous tensor expected")))
}

fn last_dim(layout: &Layout) -> Result<usize> {
    match layout.dims().last() {
        Some(&n) if n > 0 => Ok(n),
        _ => candle_core::bail!("empty tensor"),
    }
}

fn check_len(got: usize, want: usize, op: &str) -> Result<()> {
    if got != want {
        candle_core::bail!("{op}: operand of {got} elements, {want} expected");
    }
    Ok(())
}
