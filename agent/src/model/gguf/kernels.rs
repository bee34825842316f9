//! learnat's CPU kernels for `x · Wᵀ` with W in the GGUF types of the Qwen2.5-Coder and SmolLM2
//! files: Q8_0 and Q5_0 (most of Qwen2.5-Coder-0.5B: its 896-wide rows do not fit K-quant
//! blocks, so llama.cpp quantized them to Q5_0 and Q8_0), Q4_K and Q6_K (the 0.5B's ffn_down,
//! all of the 1.5B) and Q4_1 (SmolLM2). candle 0.11 has only a scalar dot product for the
//! first two and re-packs K-quants into a second copy.
//!
//! Method (the one ggml uses): the activations are quantized to Q8_0 (32 values, one scale per
//! block, plus the block's scaled sum); each 32-value weight block is unpacked to 32 bytes and
//! multiplied with the activation bytes by AVX2 `maddubs` / `madd`, or by one AVX-512 VNNI
//! `vpdpbusd` where the CPU has it, giving exact i32 sums (8 lanes of 4 values), scaled per lane
//! by the weight scale (Q6_K has one per 16 values) times the activation scale (f16, converted
//! inline by F16C). Types with a minimum (Q4_1, Q4_K) add `minimum · Σx`, from the activation
//! block's sum, so their unsigned nibbles need no offset. Each product keeps two accumulators
//! (even and odd blocks), so a decode row is not bound by FMA latency. With several activation
//! rows (prefill), each unpacked weight block is reused for [`ACTIVATION_TILE`] rows. Every tile
//! shape sums in the same order (and a CPU without AVX2 runs the scalar code for every shape),
//! so logits do not depend on how tokens were batched. Work is split over weight rows, in
//! chunks, on the model's rayon pool ([`matmul_many`] splits the rows of several matrices that
//! share an input in one pass): chunks are stolen, so a core that is busy with another process
//! does not stall the others (no spin barriers).
//!
//! Without AVX2 (or off x86-64) a scalar implementation with the same integer arithmetic runs.

use std::sync::Arc;

use candle_core::quantized::GgmlDType;
use candle_core::{CpuStorage, Layout, Shape};
use half::f16;
use rayon::prelude::*;

/// Values per Q8_0 / Q5_0 / Q4_1 block, and per unpacked block of every type.
const BLOCK: usize = 32;
/// Values per K-quant super-block (8 blocks of [`BLOCK`]).
const SUPER_BLOCK: usize = 256;
/// Bytes per Q8_0 block: f16 scale + 32 signed bytes.
const Q8_0_BYTES: usize = 34;
/// Bytes per Q5_0 block: f16 scale + 32 high bits + 16 bytes of nibbles.
const Q5_0_BYTES: usize = 22;
/// Bytes per Q4_1 block: f16 scale, f16 minimum, 16 bytes of nibbles.
const Q4_1_BYTES: usize = 20;
/// Bytes per Q4_K super-block: f16 scale, f16 minimum scale, 12 bytes of 6-bit block scales
/// and minimums, 128 bytes of nibbles.
const Q4_K_BYTES: usize = 144;
/// Bytes per Q6_K super-block: 128 bytes of low nibbles, 64 of high bit pairs, 16 signed
/// scales (one per 16 values), f16 scale.
const Q6_K_BYTES: usize = 210;
/// Activation rows processed together against each unpacked weight block.
const ACTIVATION_TILE: usize = 8;

/// True when [`KernelWeights`] handles `dtype` with rows of `columns` values.
pub fn supports(dtype: GgmlDType, columns: usize) -> bool {
    geometry(dtype).is_some_and(|(values, _)| columns > 0 && columns.is_multiple_of(values))
}

/// Values and bytes per (super-)block of the types learnat's kernels take.
fn geometry(dtype: GgmlDType) -> Option<(usize, usize)> {
    match dtype {
        GgmlDType::Q8_0 => Some((BLOCK, Q8_0_BYTES)),
        GgmlDType::Q5_0 => Some((BLOCK, Q5_0_BYTES)),
        GgmlDType::Q4_1 => Some((BLOCK, Q4_1_BYTES)),
        GgmlDType::Q4K => Some((SUPER_BLOCK, Q4_K_BYTES)),
        GgmlDType::Q6K => Some((SUPER_BLOCK, Q6_K_BYTES)),
        _ => None,
    }
}

/// The raw GGUF blocks of one weight matrix `(rows, columns)`.
#[derive(Debug)]
pub struct KernelWeights {
    dtype: GgmlDType,
    rows: usize,
    columns: usize,
    data: Vec<u8>,
}

impl KernelWeights {
    /// Takes the blocks of a `rows × columns` matrix in `dtype`; checks the byte count.
    pub fn new(
        dtype: GgmlDType,
        rows: usize,
        columns: usize,
        data: Vec<u8>,
    ) -> candle_core::Result<KernelWeights> {
        if !supports(dtype, columns) {
            candle_core::bail!("no learnat kernel for {dtype:?} rows of {columns} values");
        }
        let expected = rows * row_bytes(dtype, columns);
        if data.len() != expected {
            candle_core::bail!(
                "{dtype:?} matrix {rows}x{columns} should take {expected} bytes, got {}",
                data.len()
            );
        }
        Ok(KernelWeights {
            dtype,
            rows,
            columns,
            data,
        })
    }

    /// Values per row.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Rows `ids` dequantized to f32, one after another (`ids.len() × columns`): an embedding
    /// lookup, so that a table tied to the output head is held once.
    pub fn dequantize_rows(&self, ids: &[u32]) -> candle_core::Result<Vec<f32>> {
        let row_bytes = row_bytes(self.dtype, self.columns);
        let mut out = Vec::with_capacity(ids.len() * self.columns);
        let mut values = [0i8; BLOCK];
        for &id in ids {
            let id = id as usize;
            if id >= self.rows {
                candle_core::bail!("token id {id} is outside the table of {} rows", self.rows);
            }
            let row = &self.data[id * row_bytes..(id + 1) * row_bytes];
            for block in 0..self.columns / BLOCK {
                let scales = unpack_block_scalar(self.dtype, row, block, &mut values);
                out.extend(
                    values.iter().enumerate().map(|(i, &v)| {
                        scales.halves[i / (BLOCK / 2)] * f32::from(v) + scales.offset
                    }),
                );
            }
        }
        Ok(out)
    }

    /// `output[r][o] = Σ_c input[r][c] · W[o][c]` for `input` of `rows × columns` f32.
    pub fn matmul(&self, input: &[f32], input_rows: usize) -> Vec<f32> {
        let mut outputs = matmul_many(&[self], input, input_rows);
        outputs.pop().unwrap_or_default()
    }
}

/// [`KernelWeights::matmul`] of one input with several weights of its width (q, k and v; gate
/// and up): the input is quantized once and all of their rows are split over the pool in one
/// parallel pass, so a decode step wakes the other threads once instead of once per matrix.
/// Each product is computed exactly as by `matmul` alone.
///
/// # Panics
/// When the weights' column counts differ (callers pass the projections of one input).
pub fn matmul_many(weights: &[&KernelWeights], input: &[f32], input_rows: usize) -> Vec<Vec<f32>> {
    let Some(columns) = weights.first().map(|w| w.columns) else {
        return Vec::new();
    };
    assert!(
        weights.iter().all(|w| w.columns == columns),
        "matmul_many: weights of different widths"
    );
    let activations = Activations::new(weights, input, input_rows, columns);
    let mut outputs: Vec<Vec<f32>> = weights
        .iter()
        .map(|w| vec![0f32; input_rows * w.rows])
        .collect();
    let pointers: Vec<SharedOutput> = outputs
        .iter_mut()
        .map(|o| SharedOutput(o.as_mut_ptr()))
        .collect();
    let threads = rayon::current_num_threads().max(1);
    let total_rows: usize = weights.iter().map(|w| w.rows).sum();
    // Enough chunks for stealing to balance uneven cores, few enough to keep scheduling cheap;
    // each chunk is a contiguous run of one matrix's weight rows.
    let chunk_rows = (total_rows / (threads * 8)).clamp(8, 256);
    let chunks: Vec<(usize, usize)> = weights
        .iter()
        .enumerate()
        .flat_map(|(matrix, w)| (0..w.rows.div_ceil(chunk_rows)).map(move |c| (matrix, c)))
        .collect();
    chunks.into_par_iter().for_each(|(matrix, chunk)| {
        let w = weights[matrix];
        let first = chunk * chunk_rows;
        let last = (first + chunk_rows).min(w.rows);
        let row_bytes = row_bytes(w.dtype, w.columns);
        // SAFETY: chunks cover disjoint weight rows of each matrix, hence disjoint output
        // columns of its own output.
        unsafe {
            multiply_chunk(
                w.dtype,
                &w.data[first * row_bytes..last * row_bytes],
                row_bytes,
                first,
                last - first,
                &activations,
                &pointers[matrix],
                w.rows,
            )
        };
    });
    drop(pointers);
    outputs
}

/// True for the K-quants, whose kernels take the activations as ggml's Q8_K.
fn is_super_block(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q4K | GgmlDType::Q6K)
}

/// The input of one product pass, quantized as each of its weights needs.
struct Activations {
    rows: usize,
    /// Q8_0, for Q8_0, Q5_0 and Q4_1 weights.
    blocks: Option<QuantizedActivations>,
    /// Q8_K, for Q4_K and Q6_K weights.
    super_blocks: Option<SuperActivations>,
}

impl Activations {
    fn new(weights: &[&KernelWeights], input: &[f32], rows: usize, columns: usize) -> Activations {
        let wanted = |k: bool| weights.iter().any(|w| is_super_block(w.dtype) == k);
        Activations {
            rows,
            blocks: wanted(false).then(|| quantize_q8_0(input, rows, columns)),
            super_blocks: wanted(true).then(|| quantize_q8_k(input, rows, columns)),
        }
    }
}

/// Bytes of one quantized row.
fn row_bytes(dtype: GgmlDType, columns: usize) -> usize {
    let (values, bytes) = geometry(dtype).unwrap_or((BLOCK, Q8_0_BYTES));
    columns / values * bytes
}

/// The output buffer, written by several threads at disjoint indices.
struct SharedOutput(*mut f32);
// SAFETY: every writer writes a disjoint set of indices (see KernelWeights::matmul).
unsafe impl Sync for SharedOutput {}
unsafe impl Send for SharedOutput {}

/// Activation rows quantized in groups of values: per group one f32 scale, its values as signed
/// bytes, and `per_group` sums of type `S`.
struct Quantized<S> {
    rows: usize,
    /// Groups per row.
    groups: usize,
    group: usize,
    per_group: usize,
    scales: Vec<f32>,
    quants: Vec<i8>,
    sums: Vec<S>,
}

/// Activations quantized to Q8_0 (groups of 32, f16-rounded scales), with each block's
/// `scale · Σ quants` (for the weight types with a minimum, as ggml's Q8_1).
type QuantizedActivations = Quantized<f32>;

/// Activations quantized as ggml's Q8_K: groups of 256 with f32 scales and the sums of each 16
/// quants. With one scale per super-block, a K-quant product sums exact integers (block scales
/// applied as integers) over 256 values and needs one float step.
type SuperActivations = Quantized<i16>;

impl<S: Copy + Default + Send + Sync> Quantized<S> {
    /// Quantizes `rows × columns` values by `quantize(values, quants, scale, sums)` per group;
    /// the rows of a prefill chunk in parallel (one thread left the other core idle), a
    /// decode row, too small to split, on the calling thread.
    fn new(
        input: &[f32],
        (rows, columns): (usize, usize),
        (group, per_group): (usize, usize),
        quantize: impl Fn(&[f32], &mut [i8], &mut f32, &mut [S]) + Sync,
    ) -> Quantized<S> {
        let groups = columns / group;
        let mut scales = vec![0f32; rows * groups];
        let mut quants = vec![0i8; rows * columns];
        let mut sums = vec![S::default(); rows * groups * per_group];
        type Row<'a, S> = (((&'a [f32], &'a mut [i8]), &'a mut [f32]), &'a mut [S]);
        let quantize_row = |(((values, out), row_scales), row_sums): Row<'_, S>| {
            for (((values, out), scale), sums) in values
                .chunks_exact(group)
                .zip(out.chunks_exact_mut(group))
                .zip(row_scales)
                .zip(row_sums.chunks_exact_mut(per_group))
            {
                quantize(values, out, scale, sums);
            }
        };
        if rows >= 8 {
            input
                .par_chunks_exact(columns)
                .zip(quants.par_chunks_exact_mut(columns))
                .zip(scales.par_chunks_exact_mut(groups))
                .zip(sums.par_chunks_exact_mut(groups * per_group))
                .for_each(quantize_row);
        } else {
            input
                .chunks_exact(columns)
                .zip(quants.chunks_exact_mut(columns))
                .zip(scales.chunks_exact_mut(groups))
                .zip(sums.chunks_exact_mut(groups * per_group))
                .for_each(quantize_row);
        }
        Quantized {
            rows,
            groups,
            group,
            per_group,
            scales,
            quants,
            sums,
        }
    }

    fn row_quants(&self, row: usize) -> &[i8] {
        let width = self.groups * self.group;
        &self.quants[row * width..(row + 1) * width]
    }

    fn row_scales(&self, row: usize) -> &[f32] {
        &self.scales[row * self.groups..(row + 1) * self.groups]
    }

    fn row_sums(&self, row: usize) -> &[S] {
        let width = self.groups * self.per_group;
        &self.sums[row * width..(row + 1) * width]
    }
}

/// `value` rounded to the nearest integer, halves to even, for `|value| < 2²²`: ggml's
/// `nearest_int`, in two float additions (`f32::round_ties_even` is a libm call, `rintf`,
/// without SSE4.1: 4% of the 1.5B model's decode time).
#[inline(always)]
fn round_half_even(value: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³
    (value + MAGIC) - MAGIC
}

/// Q8_0 activations, as the x86 quantize_row_q8_0 of llama.cpp's CPU backend: scaled by
/// 127 / max, rounded half to even; the stored scale max / 127 is rounded to f16.
fn quantize_q8_0(input: &[f32], rows: usize, columns: usize) -> QuantizedActivations {
    Quantized::new(
        input,
        (rows, columns),
        (BLOCK, 1),
        |values, out, scale, sum| {
            let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            let inverse = if max > 0.0 { 127.0 / max } else { 0.0 };
            *scale = f16::from_f32(max / 127.0).to_f32();
            let mut total = 0i32;
            for (q, v) in out.iter_mut().zip(values) {
                *q = round_half_even(v * inverse).clamp(-127.0, 127.0) as i8;
                total += i32::from(*q);
            }
            // As ggml's Q8_1 (the input of its Q4_1 products): max / 127 · Σ quants, rounded
            // to f16.
            sum[0] = f16::from_f32(max / 127.0 * total as f32).to_f32();
        },
    )
}

/// Q8_K activations, as ggml's quantize_row_q8_K: the value of largest magnitude maps to -127,
/// rounding half to even; the scale stays f32.
fn quantize_q8_k(input: &[f32], rows: usize, columns: usize) -> SuperActivations {
    Quantized::new(
        input,
        (rows, columns),
        (SUPER_BLOCK, 16),
        |values, out, scale, sums| {
            let (mut largest, mut extreme) = (0f32, 0f32);
            for &v in values {
                if v.abs() > largest {
                    largest = v.abs();
                    extreme = v;
                }
            }
            if largest == 0.0 {
                return;
            }
            let inverse = -127.0 / extreme;
            for (q, v) in out.iter_mut().zip(values) {
                *q = round_half_even(inverse * v).min(127.0) as i8;
            }
            for (sum, group) in sums.iter_mut().zip(out.chunks_exact(16)) {
                *sum = group.iter().map(|&q| i16::from(q)).sum();
            }
            *scale = 1.0 / inverse;
        },
    )
}

/// Multiplies weight rows `first..first + count` (their bytes in `weights`) with every
/// activation row, writing `output[r * out_stride + first + i]`.
///
/// # Safety
/// `output` must have room for `activations.rows * out_stride` values and no other thread may
/// write the columns `first..first + count`; `activations` must hold the quantization that
/// `dtype` takes.
#[allow(clippy::too_many_arguments)]
unsafe fn multiply_chunk(
    dtype: GgmlDType,
    weights: &[u8],
    row_bytes: usize,
    first: usize,
    count: usize,
    activations: &Activations,
    output: &SharedOutput,
    out_stride: usize,
) {
    let (blocks, super_blocks) = (&activations.blocks, &activations.super_blocks);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") && has!("f16c") {
            let vnni = has!("avx512vnni") && has!("avx512vl") && has!("avx512bw");
            // SAFETY (both calls): the CPU has AVX2, FMA, F16C, and VNNI with BW where `vnni`; the
            // caller's guarantees are passed on.
            if is_super_block(dtype) {
                let Some(activations) = super_blocks else {
                    return;
                };
                let chunk = avx2::Chunk {
                    weights,
                    row_bytes,
                    first,
                    count,
                    rows: activations.rows,
                    output,
                    out_stride,
                };
                unsafe { avx2::multiply_super_chunk(dtype, vnni, &chunk, activations) };
            } else if let Some(activations) = blocks {
                let chunk = avx2::Chunk {
                    weights,
                    row_bytes,
                    first,
                    count,
                    rows: activations.rows,
                    output,
                    out_stride,
                };
                unsafe { avx2::multiply_chunk(dtype, vnni, &chunk, activations) };
            }
            return;
        }
    }
    for row in 0..count {
        let weight_row = &weights[row * row_bytes..(row + 1) * row_bytes];
        for input_row in 0..activations.rows {
            let value = match (blocks, super_blocks) {
                (_, Some(a)) if is_super_block(dtype) => {
                    scalar_super_dot(dtype, weight_row, a, input_row)
                }
                (Some(a), _) => scalar_dot(dtype, weight_row, a, input_row),
                _ => continue,
            };
            // SAFETY: in bounds and exclusive by the caller's contract.
            unsafe { *output.0.add(input_row * out_stride + first + row) = value };
        }
    }
}

/// One K-quant weight row against one Q8_K activation row, in plain Rust (the reference for
/// the SIMD code): per super-block, the exact integer sum with the block scales applied as
/// integers, then one scaling by `d · d_x` (and the minimums' `-dmin · d_x` term for Q4_K).
fn scalar_super_dot(
    dtype: GgmlDType,
    weight_row: &[u8],
    activations: &SuperActivations,
    input_row: usize,
) -> f32 {
    let quants = activations.row_quants(input_row);
    let scales = activations.row_scales(input_row);
    let sums = activations.row_sums(input_row);
    let mut total = 0f32;
    let mut values = [0i8; BLOCK];
    for s in 0..activations.groups {
        let inputs = &quants[s * SUPER_BLOCK..(s + 1) * SUPER_BLOCK];
        let group_sums = &sums[s * 16..(s + 1) * 16];
        let dot = |values: &[i8], inputs: &[i8]| -> i32 {
            values
                .iter()
                .zip(inputs)
                .map(|(w, x)| i32::from(*w) * i32::from(*x))
                .sum()
        };
        if dtype == GgmlDType::Q6K {
            let sup = &weight_row[s * Q6_K_BYTES..(s + 1) * Q6_K_BYTES];
            let mut integer = 0i32;
            for j in 0..8 {
                // Values q − 32 with their signed per-16 scales.
                unpack_block_scalar(dtype, sup, j, &mut values);
                for half in 0..2 {
                    let g = 2 * j + half;
                    let scale = i32::from(sup[192 + g] as i8);
                    integer += scale * dot(&values[16 * half..][..16], &inputs[16 * g..][..16]);
                }
            }
            total += f16_at(sup, 208) * scales[s] * integer as f32;
        } else {
            let sup = &weight_row[s * Q4_K_BYTES..(s + 1) * Q4_K_BYTES];
            let (mut integer, mut minimums) = (0i32, 0i32);
            for j in 0..8 {
                unpack_block_scalar(dtype, sup, j, &mut values);
                let (scale, minimum) = q4_k_scale_min(&sup[4..16], j);
                integer += i32::from(scale) * dot(&values, &inputs[32 * j..][..32]);
                let block_sum = i32::from(group_sums[2 * j]) + i32::from(group_sums[2 * j + 1]);
                minimums += i32::from(minimum) * block_sum;
            }
            total += f16_at(sup, 0) * scales[s] * integer as f32;
            total += -(f16_at(sup, 2) * scales[s]) * minimums as f32;
        }
    }
    total
}

/// One weight row against one activation row, in plain Rust (the reference for the SIMD code).
fn scalar_dot(
    dtype: GgmlDType,
    weight_row: &[u8],
    activations: &QuantizedActivations,
    input_row: usize,
) -> f32 {
    let quants = activations.row_quants(input_row);
    let scales = activations.row_scales(input_row);
    let scaled_sums = activations.row_sums(input_row);
    let mut sum = 0f32;
    let mut offsets = 0f32;
    let mut weight_values = [0i8; BLOCK];
    for block in 0..activations.groups {
        let weight = unpack_block_scalar(dtype, weight_row, block, &mut weight_values);
        let inputs = &quants[block * BLOCK..(block + 1) * BLOCK];
        for (half, scale) in weight.halves.iter().enumerate() {
            let range = half * BLOCK / 2..(half + 1) * BLOCK / 2;
            let integer: i32 = weight_values[range.clone()]
                .iter()
                .zip(&inputs[range])
                .map(|(w, x)| i32::from(*w) * i32::from(*x))
                .sum();
            sum += scale * scales[block] * integer as f32;
        }
        offsets += weight.offset * scaled_sums[block];
    }
    sum + offsets
}

/// How the 32 unpacked values of a weight block become weights: value `i` is
/// `halves[i / 16] · values[i] + offset`.
struct BlockScales {
    halves: [f32; 2],
    offset: f32,
}

/// The 6-bit scale and minimum of block `j` (0..8) of a Q4_K super-block, from its 12 packed
/// bytes (ggml's `get_scale_min_k4`).
#[inline(always)]
fn q4_k_scale_min(packed: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (packed[j] & 63, packed[j + 4] & 63)
    } else {
        (
            (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4),
            (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
        )
    }
}

/// The f16 at `bytes[at..at + 2]`.
fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// Unpacks 32-value block `block` of a weight row into 32 signed values; returns its scales.
fn unpack_block_scalar(
    dtype: GgmlDType,
    row: &[u8],
    block: usize,
    out: &mut [i8; BLOCK],
) -> BlockScales {
    let uniform = |scale: f32, offset: f32| BlockScales {
        halves: [scale; 2],
        offset,
    };
    match dtype {
        GgmlDType::Q5_0 => {
            let bytes = &row[block * Q5_0_BYTES..(block + 1) * Q5_0_BYTES];
            let high = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
            let nibbles = &bytes[6..22];
            for j in 0..BLOCK / 2 {
                let low_high = ((high >> j) & 1) as u8;
                let high_high = ((high >> (j + 16)) & 1) as u8;
                out[j] = ((nibbles[j] & 0x0F) | (low_high << 4)) as i8 - 16;
                out[j + 16] = ((nibbles[j] >> 4) | (high_high << 4)) as i8 - 16;
            }
            uniform(f16_at(bytes, 0), 0.0)
        }
        GgmlDType::Q4_1 => {
            let bytes = &row[block * Q4_1_BYTES..(block + 1) * Q4_1_BYTES];
            for (j, &b) in bytes[4..20].iter().enumerate() {
                out[j] = (b & 0x0F) as i8;
                out[j + 16] = (b >> 4) as i8;
            }
            uniform(f16_at(bytes, 0), f16_at(bytes, 2))
        }
        GgmlDType::Q4K => {
            let bytes = &row[block / 8 * Q4_K_BYTES..(block / 8 + 1) * Q4_K_BYTES];
            let j = block % 8;
            let (scale, minimum) = q4_k_scale_min(&bytes[4..16], j);
            let nibbles = &bytes[16 + j / 2 * 32..16 + (j / 2 + 1) * 32];
            let shift = if j % 2 == 1 { 4 } else { 0 };
            for (o, b) in out.iter_mut().zip(nibbles) {
                *o = ((b >> shift) & 0x0F) as i8;
            }
            uniform(
                f16_at(bytes, 0) * f32::from(scale),
                -(f16_at(bytes, 2) * f32::from(minimum)),
            )
        }
        GgmlDType::Q6K => {
            let bytes = &row[block / 8 * Q6_K_BYTES..(block / 8 + 1) * Q6_K_BYTES];
            let (half, k) = (block % 8 / 4, block % 4);
            let low = &bytes[64 * half + 32 * (k & 1)..][..32];
            let high = &bytes[128 + 32 * half..][..32];
            let low_shift = if k >= 2 { 4 } else { 0 };
            for ((o, l), h) in out.iter_mut().zip(low).zip(high) {
                let value = ((l >> low_shift) & 0x0F) | (((h >> (2 * k)) & 3) << 4);
                *o = value as i8 - 32;
            }
            let scales = &bytes[192 + 8 * half..];
            let d = f16_at(bytes, 208);
            BlockScales {
                halves: [
                    d * f32::from(scales[2 * k] as i8),
                    d * f32::from(scales[2 * k + 1] as i8),
                ],
                offset: 0.0,
            }
        }
        _ => {
            let bytes = &row[block * Q8_0_BYTES..(block + 1) * Q8_0_BYTES];
            for (o, b) in out.iter_mut().zip(&bytes[2..34]) {
                *o = *b as i8;
            }
            uniform(f16_at(bytes, 0), 0.0)
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The AVX2 + FMA implementation.

    use std::arch::x86_64::*;

    use candle_core::quantized::GgmlDType;

    use super::{
        ACTIVATION_TILE, BLOCK, Q4_1_BYTES, Q4_K_BYTES, Q5_0_BYTES, Q6_K_BYTES, Q8_0_BYTES,
        Quantized, QuantizedActivations, SUPER_BLOCK, SharedOutput, SuperActivations,
    };

    /// A 32-value weight type: how to unpack its block `block` of a row to 32 bytes, the scale
    /// of each i32 lane of their products (lane `i` holds values `4i..4i + 4`), and the
    /// coefficient of the input block's sum (see [`super::BlockScales`]).
    pub(super) trait WeightBlock {
        /// The values are 0..=15 (Q4_1, Q4_K): the byte products need no sign transfer.
        const UNSIGNED: bool;
        /// The weights have a minimum (Q4_1, Q4_K), so `offset · Σx` is added.
        const OFFSET: bool;
        /// Bytes, lane scales and offset of block `block` of the row at `row`.
        ///
        /// # Safety
        /// `row` must point at a whole row that has block `block`; the CPU must have AVX2 and
        /// F16C.
        unsafe fn unpack<D: ByteDot>(row: *const u8, block: usize) -> (__m256i, __m256, f32);
    }

    pub(super) struct Q8_0;
    pub(super) struct Q5_0;
    pub(super) struct Q4_1;

    /// The f16 scale at `ptr`, converted by the F16C instruction inline (the `half` crate's
    /// runtime-dispatched call would spill every vector register around it).
    #[inline(always)]
    unsafe fn scale_at(ptr: *const u8) -> f32 {
        // SAFETY: callers pass a pointer to an f16 inside a block and run on a CPU with F16C.
        unsafe {
            let bits = (ptr as *const u16).read_unaligned();
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
        }
    }

    /// 16 bytes of nibbles as 32 values 0..=15: low nibbles first, then high (Q5_0, Q4_1).
    #[inline(always)]
    unsafe fn split_nibbles(ptr: *const u8) -> __m256i {
        // SAFETY: 16 readable bytes at ptr, AVX2 available (caller).
        unsafe {
            let packed = _mm_loadu_si128(ptr as *const __m128i);
            _mm256_and_si256(
                _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed),
                _mm256_set1_epi8(0x0F),
            )
        }
    }

    impl WeightBlock for Q8_0 {
        const UNSIGNED: bool = false;
        const OFFSET: bool = false;
        #[inline(always)]
        unsafe fn unpack<D: ByteDot>(row: *const u8, block: usize) -> (__m256i, __m256, f32) {
            // SAFETY: the block lies inside the row (caller).
            unsafe {
                let ptr = row.add(block * Q8_0_BYTES);
                (
                    _mm256_loadu_si256(ptr.add(2) as *const __m256i),
                    _mm256_set1_ps(scale_at(ptr)),
                    0.0,
                )
            }
        }
    }

    impl WeightBlock for Q5_0 {
        const UNSIGNED: bool = false;
        const OFFSET: bool = false;
        #[inline(always)]
        unsafe fn unpack<D: ByteDot>(row: *const u8, block: usize) -> (__m256i, __m256, f32) {
            // SAFETY: the block lies inside the row, AVX2 available (caller).
            unsafe {
                let ptr = row.add(block * Q5_0_BYTES);
                // Low nibbles are values 0..16, high nibbles values 16..32.
                let nibbles = split_nibbles(ptr.add(6));
                // The 32 high bits, one per value.
                let high = u32::from_le_bytes([*ptr.add(2), *ptr.add(3), *ptr.add(4), *ptr.add(5)]);
                if D::AVX512BW {
                    // value = (nibble | high << 4) - 16: the nibble, less 16 where the high bit
                    // is clear, in one masked subtraction (3 instructions instead of 7).
                    let values =
                        _mm256_mask_sub_epi8(nibbles, !high, nibbles, _mm256_set1_epi8(16));
                    return (values, _mm256_set1_ps(scale_at(ptr)), 0.0);
                }
                // Without AVX-512BW: the bits spread to bytes of 0xFF / 0x00.
                let spread = _mm256_shuffle_epi8(
                    _mm256_set1_epi32(high as i32),
                    _mm256_set_epi64x(
                        0x0303030303030303,
                        0x0202020202020202,
                        0x0101010101010101,
                        0x0000000000000000,
                    ),
                );
                let bit_set = _mm256_cmpeq_epi8(
                    _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)),
                    _mm256_set1_epi64x(-1),
                );
                // value = (nibble | high << 4) - 16: without the high bit that is nibble - 16,
                // i.e. the byte nibble | 0xF0; with it, the nibble itself.
                let offset = _mm256_andnot_si256(bit_set, _mm256_set1_epi8(0xF0u8 as i8));
                (
                    _mm256_or_si256(nibbles, offset),
                    _mm256_set1_ps(scale_at(ptr)),
                    0.0,
                )
            }
        }
    }

    impl WeightBlock for Q4_1 {
        const UNSIGNED: bool = true;
        const OFFSET: bool = true;
        #[inline(always)]
        unsafe fn unpack<D: ByteDot>(row: *const u8, block: usize) -> (__m256i, __m256, f32) {
            // SAFETY: the block lies inside the row, AVX2 available (caller).
            unsafe {
                let ptr = row.add(block * Q4_1_BYTES);
                (
                    split_nibbles(ptr.add(4)),
                    _mm256_set1_ps(scale_at(ptr)),
                    scale_at(ptr.add(2)),
                )
            }
        }
    }

    /// Horizontal sum of 8 floats.
    #[inline(always)]
    unsafe fn sum_lanes(v: __m256) -> f32 {
        // SAFETY: AVX available (caller).
        unsafe {
            let pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let quad = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
            let single = _mm_add_ss(quad, _mm_movehdup_ps(quad));
            _mm_cvtss_f32(single)
        }
    }

    /// How 32 weight bytes and 32 activation bytes become 8 partial i32 sums (as f32).
    pub(super) trait ByteDot {
        /// The CPU also has AVX-512BW (with VL): byte masks (Q5_0's high bits).
        const AVX512BW: bool;
        /// Signed weights (`weight_abs` is their absolute value).
        ///
        /// # Safety
        /// The CPU must have the instructions of the implementation.
        unsafe fn dot(weight_abs: __m256i, weight: __m256i, input: __m256i) -> __m256;
        /// Weights 0..=127.
        ///
        /// # Safety
        /// As `dot`.
        unsafe fn dot_unsigned(weight: __m256i, input: __m256i) -> __m256;
        /// `sum + Σ pairs of (pairs · scales)`: 16 i16 products with their block scales, into
        /// 8 i32 sums (the K-quants' integer scaling).
        ///
        /// # Safety
        /// As `dot`.
        unsafe fn scaled_pairs(sum: __m256i, pairs: __m256i, scales: __m256i) -> __m256i;
    }

    /// AVX2: `maddubs` (u8 × i8 pairs to i16) then `madd` with ones (to i32).
    pub(super) struct Avx2Dot;
    /// AVX-512 VNNI (with VL and BW): one `vpdpbusd` (u8 × i8 quadruples summed into i32).
    pub(super) struct VnniDot;

    impl ByteDot for Avx2Dot {
        const AVX512BW: bool = false;
        #[inline(always)]
        unsafe fn dot(weight_abs: __m256i, weight: __m256i, input: __m256i) -> __m256 {
            // SAFETY: AVX2 available (caller).
            unsafe {
                // maddubs multiplies unsigned by signed bytes: move the weight's sign onto the
                // input. |w| ≤ 128 and |x| ≤ 127, so the pairwise i16 sums cannot saturate.
                let signed_input = _mm256_sign_epi8(input, weight);
                Avx2Dot::dot_unsigned(weight_abs, signed_input)
            }
        }

        #[inline(always)]
        unsafe fn dot_unsigned(weight: __m256i, input: __m256i) -> __m256 {
            // SAFETY: AVX2 available (caller).
            unsafe {
                let pairs = _mm256_maddubs_epi16(weight, input);
                _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
            }
        }

        #[inline(always)]
        unsafe fn scaled_pairs(sum: __m256i, pairs: __m256i, scales: __m256i) -> __m256i {
            // SAFETY: AVX2 available (caller).
            unsafe { _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, scales)) }
        }
    }

    impl ByteDot for VnniDot {
        const AVX512BW: bool = true;
        #[inline(always)]
        unsafe fn dot(weight_abs: __m256i, weight: __m256i, input: __m256i) -> __m256 {
            // SAFETY: AVX-512 VNNI and VL available (caller). The i32 sums are exact, as on
            // the AVX2 path, so both give bit-identical results.
            unsafe {
                let signed_input = _mm256_sign_epi8(input, weight);
                VnniDot::dot_unsigned(weight_abs, signed_input)
            }
        }

        #[inline(always)]
        unsafe fn dot_unsigned(weight: __m256i, input: __m256i) -> __m256 {
            // SAFETY: as `dot`.
            unsafe {
                _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), weight, input))
            }
        }

        #[inline(always)]
        unsafe fn scaled_pairs(sum: __m256i, pairs: __m256i, scales: __m256i) -> __m256i {
            // SAFETY: as `dot`; `vpdpwssd` sums the same exact integers as AVX2's madd + add.
            unsafe { _mm256_dpwssd_epi32(sum, pairs, scales) }
        }
    }

    /// Pointers to the quants, scales and sums of activation rows `first..first + R`.
    struct InputTile<S, const R: usize> {
        quants: [*const i8; R],
        scales: [*const f32; R],
        sums: [*const S; R],
    }

    impl<S: Copy + Default + Send + Sync, const R: usize> InputTile<S, R> {
        #[inline(always)]
        fn new(activations: &Quantized<S>, first: usize) -> InputTile<S, R> {
            let mut quants = [std::ptr::null(); R];
            let mut scales = [std::ptr::null(); R];
            let mut sums = [std::ptr::null(); R];
            for r in 0..R {
                quants[r] = activations.row_quants(first + r).as_ptr();
                scales[r] = activations.row_scales(first + r).as_ptr();
                sums[r] = activations.row_sums(first + r).as_ptr();
            }
            InputTile {
                quants,
                scales,
                sums,
            }
        }
    }

    /// Running sums of one product over every other block: the lanes, and the offsets.
    #[derive(Clone, Copy)]
    struct Partial {
        lanes: __m256,
        offsets: f32,
    }

    impl Partial {
        #[inline(always)]
        unsafe fn zero() -> Partial {
            // SAFETY: AVX available (caller).
            Partial {
                lanes: unsafe { _mm256_setzero_ps() },
                offsets: 0.0,
            }
        }

        /// Adds block `block` (unpacked `weight`, `weight_abs`, `lane_scales`, `offset`) times
        /// activation row `r` of `input`.
        #[allow(clippy::too_many_arguments)]
        #[inline(always)]
        unsafe fn add<B: WeightBlock, D: ByteDot, const R: usize>(
            &mut self,
            weight: __m256i,
            weight_abs: __m256i,
            lane_scales: __m256,
            offset: f32,
            input: &InputTile<f32, R>,
            r: usize,
            block: usize,
        ) {
            // SAFETY: the activation row has block `block`; the CPU has what D needs (caller).
            unsafe {
                let x = _mm256_loadu_si256(input.quants[r].add(block * BLOCK) as *const __m256i);
                let products = if B::UNSIGNED {
                    D::dot_unsigned(weight, x)
                } else {
                    D::dot(weight_abs, weight, x)
                };
                let scale = _mm256_mul_ps(lane_scales, _mm256_set1_ps(*input.scales[r].add(block)));
                self.lanes = _mm256_fmadd_ps(scale, products, self.lanes);
                if B::OFFSET {
                    self.offsets += offset * *input.sums[r].add(block);
                }
            }
        }
    }

    /// The product from its even- and odd-block partial sums.
    #[inline(always)]
    unsafe fn finish<B: WeightBlock>(even: Partial, odd: Partial) -> f32 {
        // SAFETY: AVX available (caller).
        let lanes = unsafe { sum_lanes(_mm256_add_ps(even.lanes, odd.lanes)) };
        if B::OFFSET {
            lanes + (even.offsets + odd.offsets)
        } else {
            lanes
        }
    }

    /// The unpacked block and its absolute values (for the sign transfer of signed types).
    #[inline(always)]
    unsafe fn unpack<B: WeightBlock, D: ByteDot>(
        row: *const u8,
        block: usize,
    ) -> (__m256i, __m256i, __m256, f32) {
        // SAFETY: as WeightBlock::unpack (caller).
        unsafe {
            let (weight, lane_scales, offset) = B::unpack::<D>(row, block);
            let weight_abs = if B::UNSIGNED {
                weight
            } else {
                _mm256_sign_epi8(weight, weight)
            };
            (weight, weight_abs, lane_scales, offset)
        }
    }

    /// The sums of one weight row with the `R` activation rows of `input` over the blocks
    /// `start, start + 2, ...` below `blocks`, one accumulator per activation row.
    // `r` indexes several arrays in lockstep; iterator chains would hide that (and closures
    // are not inlined into target_feature code).
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    unsafe fn every_other_block<B: WeightBlock, D: ByteDot, const R: usize>(
        row: *const u8,
        input: &InputTile<f32, R>,
        start: usize,
        blocks: usize,
    ) -> [Partial; R] {
        // SAFETY: as `tile`.
        unsafe {
            let mut sums = [Partial::zero(); R];
            let mut block = start;
            while block < blocks {
                let (weight, weight_abs, lane_scales, offset) = unpack::<B, D>(row, block);
                for r in 0..R {
                    sums[r].add::<B, D, R>(
                        weight,
                        weight_abs,
                        lane_scales,
                        offset,
                        input,
                        r,
                        block,
                    );
                }
                block += 2;
            }
            sums
        }
    }

    /// Dot products of one weight row with the `R` activation rows of `input`. Every product
    /// is summed the same way whatever `R`: even blocks in order, odd blocks in order, then the
    /// two added, so decode, prefill and teacher-forced scoring give bit-identical logits.
    /// One activation row (decode) runs both chains side by side, hiding the FMA latency; more
    /// rows have enough chains already and take the even then the odd blocks (the row is in L1
    /// the second time), each unpacked weight block serving `R` rows with `R` accumulators.
    /// All of it is inlined into one `target_feature` function: no calls, so no vector
    /// registers spill.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    unsafe fn tile<B: WeightBlock, D: ByteDot, const R: usize>(
        row: *const u8,
        input: &InputTile<f32, R>,
        blocks: usize,
    ) -> [f32; R] {
        // SAFETY: the caller guarantees a row of `blocks` blocks at `row`, R activation rows
        // of `blocks` blocks, and a CPU with AVX2, FMA, F16C and what D needs.
        unsafe {
            let mut out = [0f32; R];
            if R == 1 {
                let mut even = Partial::zero();
                let mut odd = Partial::zero();
                let mut block = 0;
                while block < blocks {
                    let (weight, weight_abs, lane_scales, offset) = unpack::<B, D>(row, block);
                    even.add::<B, D, R>(weight, weight_abs, lane_scales, offset, input, 0, block);
                    let next = block + 1;
                    if next < blocks {
                        let (weight, weight_abs, lane_scales, offset) = unpack::<B, D>(row, next);
                        odd.add::<B, D, R>(weight, weight_abs, lane_scales, offset, input, 0, next);
                    }
                    block += 2;
                }
                out[0] = finish::<B>(even, odd);
            } else {
                let even = every_other_block::<B, D, R>(row, input, 0, blocks);
                let odd = every_other_block::<B, D, R>(row, input, 1, blocks);
                for r in 0..R {
                    out[r] = finish::<B>(even[r], odd[r]);
                }
            }
            out
        }
    }

    /// A K-quant super-block type (256 values), multiplied the way ggml does with Q8_K
    /// activations: each 32-value block's unsigned values meet the input bytes in `maddubs`
    /// (i16 pair sums), the block's integer scale is applied by `madd`, and the i32 sums of
    /// the whole super-block are scaled once by `d · d_x`.
    pub(super) trait SuperBlock {
        const BYTES: usize;
        /// The super-block's scales, decoded once for its 8 blocks.
        type Scales;
        /// # Safety
        /// `sup` must point at a whole super-block; the CPU must have AVX2 and F16C.
        unsafe fn scales(sup: *const u8) -> Self::Scales;
        /// The 32 values (unsigned) of block `j` and the i16 scale of each of their pairs.
        ///
        /// # Safety
        /// As `scales`, with `j < 8`.
        unsafe fn block(sup: *const u8, scales: &Self::Scales, j: usize) -> (__m256i, __m256i);
        /// `accumulator` plus the super-block's product, from the integer sums `integer`, the
        /// input's 16 group sums `sums` and its scale `input_scale`.
        ///
        /// # Safety
        /// As `scales`, and the CPU must have FMA.
        unsafe fn finish(
            scales: &Self::Scales,
            integer: __m256i,
            sums: __m256i,
            input_scale: f32,
            accumulator: __m256,
        ) -> __m256;
    }

    pub(super) struct Q4K;
    pub(super) struct Q6K;

    /// The pshufb mask that copies i16 element `i` (0..8) of each 128-bit lane to all of it.
    #[inline(always)]
    unsafe fn broadcast_word(i: usize) -> __m128i {
        // SAFETY: SSE2 available (caller).
        unsafe { _mm_set1_epi16((((2 * i + 1) << 8) | (2 * i)) as i16) }
    }

    /// Q4_K's decoded scales: the 8 block scales as i16 (in both 128-bit lanes), the 8
    /// minimums each twice (to pair with the 16 input group sums), `d` and `dmin`.
    pub(super) struct Q4KScales {
        scales: __m256i,
        minimums: __m256i,
        d: f32,
        dmin: f32,
    }

    impl SuperBlock for Q4K {
        const BYTES: usize = Q4_K_BYTES;
        type Scales = Q4KScales;

        #[inline(always)]
        unsafe fn scales(sup: *const u8) -> Q4KScales {
            // SAFETY: a whole super-block at sup, AVX2 and F16C available (caller).
            unsafe {
                // ggml's unpacking of the 12 bytes of 6-bit scales and minimums into 8 + 8
                // bytes (q4_k_scale_min for all blocks at once).
                const LOW6: u32 = 0x3f3f3f3f;
                const LOW4: u32 = 0x0f0f0f0f;
                const LOW2: u32 = 0x03030303;
                let packed = sup.add(4) as *const u32;
                let (a, b, c) = (
                    packed.read_unaligned(),
                    packed.add(1).read_unaligned(),
                    packed.add(2).read_unaligned(),
                );
                let scales =
                    u64::from(a & LOW6) | u64::from((c & LOW4) | (((a >> 6) & LOW2) << 4)) << 32;
                let minimums = u64::from(b & LOW6)
                    | u64::from(((c >> 4) & LOW4) | (((b >> 6) & LOW2) << 4)) << 32;
                let scales = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(scales as i64));
                let minimums = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(minimums as i64));
                Q4KScales {
                    scales: _mm256_set_m128i(scales, scales),
                    minimums: _mm256_set_m128i(
                        _mm_unpackhi_epi16(minimums, minimums),
                        _mm_unpacklo_epi16(minimums, minimums),
                    ),
                    d: scale_at(sup),
                    dmin: scale_at(sup.add(2)),
                }
            }
        }

        #[inline(always)]
        unsafe fn block(sup: *const u8, scales: &Q4KScales, j: usize) -> (__m256i, __m256i) {
            // SAFETY: a whole super-block at sup, j < 8, AVX2 available (caller).
            unsafe {
                // Blocks 2i and 2i + 1 share 32 bytes: low nibbles, then high ones.
                let raw = _mm256_loadu_si256(sup.add(16 + j / 2 * 32) as *const __m256i);
                let shifted = if j % 2 == 1 {
                    _mm256_srli_epi16(raw, 4)
                } else {
                    raw
                };
                let mask = broadcast_word(j);
                (
                    _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F)),
                    _mm256_shuffle_epi8(scales.scales, _mm256_set_m128i(mask, mask)),
                )
            }
        }

        #[inline(always)]
        unsafe fn finish(
            scales: &Q4KScales,
            integer: __m256i,
            sums: __m256i,
            input_scale: f32,
            accumulator: __m256,
        ) -> __m256 {
            // SAFETY: AVX2 and FMA available (caller).
            unsafe {
                let values = _mm256_fmadd_ps(
                    _mm256_set1_ps(scales.d * input_scale),
                    _mm256_cvtepi32_ps(integer),
                    accumulator,
                );
                // Σ minimum_j · (sum of block j's inputs), subtracted with dmin · d_x.
                let minimums = _mm256_madd_epi16(sums, scales.minimums);
                _mm256_fmadd_ps(
                    _mm256_set1_ps(-(scales.dmin * input_scale)),
                    _mm256_cvtepi32_ps(minimums),
                    values,
                )
            }
        }
    }

    /// Q6_K's decoded scales: the 16 signed scales as i16, those of blocks 0..4 and of blocks
    /// 4..8 in both 128-bit lanes, and `d`.
    pub(super) struct Q6KScales {
        all: __m256i,
        first: __m256i,
        second: __m256i,
        d: f32,
    }

    impl SuperBlock for Q6K {
        const BYTES: usize = Q6_K_BYTES;
        type Scales = Q6KScales;

        #[inline(always)]
        unsafe fn scales(sup: *const u8) -> Q6KScales {
            // SAFETY: a whole super-block at sup, AVX2 and F16C available (caller).
            unsafe {
                let all = _mm256_cvtepi8_epi16(_mm_loadu_si128(sup.add(192) as *const __m128i));
                let first = _mm256_castsi256_si128(all);
                let second = _mm256_extracti128_si256(all, 1);
                Q6KScales {
                    all,
                    first: _mm256_set_m128i(first, first),
                    second: _mm256_set_m128i(second, second),
                    d: scale_at(sup.add(208)),
                }
            }
        }

        #[inline(always)]
        unsafe fn block(sup: *const u8, scales: &Q6KScales, j: usize) -> (__m256i, __m256i) {
            // SAFETY: a whole super-block at sup, j < 8, AVX2 available (caller).
            unsafe {
                let (half, k) = (j / 4, j % 4);
                // Low 4 bits: blocks 0 and 2 of a 128-value half share 32 bytes (low, high
                // nibbles), as do 1 and 3; high 2 bits: all four share 32 bytes, 2 bits each.
                let low_raw = _mm256_loadu_si256(sup.add(64 * half + 32 * (k & 1)) as *const _);
                let low = if k >= 2 {
                    _mm256_srli_epi16(low_raw, 4)
                } else {
                    low_raw
                };
                let low = _mm256_and_si256(low, _mm256_set1_epi8(0x0F));
                let high_raw = _mm256_loadu_si256(sup.add(128 + 32 * half) as *const _);
                // Shifted by at most 6 in 16-bit lanes, the two bits kept come from their own
                // byte; shifted back by 4 (values ≤ 3) they stay in it.
                let shifted = match k {
                    0 => high_raw,
                    1 => _mm256_srli_epi16(high_raw, 2),
                    2 => _mm256_srli_epi16(high_raw, 4),
                    _ => _mm256_srli_epi16(high_raw, 6),
                };
                let high = _mm256_and_si256(shifted, _mm256_set1_epi8(0x03));
                // Values 0..64 (the −32 is applied through the input sums in `finish`); the
                // first 16 take scale 2j, the second 16 scale 2j + 1.
                let values = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
                let source = if half == 0 {
                    scales.first
                } else {
                    scales.second
                };
                let mask = _mm256_set_m128i(broadcast_word(2 * k + 1), broadcast_word(2 * k));
                (values, _mm256_shuffle_epi8(source, mask))
            }
        }

        #[inline(always)]
        unsafe fn finish(
            scales: &Q6KScales,
            integer: __m256i,
            sums: __m256i,
            input_scale: f32,
            accumulator: __m256,
        ) -> __m256 {
            // SAFETY: AVX2 and FMA available (caller).
            unsafe {
                // Σ scale_g · (q − 32) · x = Σ scale_g · q · x − 32 · Σ scale_g · sum_g.
                let offsets = _mm256_slli_epi32(_mm256_madd_epi16(scales.all, sums), 5);
                _mm256_fmadd_ps(
                    _mm256_set1_ps(scales.d * input_scale),
                    _mm256_cvtepi32_ps(_mm256_sub_epi32(integer, offsets)),
                    accumulator,
                )
            }
        }
    }

    impl<B: SuperBlock, D: ByteDot> Tile for Kernel<'_, B, D, SuperActivations> {
        /// Each unpacked block serves the `R` rows; every row's sums run in the same order
        /// whatever `R` (one accumulator, super-block after super-block), so batching does
        /// not change a product.
        #[allow(clippy::needless_range_loop)]
        #[inline(always)]
        unsafe fn tile<const R: usize>(&self, row: *const u8, first: usize) -> [f32; R] {
            let a = self.activations;
            let input = InputTile::<i16, R>::new(a, first);
            // SAFETY: a whole weight row of `supers` super-blocks at `row`, activation rows
            // of as many, and the CPU features (caller).
            unsafe {
                let mut accumulators = [_mm256_setzero_ps(); R];
                for s in 0..a.groups {
                    let sup = row.add(s * B::BYTES);
                    let block_scales = B::scales(sup);
                    let mut integers = [_mm256_setzero_si256(); R];
                    macro_rules! block {
                        ($j:expr) => {{
                            let (values, pair_scales) = B::block(sup, &block_scales, $j);
                            let at = s * SUPER_BLOCK + $j * BLOCK;
                            for r in 0..R {
                                let x =
                                    _mm256_loadu_si256(input.quants[r].add(at) as *const __m256i);
                                let pairs = _mm256_maddubs_epi16(values, x);
                                integers[r] = D::scaled_pairs(integers[r], pairs, pair_scales);
                            }
                        }};
                    }
                    // Several rows: written out for j = 0..8, so that each block's offsets,
                    // shifts and shuffle masks are constants (measured, 2 threads, a 896 ×
                    // 4864 matrix and 64 rows: Q6_K 7.6 → 6.5 ms). One row: as a loop, which
                    // LLVM compiles to far fewer live pointers (Q4_K 0.65 → 0.20 ms).
                    if R == 1 {
                        for j in 0..8 {
                            block!(j);
                        }
                    } else {
                        block!(0);
                        block!(1);
                        block!(2);
                        block!(3);
                        block!(4);
                        block!(5);
                        block!(6);
                        block!(7);
                    }
                    for r in 0..R {
                        let group_sums =
                            _mm256_loadu_si256(input.sums[r].add(s * 16) as *const __m256i);
                        accumulators[r] = B::finish(
                            &block_scales,
                            integers[r],
                            group_sums,
                            *input.scales[r].add(s),
                            accumulators[r],
                        );
                    }
                }
                let mut out = [0f32; R];
                for r in 0..R {
                    out[r] = sum_lanes(accumulators[r]);
                }
                out
            }
        }
    }

    /// One chunk of weight rows and where its products go (see [`super::multiply_chunk`]).
    pub(super) struct Chunk<'a> {
        pub weights: &'a [u8],
        pub row_bytes: usize,
        pub first: usize,
        pub count: usize,
        /// Activation rows.
        pub rows: usize,
        pub output: &'a SharedOutput,
        pub out_stride: usize,
    }

    /// How one weight row meets `R` activation rows: a weight type's kernel with its
    /// activations.
    trait Tile {
        /// The products of the weight row at `row` with activation rows `first..first + R`.
        ///
        /// # Safety
        /// `row` must point at a whole weight row, the activation rows must exist, and the
        /// CPU must have what the kernel needs.
        unsafe fn tile<const R: usize>(&self, row: *const u8, first: usize) -> [f32; R];
    }

    /// Weight type `B`'s kernel with byte products `D`, over activations `A`: the 32-value
    /// types with Q8_0 activations ([`tile`]), the K-quants with Q8_K ones.
    struct Kernel<'a, B, D, A> {
        activations: &'a A,
        kernel: std::marker::PhantomData<(B, D)>,
    }

    impl<'a, B, D, A> Kernel<'a, B, D, A> {
        fn new(activations: &'a A) -> Kernel<'a, B, D, A> {
            Kernel {
                activations,
                kernel: std::marker::PhantomData,
            }
        }
    }

    impl<B: WeightBlock, D: ByteDot> Tile for Kernel<'_, B, D, QuantizedActivations> {
        #[inline(always)]
        unsafe fn tile<const R: usize>(&self, row: *const u8, first: usize) -> [f32; R] {
            let input = InputTile::<f32, R>::new(self.activations, first);
            // SAFETY: passed on from the caller.
            unsafe { tile::<B, D, R>(row, &input, self.activations.groups) }
        }
    }

    /// The chunk's weight rows against activation rows `input_row..input_row + R`, one weight
    /// row at a time: one sequential weight stream, which the hardware prefetcher follows
    /// best (measured on the 0.5B model, 2 threads: four interleaved weight rows made decode
    /// slower, 17.5 against 27 tok/s).
    ///
    /// # Safety
    /// As [`super::multiply_chunk`], with input rows in bounds.
    #[inline(always)]
    unsafe fn multiply_rows<T: Tile, const R: usize>(
        chunk: &Chunk<'_>,
        kernel: &T,
        input_row: usize,
    ) {
        let base = chunk.weights.as_ptr();
        for row in 0..chunk.count {
            // SAFETY: the row lies inside `weights`; the output indices are in bounds and
            // exclusive by the caller's contract.
            unsafe {
                let values = kernel.tile::<R>(base.add(row * chunk.row_bytes), input_row);
                for (r, value) in values.iter().enumerate() {
                    let index = (input_row + r) * chunk.out_stride + chunk.first + row;
                    *chunk.output.0.add(index) = *value;
                }
            }
        }
    }

    /// Prefill takes activation rows [`ACTIVATION_TILE`] at a time, then four, decode (and
    /// the last leftover rows) one.
    ///
    /// # Safety
    /// As [`super::multiply_chunk`], and the CPU must have what the kernel needs.
    #[inline(always)]
    unsafe fn multiply<T: Tile>(chunk: &Chunk<'_>, kernel: &T) {
        let rows = chunk.rows;
        let mut input_row = 0;
        // SAFETY (all loops): the caller's guarantees, and input rows in bounds.
        while input_row + ACTIVATION_TILE <= rows {
            unsafe { multiply_rows::<T, ACTIVATION_TILE>(chunk, kernel, input_row) };
            input_row += ACTIVATION_TILE;
        }
        while input_row + 4 <= rows {
            unsafe { multiply_rows::<T, 4>(chunk, kernel, input_row) };
            input_row += 4;
        }
        while input_row < rows {
            unsafe { multiply_rows::<T, 1>(chunk, kernel, input_row) };
            input_row += 1;
        }
    }

    /// Runs weight type `B`'s kernel over the chunk, with VNNI's byte products where `vnni`,
    /// else AVX2's.
    ///
    /// # Safety
    /// As [`super::multiply_chunk`], and the CPU must have AVX2, FMA, F16C, and AVX512-VNNI
    /// with AVX512-VL and AVX512-BW when `vnni`.
    unsafe fn run<B, A>(vnni: bool, chunk: &Chunk<'_>, activations: &A)
    where
        for<'a> Kernel<'a, B, VnniDot, A>: Tile,
        for<'a> Kernel<'a, B, Avx2Dot, A>: Tile,
    {
        // SAFETY: passed on from the caller.
        unsafe {
            if vnni {
                multiply_vnni(chunk, &Kernel::<B, VnniDot, A>::new(activations))
            } else {
                multiply_avx2(chunk, &Kernel::<B, Avx2Dot, A>::new(activations))
            }
        }
    }

    /// [`super::multiply_chunk`] for a Q5_0, Q4_1 or (any other `dtype`) Q8_0 weight.
    ///
    /// # Safety
    /// As `run`.
    pub(super) unsafe fn multiply_chunk(
        dtype: GgmlDType,
        vnni: bool,
        chunk: &Chunk<'_>,
        activations: &QuantizedActivations,
    ) {
        // SAFETY: passed on from the caller.
        unsafe {
            match dtype {
                GgmlDType::Q5_0 => run::<Q5_0, _>(vnni, chunk, activations),
                GgmlDType::Q4_1 => run::<Q4_1, _>(vnni, chunk, activations),
                _ => run::<Q8_0, _>(vnni, chunk, activations),
            }
        }
    }

    /// [`super::multiply_chunk`] for a Q4_K or (any other `dtype`) Q6_K weight.
    ///
    /// # Safety
    /// As `run`.
    pub(super) unsafe fn multiply_super_chunk(
        dtype: GgmlDType,
        vnni: bool,
        chunk: &Chunk<'_>,
        activations: &SuperActivations,
    ) {
        // SAFETY: passed on from the caller.
        unsafe {
            match dtype {
                GgmlDType::Q4K => run::<Q4K, _>(vnni, chunk, activations),
                _ => run::<Q6K, _>(vnni, chunk, activations),
            }
        }
    }

    /// [`multiply`] with AVX2's byte products.
    ///
    /// # Safety
    /// As [`super::multiply_chunk`], and the CPU must have AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn multiply_avx2<T: Tile>(chunk: &Chunk<'_>, kernel: &T) {
        // SAFETY: passed on from the caller.
        unsafe { multiply(chunk, kernel) }
    }

    /// [`multiply`] with AVX-512 VNNI's byte products (Zen 4, Ice Lake and later).
    ///
    /// # Safety
    /// As [`super::multiply_chunk`], and the CPU must have AVX2, FMA, F16C, AVX512-VNNI,
    /// AVX512-VL and AVX512-BW.
    #[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl,avx512bw")]
    unsafe fn multiply_vnni<T: Tile>(chunk: &Chunk<'_>, kernel: &T) {
        // SAFETY: passed on from the caller.
        unsafe { multiply(chunk, kernel) }
    }
}

/// candle custom op: `x · Wᵀ` through [`KernelWeights::matmul`], for f32 `x` of any rank whose
/// last dimension is the weight's column count.
pub struct MatmulOp(pub Arc<KernelWeights>);

impl candle_core::CustomOp1 for MatmulOp {
    fn name(&self) -> &'static str {
        "learnat-quantized-matmul"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let weights = &self.0;
        let dims = layout.shape().dims();
        let Some((&columns, leading)) = dims.split_last() else {
            candle_core::bail!("quantized matmul of a scalar");
        };
        if columns != weights.columns {
            candle_core::bail!(
                "quantized matmul: input width {columns}, weight has {} columns",
                weights.columns
            );
        }
        let CpuStorage::F32(values) = storage else {
            candle_core::bail!("quantized matmul expects f32 activations");
        };
        let Some(range) = layout.contiguous_offsets() else {
            candle_core::bail!("quantized matmul expects contiguous activations");
        };
        let input = &values[range.0..range.1];
        let input_rows = input.len() / columns;
        let output = weights.matmul(input, input_rows);
        let mut out_dims = leading.to_vec();
        out_dims.push(weights.rows);
        Ok((CpuStorage::F32(output), Shape::from(out_dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};
    use rand::{Rng, SeedableRng};

    fn random(rows: usize, columns: usize, seed: u64) -> Tensor {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let values: Vec<f32> = (0..rows * columns)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        Tensor::from_vec(values, (rows, columns), &Device::Cpu).unwrap()
    }

    /// Every type learnat's kernels take, with a row width that fits its blocks.
    const TYPES: [(GgmlDType, usize); 5] = [
        (GgmlDType::Q8_0, 128),
        (GgmlDType::Q5_0, 192),
        (GgmlDType::Q4_1, 96),
        (GgmlDType::Q4K, 512),
        (GgmlDType::Q6K, 768),
    ];

    /// learnat's kernel agrees with the dense product of the dequantized weights (within about
    /// 7σ of the error of quantizing the activations to 8 bits), with its own scalar code (to float
    /// rounding), and for Q8_0 / Q5_0 with candle's QMatMul (same Q8_0 activation scheme), for
    /// decode and prefill shapes, including activation and weight row counts that are not
    /// multiples of the tiles (75 weight rows: chunks of 8 with a remainder of 3).
    #[test]
    fn kernels_match_dense_candle_and_scalar_products() {
        for (dtype, columns) in TYPES {
            let weight = QTensor::quantize(&random(75, columns, 1), dtype).unwrap();
            let dense = weight.dequantize(&Device::Cpu).unwrap();
            let data = weight.data().unwrap().into_owned();
            let kernel = KernelWeights::new(dtype, 75, columns, data).unwrap();
            let candle = matches!(dtype, GgmlDType::Q8_0 | GgmlDType::Q5_0)
                .then(|| QMatMul::from_qtensor(weight).unwrap());
            for input_rows in [1usize, 5, 8, 13] {
                let input = random(input_rows, columns, 2 + input_rows as u64);
                let values: Vec<f32> = input.flatten_all().unwrap().to_vec1().unwrap();
                let flat = |t: Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
                let exact = flat(input.matmul(&dense.t().unwrap()).unwrap());
                let ours = kernel.matmul(&values, input_rows);
                let activations = Activations::new(&[&kernel], &values, input_rows, columns);
                let bytes = row_bytes(dtype, columns);
                let scalar: Vec<f32> = (0..input_rows)
                    .flat_map(|r| {
                        (0..75)
                            .map(|o| {
                                let row = &kernel.data[o * bytes..][..bytes];
                                match (&activations.blocks, &activations.super_blocks) {
                                    (Some(a), _) => scalar_dot(dtype, row, a, r),
                                    (_, Some(a)) => scalar_super_dot(dtype, row, a, r),
                                    _ => unreachable!("no activations"),
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                assert_eq!(ours.len(), exact.len());
                // Rounding each input to 1/254 of its block's range leaves an error of about
                // 0.0013·√columns here (σ); a wrong unpacking would be off by about 0.3·√columns.
                let tolerance = 0.01 * (columns as f32).sqrt();
                for ((a, b), c) in ours.iter().zip(&exact).zip(&scalar) {
                    assert!((a - b).abs() < tolerance, "{dtype:?}: {a} vs dense {b}");
                    assert!(
                        (a - c).abs() < 1e-4 * (1.0 + c.abs()),
                        "{dtype:?}: {a} vs scalar {c}"
                    );
                }
                if let Some(candle) = &candle {
                    for (a, b) in ours.iter().zip(flat(candle.forward(&input).unwrap())) {
                        assert!(
                            (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                            "{dtype:?}: {a} vs candle {b}"
                        );
                    }
                }
            }
        }
    }

    /// A product's value does not depend on how many activation rows it was computed with
    /// (decode, the 4-row and 8-row prefill tiles): bit for bit.
    #[test]
    fn tile_shapes_give_bit_identical_products() {
        for (dtype, columns) in TYPES {
            let weight = QTensor::quantize(&random(20, columns, 21), dtype).unwrap();
            let data = weight.data().unwrap().into_owned();
            let kernel = KernelWeights::new(dtype, 20, columns, data).unwrap();
            let input: Vec<f32> = random(13, columns, 22)
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let batched = kernel.matmul(&input, 13);
            for (r, row) in input.chunks_exact(columns).enumerate() {
                assert_eq!(
                    kernel.matmul(row, 1),
                    &batched[r * 20..(r + 1) * 20],
                    "{dtype:?}, row {r}"
                );
            }
        }
    }

    /// The AVX-512 VNNI path gives exactly the AVX2 path's numbers (both sum exact integers in
    /// the same order), for decode and prefill shapes. Skips on a CPU without VNNI.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vnni_and_avx2_paths_are_bit_identical() {
        use std::arch::is_x86_feature_detected as has;
        if !(has!("avx2")
            && has!("fma")
            && has!("f16c")
            && has!("avx512vnni")
            && has!("avx512vl")
            && has!("avx512bw"))
        {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        for (dtype, columns) in TYPES {
            let weight = QTensor::quantize(&random(24, columns, 11), dtype).unwrap();
            let data = weight.data().unwrap().into_owned();
            let bytes = row_bytes(dtype, columns);
            for input_rows in [1usize, 6, 9] {
                let input: Vec<f32> = random(input_rows, columns, 12)
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let super_block = is_super_block(dtype);
                let blocks = quantize_q8_0(&input, input_rows, columns);
                let super_blocks = super_block.then(|| quantize_q8_k(&input, input_rows, columns));
                let run = |vnni: bool| {
                    let mut output = vec![0f32; input_rows * 24];
                    let shared = SharedOutput(output.as_mut_ptr());
                    let chunk = avx2::Chunk {
                        weights: &data,
                        row_bytes: bytes,
                        first: 0,
                        count: 24,
                        rows: input_rows,
                        output: &shared,
                        out_stride: 24,
                    };
                    // SAFETY: features checked above; the output has room for every product.
                    unsafe {
                        if let Some(super_blocks) = &super_blocks {
                            avx2::multiply_super_chunk(dtype, vnni, &chunk, super_blocks)
                        } else {
                            avx2::multiply_chunk(dtype, vnni, &chunk, &blocks)
                        }
                    };
                    output
                };
                assert_eq!(run(true), run(false), "{dtype:?}, {input_rows} rows");
            }
        }
    }

    /// Embedding lookups from the kernel's blocks equal candle's dequantization exactly.
    #[test]
    fn rows_dequantize_exactly_like_candle() {
        for (dtype, columns) in TYPES {
            let weight = QTensor::quantize(&random(40, columns, 7), dtype).unwrap();
            let dense = weight.dequantize(&Device::Cpu).unwrap();
            let data = weight.data().unwrap().into_owned();
            let kernel = KernelWeights::new(dtype, 40, columns, data).unwrap();
            let ids = [3u32, 0, 39, 3];
            let ours = kernel.dequantize_rows(&ids).unwrap();
            for (slot, &id) in ids.iter().enumerate() {
                let expected: Vec<f32> = dense.get(id as usize).unwrap().to_vec1().unwrap();
                assert_eq!(
                    &ours[slot * columns..(slot + 1) * columns],
                    &expected[..],
                    "{dtype:?}"
                );
            }
            assert!(kernel.dequantize_rows(&[40]).is_err());
        }
    }

    #[test]
    fn rounding_is_half_to_even_like_ggml() {
        for (value, rounded) in [
            (0.5f32, 0.0f32),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, 0.0),
            (-1.5, -2.0),
            (126.49, 126.0),
            (-126.51, -127.0),
            (127.0, 127.0),
        ] {
            assert_eq!(round_half_even(value), rounded, "{value}");
            assert_eq!(round_half_even(value), value.round_ties_even());
        }
    }

    #[test]
    fn wrong_sizes_are_refused() {
        assert!(KernelWeights::new(GgmlDType::Q8_0, 2, 32, vec![0; 10]).is_err());
        assert!(KernelWeights::new(GgmlDType::Q4K, 1, 256, vec![0; 143]).is_err());
        assert!(supports(GgmlDType::Q4K, 256));
        assert!(!supports(GgmlDType::Q4K, 896));
        assert!(!supports(GgmlDType::Q5K, 256));
        assert!(!supports(GgmlDType::Q8_0, 40));
    }
}
