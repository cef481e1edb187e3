//! Vectorised f32 math for the encoder's elementwise work: exp, erf, GELU and
//! the row kernels built on them (softmax, bias + activation, residual + layer
//! norm).
//!
//! Candle's own CPU kernels call libm's scalar `expf`/`erff` per element; in the
//! profile those were ~25 % of a MiniLM forward pass (benches/ml/RESULTS.md).
//! The functions here are branch-free polynomial approximations written over
//! plain slices, and [`vectorized`] compiles the calling loop for AVX2+FMA when
//! the CPU has it (pulp's runtime dispatch; no `unsafe` here), so LLVM turns
//! each loop into 8-lane SIMD. Reductions keep 8 independent partial results
//! for the same reason (a single f32 accumulator cannot be reordered).
//!
//! Accuracy (checked in the tests against f64): exp within 2e-7 relative, erf
//! within 5e-7 absolute, well inside the 1e-4 logit tolerance of the parity tests.

/// Partial results kept per reduction: one AVX2 register of f32.
const LANES: usize = 8;

/// Runs `op` compiled for AVX2+FMA (x86-64-v3), with its 8-lane registers,
/// when the CPU supports it, as compiled for the baseline target (1-lane
/// registers) otherwise. The loops must sit in an `#[inline(always)]` `call`
/// or `with_simd` (a closure body would be compiled out of line, for the
/// baseline target), and the helpers they call must be `#[inline(always)]` too.
#[inline(always)]
pub(crate) fn vectorized<Op: pulp::WithSimd>(op: Op) -> Op::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return pulp::Simd::vectorize(simd, op);
    }
    pulp::Simd::vectorize(pulp::Scalar::new(), op)
}

/// What [`run_rows`] does to each row.
#[derive(Clone, Copy)]
pub(crate) enum RowKernel<'a> {
    /// `row ← activation(row + bias)`; `None`: the bias only.
    BiasActivation { bias: &'a [f32], activation: Option<Activation> },
    /// `row ← layer_norm(row + bias + residual row)`; `residual` starts at
    /// the chunk's first row.
    ResidualNorm { residual: &'a [f32], params: NormParams<'a> },
}

/// Applies `kernel` to each `row_len` row of `rows`, vectorised for the CPU.
pub(crate) fn run_rows(kernel: RowKernel<'_>, rows: &mut [f32], row_len: usize) {
    vectorized(Rows { kernel, rows, row_len });
}

struct Rows<'a, 'b> {
    kernel: RowKernel<'a>,
    rows: &'b mut [f32],
    row_len: usize,
}

impl pulp::NullaryFnOnce for Rows<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let rows = self.rows.chunks_exact_mut(self.row_len);
        match self.kernel {
            RowKernel::BiasActivation { bias, activation } => {
                for row in rows {
                    bias_activation_row(row, bias, activation);
                }
            }
            RowKernel::ResidualNorm { residual, params } => {
                for (row, residual) in rows.zip(residual.chunks_exact(self.row_len)) {
                    residual_norm_row(row, residual, &params);
                }
            }
        }
    }
}

/// `e^x`: Cephes' degree-6 polynomial on `x - n·ln2`, scaled by `2^n` built in
/// the exponent bits. Inputs below -87 give 0 (a masked attention score), above
/// 88 give `e^88`.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact for the n that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2^23 rounds to the nearest integer, which then sits in the
    // low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(-87.0, 88.0);
    let shifted = clamped * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = (clamped - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let e_r = p * r * r + r + 1.0;
    let exponent = shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127);
    let scaled = e_r * f32::from_bits(exponent << 23);
    if x < -87.0 { 0.0 } else { scaled }
}

/// `erf(x)`: the rational approximation Eigen and XLA use for f32 (odd degree-13
/// numerator over even degree-8 denominator), exact to f32 rounding beyond |x| = 4.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = (((((-2.726_142_3e-10 * x2 + 2.770_681_4e-8) * x2 - 2.101_024e-6) * x2 - 5.692_506_4e-5) * x2
        - 7.349_906_3e-4)
        * x2
        - 2.954_6e-3)
        * x2
        - 1.609_603_3e-2;
    let q = (((-1.456_607_2e-5 * x2 - 2.133_740_6e-4) * x2 - 1.682_827e-3) * x2 - 7.373_329_2e-3) * x2 - 1.426_473_9e-2;
    x * p / q
}

/// GELU with the exact erf form, `x·Φ(x)` (BERT's `hidden_act = "gelu"`).
#[inline(always)]
pub(crate) fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU with the tanh approximation (`gelu_new` / `gelu_pytorch_tanh`).
#[inline(always)]
pub(crate) fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let u = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    // tanh(u) = 1 - 2 / (e^(2u) + 1), saturating correctly at both ends.
    let tanh = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
    0.5 * x * (1.0 + tanh)
}

/// The activation applied after the intermediate Linear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
}

#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = if x > *lane { x } else { *lane };
        }
    }
    lanes.into_iter().chain(tail.iter().copied()).fold(f32::NEG_INFINITY, |a, b| if b > a { b } else { a })
}

#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += x;
        }
    }
    lanes.into_iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// Sum of `(x - mean)^2`.
#[inline(always)]
fn squared_deviation(xs: &[f32], mean: f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            let d = x - mean;
            *lane += d * d;
        }
    }
    lanes.into_iter().sum::<f32>() + tail.iter().map(|&x| (x - mean) * (x - mean)).sum::<f32>()
}

/// `row ← softmax(row · scale + mask)`, with `mask` additive (0 or a large
/// negative number per position).
#[inline(always)]
pub(crate) fn softmax_row(row: &mut [f32], scale: f32, mask: Option<&[f32]>) {
    match mask {
        Some(mask) => {
            for (x, &m) in row.iter_mut().zip(mask) {
                *x = *x * scale + m;
            }
        }
        None => {
            for x in row.iter_mut() {
                *x *= scale;
            }
        }
    }
    let top = max(row);
    for x in row.iter_mut() {
        *x = exp(*x - top);
    }
    let inverse = 1.0 / sum(row);
    for x in row.iter_mut() {
        *x *= inverse;
    }
}

/// `row ← activation(row + bias)`, the activation picked outside the loop.
#[inline(always)]
pub(crate) fn bias_activation_row(row: &mut [f32], bias: &[f32], activation: Option<Activation>) {
    let pairs = row.iter_mut().zip(bias);
    match activation {
        None => pairs.for_each(|(x, &b)| *x += b),
        Some(Activation::GeluErf) => pairs.for_each(|(x, &b)| *x = gelu_erf(*x + b)),
        Some(Activation::GeluTanh) => pairs.for_each(|(x, &b)| *x = gelu_tanh(*x + b)),
        Some(Activation::Relu) => pairs.for_each(|(x, &b)| *x = (*x + b).max(0.0)),
    }
}

/// Parameters of a Linear's bias followed by a residual add and a layer norm.
#[derive(Clone, Copy)]
pub(crate) struct NormParams<'a> {
    pub bias: &'a [f32],
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub eps: f32,
}

/// `row ← layer_norm(row + bias + residual)`: BERT's `dense → + input →
/// LayerNorm` sublayer ending, in one pass over the row (plus the two
/// reductions), with the biased variance as in PyTorch.
#[inline(always)]
pub(crate) fn residual_norm_row(row: &mut [f32], residual: &[f32], params: &NormParams<'_>) {
    for ((x, &b), &r) in row.iter_mut().zip(params.bias).zip(residual) {
        *x = (*x + b) + r;
    }
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let inverse_std = 1.0 / (squared_deviation(row, mean) / n + params.eps).sqrt();
    for ((x, &g), &b) in row.iter_mut().zip(params.gamma).zip(params.beta) {
        *x = (*x - mean) * inverse_std * g + b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(from: f32, to: f32, steps: usize) -> impl Iterator<Item = f32> {
        (0..=steps).map(move |i| from + (to - from) * i as f32 / steps as f32)
    }

    #[test]
    fn exp_is_accurate_and_flushes_masked_scores() {
        let mut worst = 0.0f64;
        for x in grid(-87.0, 88.0, 200_000) {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 2e-7, "exp relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::MIN), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn erf_and_gelu_are_accurate() {
        let mut worst_erf = 0.0f64;
        let mut worst_gelu = 0.0f64;
        for x in grid(-10.0, 10.0, 200_000) {
            let want = candle_core::cpu::erf::erf_f64(f64::from(x));
            worst_erf = worst_erf.max((f64::from(erf(x)) - want).abs());
            let want_gelu = 0.5 * f64::from(x) * (1.0 + candle_core::cpu::erf::erf_f64(f64::from(x) / 2f64.sqrt()));
            worst_gelu = worst_gelu.max((f64::from(gelu_erf(x)) - want_gelu).abs());
        }
        assert!(worst_erf < 5e-7, "erf abs error {worst_erf}");
        assert!(worst_gelu < 2e-6, "gelu abs error {worst_gelu}");
    }

    #[test]
    fn gelu_tanh_matches_its_definition() {
        for x in grid(-12.0, 12.0, 10_000) {
            let xd = f64::from(x);
            let want = 0.5 * xd * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (xd + 0.044715 * xd.powi(3))).tanh());
            assert!((f64::from(gelu_tanh(x)) - want).abs() < 2e-6, "x {x}");
        }
    }

    #[test]
    fn softmax_row_matches_the_definition() {
        let scores: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin() * 9.0).collect();
        let mut mask = vec![0.0f32; 37];
        mask[30..].fill(f32::MIN);
        let mut row = scores.clone();
        softmax_row(&mut row, 0.5, Some(&mask));
        let top = scores[..30].iter().map(|&s| f64::from(s) * 0.5).fold(f64::MIN, f64::max);
        let total: f64 = scores[..30].iter().map(|&s| (f64::from(s) * 0.5 - top).exp()).sum();
        for (i, &p) in row.iter().enumerate() {
            let want = if i < 30 { (f64::from(scores[i]) * 0.5 - top).exp() / total } else { 0.0 };
            assert!((f64::from(p) - want).abs() < 1e-6, "position {i}: {p} vs {want}");
        }
    }

    #[test]
    fn residual_norm_row_matches_the_definition() {
        let n = 45;
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.9).cos() * 3.0).collect();
        let residual: Vec<f32> = (0..n).map(|i| i as f32 * 0.01).collect();
        let bias: Vec<f32> = (0..n).map(|i| 0.1 - i as f32 * 0.002).collect();
        let gamma: Vec<f32> = (0..n).map(|i| 1.0 + i as f32 * 0.01).collect();
        let beta: Vec<f32> = (0..n).map(|i| i as f32 * -0.003).collect();
        let mut row = x.clone();
        let params = NormParams { bias: &bias, gamma: &gamma, beta: &beta, eps: 1e-12 };
        run_rows(RowKernel::ResidualNorm { residual: &residual, params }, &mut row, n);
        let summed: Vec<f64> = (0..n).map(|i| f64::from(x[i]) + f64::from(bias[i]) + f64::from(residual[i])).collect();
        let mean = summed.iter().sum::<f64>() / n as f64;
        let var = summed.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        for i in 0..n {
            let want = (summed[i] - mean) / (var + 1e-12).sqrt() * f64::from(gamma[i]) + f64::from(beta[i]);
            assert!((f64::from(row[i]) - want).abs() < 1e-5, "position {i}");
        }
    }
}
