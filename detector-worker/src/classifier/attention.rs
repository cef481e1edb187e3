//! Multi-head self-attention as one Candle op over the packed QKV matmul
//! output, instead of a split + transpose copy of Q, K and V, two batched
//! matmuls of one small gemm per (window, head) and a transpose copy of the
//! context.
//!
//! Why: at 2 threads each of those small gemms was split across both threads
//! (a sync per call, 12 per layer and window; benches/ml/RESULTS.md). Here
//! each head of a window runs start to end on one thread: K and V packed
//! into panels, then per group of [`QUERY_GROUP`] queries (read in place)
//! the scores, the scale + mask + softmax of [`simd::softmax_row`] and the
//! probabilities times V, all in cache. The work is shared out on rayon's
//! pool one window per task when there are enough windows (or one thread),
//! each head writing its columns of the window's context rows in place;
//! otherwise one (window, head) per task, written head-major and then
//! gathered into token rows by one parallel pass.
//!
//! Padding: keys after a window's last unmasked position get probability
//! exactly 0 in the reference (`exp` of `f32::MIN`), so they are skipped; so
//! are the queries after it, whose context is left 0 (a padding row never
//! reaches a token's output: every later attention masks it as a key).
//!
//! The two products run on [`pulp::Simd`] registers ([`group_product`]): a
//! tile of 2 registers of keys (or of V's columns) times [`QUERY_GROUP`]
//! queries, accumulated with FMA, compiled for AVX2+FMA when the CPU has it
//! ([`simd::vectorized`]).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use pulp::Simd;
use rayon::prelude::*;

use super::fused::{contiguous, for_row_chunks};
use super::simd;

/// Queries computed together: each register of K or V loaded feeds this many
/// pairs of accumulators (8 accumulators + 2 loaded + 1 broadcast of the 16
/// AVX2 registers).
const QUERY_GROUP: usize = 4;

/// Self-attention of `qkv`, the `(batch · seq, 3 · hidden)` output of the
/// fused Q|K|V Linear (bias included), into the `(batch · seq, hidden)`
/// context: `softmax(Q Kᵀ · scale + mask) V` per window and head. `mask`:
/// additive `(batch, seq)`, 0 for tokens and `f32::MIN` for padding; `None`
/// when every position is a token.
pub(crate) fn attention(qkv: &Tensor, batch: usize, heads: usize, mask: Option<&Tensor>, scale: f32) -> Result<Tensor> {
    let op = Attention { batch, heads, scale };
    match mask {
        Some(mask) => qkv.apply_op2_no_bwd(mask, &op),
        None => qkv.apply_op1_no_bwd(&op),
    }
}

struct Attention {
    batch: usize,
    heads: usize,
    scale: f32,
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = contiguous(s, l, CustomOp1::name(self))?;
        self.run(qkv, l, None)
    }
}

impl CustomOp2 for Attention {
    fn name(&self) -> &'static str {
        "fused-masked-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout, m: &CpuStorage, ml: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = contiguous(s, l, CustomOp2::name(self))?;
        let mask = contiguous(m, ml, CustomOp2::name(self))?;
        self.run(qkv, l, Some(mask))
    }
}

impl Attention {
    fn run(&self, qkv: &[f32], layout: &Layout, mask: Option<&[f32]>) -> Result<(CpuStorage, Shape)> {
        let (rows, width) = layout.shape().dims2()?;
        let (batch, heads) = (self.batch, self.heads);
        if batch == 0
            || heads == 0
            || rows == 0
            || !rows.is_multiple_of(batch)
            || !width.is_multiple_of(3 * heads)
            || width == 0
        {
            candle_core::bail!("fused-attention: qkv {rows}×{width} for {batch} windows of {heads} heads");
        }
        let (seq, hidden) = (rows / batch, width / 3);
        let d = hidden / heads;
        if mask.is_some_and(|m| m.len() != rows) {
            candle_core::bail!("fused-attention: mask for {batch}×{seq} expected");
        }
        let window_of = |window: usize| {
            let mask = mask.and_then(|m| m.get(window * seq..(window + 1) * seq));
            Window {
                rows: qkv.get(window * seq * width..(window + 1) * seq * width).unwrap_or_default(),
                width,
                mask,
                keys: mask.map_or(seq, last_token_end),
                d,
                scale: self.scale,
            }
        };
        let mut context = vec![0.0f32; rows * hidden];
        let threads = rayon::current_num_threads();
        if threads == 1 || batch >= 4 * threads {
            // Enough windows to share out: one task per window, whose heads
            // write their columns of its context rows in place.
            context.par_chunks_mut(seq * hidden).enumerate().for_each(|(window, out)| {
                for column in (0..hidden).step_by(d) {
                    simd::vectorized(Head {
                        window: window_of(window),
                        column,
                        out: &mut *out,
                        out_row: hidden,
                        out_column: column,
                    });
                }
            });
        } else {
            // One task per (window, head), written head-major, then gathered.
            let mut by_head = vec![0.0f32; rows * hidden];
            by_head.par_chunks_mut(seq * d).enumerate().for_each(|(task, out)| {
                simd::vectorized(Head {
                    window: window_of(task / heads),
                    column: task % heads * d,
                    out,
                    out_row: d,
                    out_column: 0,
                });
            });
            for_row_chunks(&mut context, hidden, |first_row, chunk| {
                gather_heads(&by_head, first_row, chunk, seq, hidden, d);
            });
        }
        Ok((CpuStorage::F32(context), Shape::from((rows, hidden))))
    }
}

/// One past the last unmasked position of a window's additive mask row.
fn last_token_end(mask: &[f32]) -> usize {
    mask.iter().rposition(|&m| m > f32::MIN / 2.0).map_or(0, |last| last + 1)
}

/// Fills `chunk`, the context rows from `first_row` on, each with its
/// token's per-head outputs from `by_head` `(window, head, position, d)`.
fn gather_heads(by_head: &[f32], first_row: usize, chunk: &mut [f32], seq: usize, hidden: usize, d: usize) {
    let heads = hidden / d;
    for (index, row) in chunk.chunks_exact_mut(hidden).enumerate() {
        let (window, position) = ((first_row + index) / seq, (first_row + index) % seq);
        for (head, out) in row.chunks_exact_mut(d).enumerate() {
            let start = ((window * heads + head) * seq + position) * d;
            if let Some(values) = by_head.get(start..start + d) {
                out.copy_from_slice(values);
            }
        }
    }
}

/// What every head of a window reads.
#[derive(Clone, Copy)]
struct Window<'a> {
    /// The window's `seq` rows of `[Q | K | V]`, each `width` long.
    rows: &'a [f32],
    width: usize,
    /// The window's additive mask row.
    mask: Option<&'a [f32]>,
    /// Positions computed, as keys and as queries: up to the last token.
    keys: usize,
    /// Head size.
    d: usize,
    scale: f32,
}

/// One head of one window.
struct Head<'a, 'b> {
    window: Window<'a>,
    /// The head's first column within Q (and within K and V).
    column: usize,
    /// Rows of `out_row` values, the head's context in the `d` columns from
    /// `out_column` of each.
    out: &'b mut [f32],
    out_row: usize,
    out_column: usize,
}

impl pulp::WithSimd for Head<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Head { window: Window { rows, width, mask, keys, d, scale }, column, out, out_row, out_column } = self;
        let hidden = width / 3;
        if keys == 0 || d == 0 {
            return;
        }
        // A tile: 2 registers of keys (scores) or of V's columns (context).
        let tile = 2 * S::F32_LANES;
        let padded_keys = keys.div_ceil(tile) * tile;
        let padded_d = d.div_ceil(tile) * tile;
        // K panels: per tile of keys, d rows of `tile` keys (0 past `keys`);
        // V panels: per tile of columns, `keys` rows of `tile` columns.
        let mut k_panels = vec![0.0f32; padded_keys * d];
        let mut v_panels = vec![0.0f32; padded_d * keys];
        for (j, row) in rows.chunks_exact(width).take(keys).enumerate() {
            let k = row.get(hidden + column..hidden + column + d).unwrap_or_default();
            let k_panel = k_panels.get_mut(j / tile * d * tile + j % tile..);
            for (slot, &x) in k_panel.unwrap_or_default().iter_mut().step_by(tile).zip(k) {
                *slot = x;
            }
            let v = row.get(2 * hidden + column..2 * hidden + column + d).unwrap_or_default();
            for (column_tile, part) in v.chunks(tile).enumerate() {
                let at = (column_tile * keys + j) * tile;
                if let Some(slots) = v_panels.get_mut(at..at + part.len()) {
                    slots.copy_from_slice(part);
                }
            }
        }
        let (k_panels, _) = S::as_simd_f32s(&k_panels);
        let (v_panels, _) = S::as_simd_f32s(&v_panels);
        let no_query = vec![0.0f32; d];
        let mut scores = vec![0.0f32; QUERY_GROUP * padded_keys];
        let mut context = vec![0.0f32; QUERY_GROUP * padded_d];
        for first in (0..keys).step_by(QUERY_GROUP) {
            let group = QUERY_GROUP.min(keys - first);
            // The group's query rows, read in place; 0 past the last.
            let queries: [&[f32]; QUERY_GROUP] = std::array::from_fn(|i| {
                let at = (first + i) * width + column;
                match rows.get(at..at + d) {
                    Some(q) if i < group => q,
                    _ => &no_query,
                }
            });
            group_product(simd, queries, k_panels, S::as_mut_simd_f32s(&mut scores).0);
            for row in scores.chunks_exact_mut(padded_keys).take(group) {
                if let Some(row) = row.get_mut(..keys) {
                    simd::softmax_row(row, scale, mask.and_then(|m| m.get(..keys)));
                }
            }
            let probabilities: [&[f32]; QUERY_GROUP] =
                std::array::from_fn(|i| scores.get(i * padded_keys..i * padded_keys + keys).unwrap_or_default());
            group_product(simd, probabilities, v_panels, S::as_mut_simd_f32s(&mut context).0);
            for (i, row) in context.chunks_exact(padded_d).take(group).enumerate() {
                let at = (first + i) * out_row + out_column;
                if let (Some(out), Some(row)) = (out.get_mut(at..at + d), row.get(..d)) {
                    out.copy_from_slice(row);
                }
            }
        }
    }
}

/// The values at each position `j` of the group's rows, up to the shortest.
/// (Four zipped iterators: no bounds check per value in the kernels' loops.)
#[inline(always)]
fn columns(rows: [&[f32]; QUERY_GROUP]) -> impl Iterator<Item = [f32; QUERY_GROUP]> + '_ {
    let [a, b, c, d] = rows;
    a.iter().zip(b).zip(c).zip(d).map(|(((&a, &b), &c), &d)| [a, b, c, d])
}

/// `out` `(QUERY_GROUP, 2 registers per panel)` ← the group's rows (`n`
/// values each) times each panel (`n` rows of 2 registers): per panel,
/// 2 × [`QUERY_GROUP`] accumulators over the `n` rows. Scores are queries
/// times K panels (`n` = d), the context is probabilities times V panels
/// (`n` = keys).
#[inline(always)]
fn group_product<S: Simd>(simd: S, group: [&[f32]; QUERY_GROUP], panels: &[S::f32s], out: &mut [S::f32s]) {
    let n = group[0].len();
    let row_registers = out.len() / QUERY_GROUP;
    for (tile, panel) in panels.chunks_exact(2 * n).enumerate() {
        let mut acc = [[simd.splat_f32s(0.0); 2]; QUERY_GROUP];
        for (b, a) in panel.chunks_exact(2).zip(columns(group)) {
            for (acc, a) in acc.iter_mut().zip(a) {
                let a = simd.splat_f32s(a);
                acc[0] = simd.mul_add_e_f32s(a, b[0], acc[0]);
                acc[1] = simd.mul_add_e_f32s(a, b[1], acc[1]);
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            let at = i * row_registers + 2 * tile;
            if let Some(out) = out.get_mut(at..at + 2) {
                out.copy_from_slice(acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, IndexOp, Tensor};

    use super::attention;

    /// Deterministic values in [-2, 2).
    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
            })
            .collect()
    }

    /// A `(rows, 3 · heads · d)` QKV matmul output.
    fn random_qkv(rows: usize, heads: usize, d: usize, seed: u64) -> Tensor {
        let values = random(rows * 3 * heads * d, seed);
        Tensor::from_vec(values, (rows, 3 * heads * d), &Device::Cpu).unwrap()
    }

    /// Candle's own ops: split, per-head matmuls, masked softmax, matmul.
    fn reference(qkv: &Tensor, batch: usize, heads: usize, mask: Option<&Tensor>, scale: f32) -> Tensor {
        let (rows, width) = qkv.dims2().unwrap();
        let (seq, d) = (rows / batch, width / 3 / heads);
        let qkv =
            qkv.reshape((batch, seq, 3, heads, d)).unwrap().permute((2, 0, 3, 1, 4)).unwrap().contiguous().unwrap();
        let (q, k, v) = (qkv.i(0).unwrap(), qkv.i(1).unwrap(), qkv.i(2).unwrap());
        let mut scores = (q.matmul(&k.t().unwrap()).unwrap() * f64::from(scale)).unwrap();
        if let Some(mask) = mask {
            let mask = mask.reshape((batch, 1, 1, seq)).unwrap();
            scores = scores.broadcast_add(&mask).unwrap();
        }
        candle_nn::ops::softmax_last_dim(&scores)
            .unwrap()
            .matmul(&v)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((rows, heads * d))
            .unwrap()
    }

    /// Largest difference between `got` and `want` over the rows `compared`
    /// keeps.
    fn max_difference(got: &Tensor, want: &Tensor, compared: impl Fn(usize) -> bool) -> f32 {
        let (got, want) = (got.to_vec2::<f32>().unwrap(), want.to_vec2::<f32>().unwrap());
        assert_eq!(got.len(), want.len());
        got.iter()
            .zip(&want)
            .enumerate()
            .filter(|(row, _)| compared(*row))
            .flat_map(|(_, (g, w))| g.iter().zip(w).map(|(g, w)| (g - w).abs()))
            .fold(0.0, f32::max)
    }

    /// Runs `check` on pools of 1, 2 and 3 threads: windows shared out
    /// whole (1 thread, or batches of 4 windows per thread) or per head.
    fn on_pools(check: impl Fn(usize) + Sync) {
        for threads in 1..=3 {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| check(threads));
        }
    }

    #[test]
    fn equals_candle_attention_without_mask() {
        // MiniLM's head layout (12 × 32), sizes that are no multiple of the
        // register tiles or of the query group (5 × 20, 37 positions), one
        // position, and 8 windows (one task per window at 2 threads).
        let cases = [(2, 64, 12, 32), (1, 37, 5, 20), (3, 1, 2, 8), (8, 19, 2, 24)];
        on_pools(|threads| {
            for (batch, seq, heads, d) in cases {
                let rows = batch * seq;
                let qkv = random_qkv(rows, heads, d, rows as u64);
                let scale = 1.0 / (d as f32).sqrt();
                let got = attention(&qkv, batch, heads, None, scale).unwrap();
                let want = reference(&qkv, batch, heads, None, scale);
                let diff = max_difference(&got, &want, |_| true);
                assert!(diff < 1e-5, "{threads} threads, {batch}×{seq}, {heads} heads of {d}: {diff}");
            }
        });
    }

    #[test]
    fn equals_candle_attention_with_padding_mask() {
        let (batch, seq, heads, d) = (8, 37, 3, 20);
        // Windows of 37 (no padding), 30, 5, 17 (with its position 3 masked
        // too: a hole before the last token), 1, 36, 37 and 12 tokens.
        let lengths = [37, 30, 5, 17, 1, 36, 37, 12];
        let mut mask = vec![0.0f32; batch * seq];
        for (window, &length) in lengths.iter().enumerate() {
            mask[window * seq + length..(window + 1) * seq].fill(f32::MIN);
        }
        mask[3 * seq + 3] = f32::MIN;
        let rows = batch * seq;
        let qkv = random_qkv(rows, heads, d, 7);
        let mask = Tensor::from_vec(mask, (batch, seq), &Device::Cpu).unwrap();
        let want = reference(&qkv, batch, heads, Some(&mask), 0.25);
        // Token rows (up to each window's last token) must match; padding
        // rows after it are 0.
        let token = |row: usize| row % seq < lengths[row / seq];
        on_pools(|threads| {
            let got = attention(&qkv, batch, heads, Some(&mask), 0.25).unwrap();
            let diff = max_difference(&got, &want, token);
            assert!(diff < 1e-5, "{threads} threads: max difference {diff}");
            let got = got.to_vec2::<f32>().unwrap();
            for (row, values) in got.iter().enumerate().filter(|(row, _)| !token(*row)) {
                assert!(values.iter().all(|&x| x == 0.0), "{threads} threads: padding row {row}");
            }
        });
    }

    /// Not a check: time per call (best of 20) of this op and of Candle's
    /// ops at MiniLM's head layout, for benches/ml/RESULTS.md.
    /// `cargo test --release -p detector-worker --lib attention_timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn attention_timing() {
        let (heads, d) = (12, 32);
        for (batch, seq) in [(1, 64), (1, 128), (1, 256), (1, 512), (8, 128), (32, 64)] {
            let rows = batch * seq;
            let qkv = random_qkv(rows, heads, d, 1);
            let best = |f: &dyn Fn()| {
                (0..20)
                    .map(|_| {
                        let started = std::time::Instant::now();
                        f();
                        started.elapsed().as_secs_f64() * 1e3
                    })
                    .fold(f64::MAX, f64::min)
            };
            let fused = best(&|| {
                attention(&qkv, batch, heads, None, 0.17).unwrap();
            });
            let candle = best(&|| {
                reference(&qkv, batch, heads, None, 0.17);
            });
            let gflop = 4.0 * (batch * seq * seq * heads * d) as f64 / 1e9;
            println!(
                "{batch}×{seq}: fused {fused:.2} ms ({:.1} GFLOP/s), candle ops {candle:.2} ms",
                gflop / fused * 1e3
            );
        }
    }
}
