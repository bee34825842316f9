//! learnat's CPU kernels for `x · Wᵀ` with W in Q8_0 or Q5_0, the types that hold most of
//! Qwen2.5-Coder-0.5B (its 896-wide rows do not fit K-quant blocks, so llama.cpp quantized them
//! to Q5_0 and Q8_0) and for which candle 0.11 has only a scalar dot product.
//!
//! Method (the one ggml uses): the activations are quantized to Q8_0 (32 values, one scale per
//! block); each weight block is unpacked to 32 signed bytes and multiplied with the activation
//! bytes by AVX2 `maddubs` / `madd`, or by one AVX-512 VNNI `vpdpbusd` where the CPU has it,
//! giving an exact i32 sum per block, scaled by the two block scales (f16, converted inline by
//! F16C). Each product keeps two accumulators (even and odd blocks), so a decode row is not bound
//! by FMA latency. With several activation rows (prefill), each unpacked weight block is reused
//! for [`ACTIVATION_TILE`] rows. Every tile shape sums in the same order (and a CPU without
//! AVX2 runs the scalar code for every shape), so logits do not depend on how tokens were
//! batched. Work is split over weight rows, in chunks, on the model's rayon pool
//! ([`matmul_many`] splits the rows of several matrices that share an input in one pass): chunks
//! are stolen, so a core that is busy with another process does not stall the others (no spin
//! barriers).
//!
//! Without AVX2 (or off x86-64) a scalar implementation with the same integer arithmetic runs.

use std::sync::Arc;

use candle_core::quantized::GgmlDType;
use candle_core::{CpuStorage, Layout, Shape};
use half::f16;
use rayon::prelude::*;

/// Values per Q8_0 / Q5_0 block.
const BLOCK: usize = 32;
/// Bytes per Q8_0 block: f16 scale + 32 signed bytes.
const Q8_0_BYTES: usize = 34;
/// Bytes per Q5_0 block: f16 scale + 32 high bits + 16 bytes of nibbles.
const Q5_0_BYTES: usize = 22;
/// Activation rows processed together against each unpacked weight block.
const ACTIVATION_TILE: usize = 8;

/// True when [`KernelWeights`] handles `dtype` with rows of `columns` values.
pub fn supports(dtype: GgmlDType, columns: usize) -> bool {
    matches!(dtype, GgmlDType::Q8_0 | GgmlDType::Q5_0)
        && columns > 0
        && columns.is_multiple_of(BLOCK)
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
                let scale = unpack_block_scalar(self.dtype, row, block, &mut values);
                out.extend(values.iter().map(|&v| scale * f32::from(v)));
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
    let activations = QuantizedActivations::new(input, input_rows, columns);
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

/// Bytes of one quantized row.
fn row_bytes(dtype: GgmlDType, columns: usize) -> usize {
    let blocks = columns / BLOCK;
    match dtype {
        GgmlDType::Q5_0 => blocks * Q5_0_BYTES,
        _ => blocks * Q8_0_BYTES,
    }
}

/// The output buffer, written by several threads at disjoint indices.
struct SharedOutput(*mut f32);
// SAFETY: every writer writes a disjoint set of indices (see KernelWeights::matmul).
unsafe impl Sync for SharedOutput {}
unsafe impl Send for SharedOutput {}

/// Activations quantized to Q8_0: per row, `columns / 32` scales and `columns` signed bytes.
struct QuantizedActivations {
    rows: usize,
    blocks: usize,
    scales: Vec<f32>,
    quants: Vec<i8>,
}

impl QuantizedActivations {
    fn new(input: &[f32], rows: usize, columns: usize) -> QuantizedActivations {
        let blocks = columns / BLOCK;
        let mut scales = vec![0f32; rows * blocks];
        let mut quants = vec![0i8; rows * columns];
        let quantize_row = |((values, out), row_scales): ((&[f32], &mut [i8]), &mut [f32])| {
            for ((values, out), scale) in values
                .chunks_exact(BLOCK)
                .zip(out.chunks_exact_mut(BLOCK))
                .zip(row_scales)
            {
                let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
                // As ggml's quantize_row_q8_0: values are scaled by the exact inverse, the
                // stored scale is rounded to f16, so products match llama.cpp's bit for bit.
                let exact = max / 127.0;
                let inverse = if exact > 0.0 { 1.0 / exact } else { 0.0 };
                *scale = f16::from_f32(exact).to_f32();
                for (q, v) in out.iter_mut().zip(values) {
                    *q = (v * inverse).round().clamp(-127.0, 127.0) as i8;
                }
            }
        };
        // A prefill chunk's rows are quantized in parallel (one thread left the other core
        // idle); a decode row is too small to split.
        if rows >= 8 {
            input
                .par_chunks_exact(columns)
                .zip(quants.par_chunks_exact_mut(columns))
                .zip(scales.par_chunks_exact_mut(blocks))
                .for_each(quantize_row);
        } else {
            input
                .chunks_exact(columns)
                .zip(quants.chunks_exact_mut(columns))
                .zip(scales.chunks_exact_mut(blocks))
                .for_each(quantize_row);
        }
        QuantizedActivations {
            rows,
            blocks,
            scales,
            quants,
        }
    }

    fn row_quants(&self, row: usize) -> &[i8] {
        &self.quants[row * self.blocks * BLOCK..(row + 1) * self.blocks * BLOCK]
    }

    fn row_scales(&self, row: usize) -> &[f32] {
        &self.scales[row * self.blocks..(row + 1) * self.blocks]
    }
}

/// Multiplies weight rows `first..first + count` (their bytes in `weights`) with every
/// activation row, writing `output[r * out_stride + first + i]`.
///
/// # Safety
/// `output` must have room for `activations.rows * out_stride` values and no other thread may
/// write the columns `first..first + count`.
#[allow(clippy::too_many_arguments)]
unsafe fn multiply_chunk(
    dtype: GgmlDType,
    weights: &[u8],
    row_bytes: usize,
    first: usize,
    count: usize,
    activations: &QuantizedActivations,
    output: &SharedOutput,
    out_stride: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") && has!("f16c") {
            let chunk = avx2::Chunk {
                weights,
                row_bytes,
                first,
                count,
                activations,
                output,
                out_stride,
            };
            let vnni = has!("avx512vnni") && has!("avx512vl");
            // SAFETY: the CPU has AVX2, FMA, F16C, and VNNI where `vnni`; the caller's
            // guarantees are passed on.
            unsafe { avx2::multiply_chunk(dtype, vnni, &chunk) };
            return;
        }
    }
    for row in 0..count {
        let weight_row = &weights[row * row_bytes..(row + 1) * row_bytes];
        for input_row in 0..activations.rows {
            let value = scalar_dot(dtype, weight_row, activations, input_row);
            // SAFETY: in bounds and exclusive by the caller's contract.
            unsafe { *output.0.add(input_row * out_stride + first + row) = value };
        }
    }
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
    let mut sum = 0f32;
    let mut weight_values = [0i8; BLOCK];
    for block in 0..activations.blocks {
        let scale = unpack_block_scalar(dtype, weight_row, block, &mut weight_values);
        let integer: i32 = weight_values
            .iter()
            .zip(&quants[block * BLOCK..(block + 1) * BLOCK])
            .map(|(w, x)| i32::from(*w) * i32::from(*x))
            .sum();
        sum += scale * scales[block] * integer as f32;
    }
    sum
}

/// Unpacks block `block` of a weight row into 32 signed values; returns its scale.
fn unpack_block_scalar(dtype: GgmlDType, row: &[u8], block: usize, out: &mut [i8; BLOCK]) -> f32 {
    match dtype {
        GgmlDType::Q5_0 => {
            let bytes = &row[block * Q5_0_BYTES..(block + 1) * Q5_0_BYTES];
            let scale = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
            let high = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
            let nibbles = &bytes[6..22];
            for j in 0..BLOCK / 2 {
                let low_high = ((high >> j) & 1) as u8;
                let high_high = ((high >> (j + 16)) & 1) as u8;
                out[j] = ((nibbles[j] & 0x0F) | (low_high << 4)) as i8 - 16;
                out[j + 16] = ((nibbles[j] >> 4) | (high_high << 4)) as i8 - 16;
            }
            scale
        }
        _ => {
            let bytes = &row[block * Q8_0_BYTES..(block + 1) * Q8_0_BYTES];
            let scale = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
            for (o, b) in out.iter_mut().zip(&bytes[2..34]) {
                *o = *b as i8;
            }
            scale
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The AVX2 + FMA implementation.

    use std::arch::x86_64::*;

    use candle_core::quantized::GgmlDType;

    use super::{
        ACTIVATION_TILE, BLOCK, Q5_0_BYTES, Q8_0_BYTES, QuantizedActivations, SharedOutput,
    };

    /// A weight block type: its size and how to unpack it to 32 signed bytes.
    pub(super) trait WeightBlock {
        const BYTES: usize;
        /// Signed values and scale of the block at `ptr`.
        ///
        /// # Safety
        /// `ptr` must point at `BYTES` readable bytes; the CPU must have AVX2.
        unsafe fn unpack(ptr: *const u8) -> (__m256i, f32);
    }

    pub(super) struct Q8_0;
    pub(super) struct Q5_0;

    /// The f16 scale at the start of a block, converted by the F16C instruction inline (the
    /// `half` crate's runtime-dispatched call would spill every vector register around it).
    #[inline(always)]
    unsafe fn scale_at(ptr: *const u8) -> f32 {
        // SAFETY: callers pass a pointer to a block, which starts with its f16 scale, and run
        // on a CPU with F16C.
        unsafe {
            let bits = (ptr as *const u16).read_unaligned();
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
        }
    }

    impl WeightBlock for Q8_0 {
        const BYTES: usize = Q8_0_BYTES;
        #[inline(always)]
        unsafe fn unpack(ptr: *const u8) -> (__m256i, f32) {
            // SAFETY: BYTES readable bytes at ptr (caller).
            unsafe {
                (
                    _mm256_loadu_si256(ptr.add(2) as *const __m256i),
                    scale_at(ptr),
                )
            }
        }
    }

    impl WeightBlock for Q5_0 {
        const BYTES: usize = Q5_0_BYTES;
        #[inline(always)]
        unsafe fn unpack(ptr: *const u8) -> (__m256i, f32) {
            // SAFETY: BYTES readable bytes at ptr, AVX2 available (caller).
            unsafe {
                // Low nibbles are values 0..16, high nibbles values 16..32.
                let packed = _mm_loadu_si128(ptr.add(6) as *const __m128i);
                let nibbles = _mm256_and_si256(
                    _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed),
                    _mm256_set1_epi8(0x0F),
                );
                // The 32 high bits, one per value, spread to bytes of 0xFF / 0x00.
                let high = u32::from_le_bytes([*ptr.add(2), *ptr.add(3), *ptr.add(4), *ptr.add(5)]);
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
                (_mm256_or_si256(nibbles, offset), scale_at(ptr))
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
        /// # Safety
        /// The CPU must have the instructions of the implementation.
        unsafe fn dot(weight_abs: __m256i, weight: __m256i, input: __m256i) -> __m256;
    }

    /// AVX2: `maddubs` (u8 × i8 pairs to i16) then `madd` with ones (to i32).
    pub(super) struct Avx2Dot;
    /// AVX-512 VNNI (with VL): one `vpdpbusd` (u8 × i8 quadruples summed into i32).
    pub(super) struct VnniDot;

    impl ByteDot for Avx2Dot {
        #[inline(always)]
        unsafe fn dot(weight_abs: __m256i, weight: __m256i, input: __m256i) -> __m256 {
            // SAFETY: AVX2 available (caller).
            unsafe {
                // maddubs multiplies unsigned by signed bytes: move the weight's sign onto the
                // input. |w| ≤ 128 and |x| ≤ 127, so the pairwise i16 sums cannot saturate.
                let signed_input = _mm256_sign_epi8(input, weight);
                let pairs = _mm256_maddubs_epi16(weight_abs, signed_input);
                _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
            }
        }
    }

    impl ByteDot for VnniDot {
        #[inline(always)]
        unsafe fn dot(weight_abs: __m256i, weight: __m256i, input: __m256i) -> __m256 {
            // SAFETY: AVX-512 VNNI and VL available (caller). The i32 sums are exact, as on
            // the AVX2 path, so both give bit-identical results.
            unsafe {
                let signed_input = _mm256_sign_epi8(input, weight);
                _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(
                    _mm256_setzero_si256(),
                    weight_abs,
                    signed_input,
                ))
            }
        }
    }

    /// Pointers to the quants and scales of activation rows `first..first + R`.
    struct InputTile<const R: usize> {
        quants: [*const i8; R],
        scales: [*const f32; R],
    }

    impl<const R: usize> InputTile<R> {
        fn new(activations: &QuantizedActivations, first: usize) -> InputTile<R> {
            let mut quants = [std::ptr::null(); R];
            let mut scales = [std::ptr::null(); R];
            for r in 0..R {
                quants[r] = activations.row_quants(first + r).as_ptr();
                scales[r] = activations.row_scales(first + r).as_ptr();
            }
            InputTile { quants, scales }
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
        input: &InputTile<R>,
        start: usize,
        blocks: usize,
    ) -> [__m256; R] {
        // SAFETY: as `tile`.
        unsafe {
            let mut sums = [_mm256_setzero_ps(); R];
            let mut block = start;
            while block < blocks {
                let (weight, weight_scale) = B::unpack(row.add(block * B::BYTES));
                let weight_abs = _mm256_sign_epi8(weight, weight);
                for r in 0..R {
                    let quants =
                        _mm256_loadu_si256(input.quants[r].add(block * BLOCK) as *const __m256i);
                    let products = D::dot(weight_abs, weight, quants);
                    let scale = _mm256_set1_ps(weight_scale * *input.scales[r].add(block));
                    sums[r] = _mm256_fmadd_ps(scale, products, sums[r]);
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
        input: &InputTile<R>,
        blocks: usize,
    ) -> [f32; R] {
        // SAFETY: the caller guarantees a row of `blocks` blocks at `row`, R activation rows
        // of `blocks` blocks, and a CPU with AVX2, FMA, F16C and what D needs.
        unsafe {
            let mut out = [0f32; R];
            if R == 1 {
                let mut even = _mm256_setzero_ps();
                let mut odd = _mm256_setzero_ps();
                let (quants, scales) = (input.quants[0], input.scales[0]);
                let mut block = 0;
                while block < blocks {
                    for parity in 0..2 {
                        let at = block + parity;
                        if at == blocks {
                            break;
                        }
                        let (weight, weight_scale) = B::unpack(row.add(at * B::BYTES));
                        let weight_abs = _mm256_sign_epi8(weight, weight);
                        let x = _mm256_loadu_si256(quants.add(at * BLOCK) as *const __m256i);
                        let products = D::dot(weight_abs, weight, x);
                        let scale = _mm256_set1_ps(weight_scale * *scales.add(at));
                        let sum = if parity == 0 { &mut even } else { &mut odd };
                        *sum = _mm256_fmadd_ps(scale, products, *sum);
                    }
                    block += 2;
                }
                out[0] = sum_lanes(_mm256_add_ps(even, odd));
            } else {
                let even = every_other_block::<B, D, R>(row, input, 0, blocks);
                let odd = every_other_block::<B, D, R>(row, input, 1, blocks);
                for r in 0..R {
                    out[r] = sum_lanes(_mm256_add_ps(even[r], odd[r]));
                }
            }
            out
        }
    }

    /// One chunk of weight rows and where its products go (see [`super::multiply_chunk`]).
    pub(super) struct Chunk<'a> {
        pub weights: &'a [u8],
        pub row_bytes: usize,
        pub first: usize,
        pub count: usize,
        pub activations: &'a QuantizedActivations,
        pub output: &'a SharedOutput,
        pub out_stride: usize,
    }

    /// The chunk's weight rows against activation rows `input_row..input_row + R`, one weight
    /// row at a time: one sequential weight stream, which the hardware prefetcher follows
    /// best (measured on the 0.5B model, 2 threads: four interleaved weight rows made decode
    /// slower, 17.5 against 27 tok/s).
    ///
    /// # Safety
    /// As [`super::multiply_chunk`], with input rows in bounds.
    #[inline(always)]
    unsafe fn multiply_rows<B: WeightBlock, D: ByteDot, const R: usize>(
        chunk: &Chunk<'_>,
        input_row: usize,
    ) {
        let input = InputTile::<R>::new(chunk.activations, input_row);
        let base = chunk.weights.as_ptr();
        for row in 0..chunk.count {
            // SAFETY: the row lies inside `weights`; the output indices are in bounds and
            // exclusive by the caller's contract.
            unsafe {
                let values = tile::<B, D, R>(
                    base.add(row * chunk.row_bytes),
                    &input,
                    chunk.activations.blocks,
                );
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
    /// As [`super::multiply_chunk`], and the CPU must have AVX2, FMA, F16C and what D needs.
    #[inline(always)]
    unsafe fn multiply<B: WeightBlock, D: ByteDot>(chunk: &Chunk<'_>) {
        let rows = chunk.activations.rows;
        let mut input_row = 0;
        // SAFETY (both loops): the caller's guarantees, and input rows in bounds.
        while input_row + ACTIVATION_TILE <= rows {
            unsafe { multiply_rows::<B, D, ACTIVATION_TILE>(chunk, input_row) };
            input_row += ACTIVATION_TILE;
        }
        while input_row + 4 <= rows {
            unsafe { multiply_rows::<B, D, 4>(chunk, input_row) };
            input_row += 4;
        }
        while input_row < rows {
            unsafe { multiply_rows::<B, D, 1>(chunk, input_row) };
            input_row += 1;
        }
    }

    /// [`super::multiply_chunk`] for a Q5_0 or (any other `dtype`) Q8_0 weight, with VNNI's
    /// byte products where `vnni`, else AVX2's.
    ///
    /// # Safety
    /// As [`super::multiply_chunk`], and the CPU must have AVX2, FMA, F16C, and AVX512-VNNI
    /// with AVX512-VL when `vnni`.
    pub(super) unsafe fn multiply_chunk(dtype: GgmlDType, vnni: bool, chunk: &Chunk<'_>) {
        // SAFETY: passed on from the caller.
        unsafe {
            match (dtype, vnni) {
                (GgmlDType::Q5_0, true) => multiply_vnni::<Q5_0>(chunk),
                (GgmlDType::Q5_0, false) => multiply_avx2::<Q5_0>(chunk),
                (_, true) => multiply_vnni::<Q8_0>(chunk),
                (_, false) => multiply_avx2::<Q8_0>(chunk),
            }
        }
    }

    /// [`multiply`] with AVX2's byte products.
    ///
    /// # Safety
    /// As [`super::multiply_chunk`], and the CPU must have AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn multiply_avx2<B: WeightBlock>(chunk: &Chunk<'_>) {
        // SAFETY: passed on from the caller.
        unsafe { multiply::<B, Avx2Dot>(chunk) }
    }

    /// [`multiply`] with AVX-512 VNNI's byte products (Zen 4, Ice Lake and later).
    ///
    /// # Safety
    /// As [`super::multiply_chunk`], and the CPU must have AVX2, FMA, F16C, AVX512-VNNI and
    /// AVX512-VL.
    #[target_feature(enable = "avx2,fma,f16c,avx512vnni,avx512vl")]
    unsafe fn multiply_vnni<B: WeightBlock>(chunk: &Chunk<'_>) {
        // SAFETY: passed on from the caller.
        unsafe { multiply::<B, VnniDot>(chunk) }
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

    /// learnat's kernel agrees with candle's QMatMul (same Q8_0 activation scheme) for decode
    /// and prefill shapes, including activation and weight row counts that are not multiples
    /// of the tiles (75 weight rows: chunks of 8 with a remainder of 3).
    #[test]
    fn kernels_match_candle_quantized_matmul() {
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q5_0] {
            let weight = QTensor::quantize(&random(75, 128, 1), dtype).unwrap();
            let data = weight.data().unwrap().into_owned();
            let kernel = KernelWeights::new(dtype, 75, 128, data).unwrap();
            let reference = QMatMul::from_qtensor(weight).unwrap();
            for input_rows in [1usize, 5, 8] {
                let input = random(input_rows, 128, 2 + input_rows as u64);
                let expected: Vec<f32> = reference
                    .forward(&input)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let ours =
                    kernel.matmul(&input.flatten_all().unwrap().to_vec1().unwrap(), input_rows);
                let scalar: Vec<f32> = {
                    let activations = QuantizedActivations::new(
                        &input.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                        input_rows,
                        128,
                    );
                    let bytes = row_bytes(dtype, 128);
                    (0..input_rows)
                        .flat_map(|r| {
                            (0..75)
                                .map(|o| {
                                    scalar_dot(
                                        dtype,
                                        &kernel.data[o * bytes..(o + 1) * bytes],
                                        &activations,
                                        r,
                                    )
                                })
                                .collect::<Vec<_>>()
                        })
                        .collect()
                };
                for ((a, b), c) in ours.iter().zip(&expected).zip(&scalar) {
                    assert!(
                        (a - b).abs() < 1e-3 * (1.0 + b.abs()),
                        "{dtype:?}: {a} vs candle {b}"
                    );
                    assert!(
                        (a - c).abs() < 1e-4 * (1.0 + c.abs()),
                        "{dtype:?}: {a} vs scalar {c}"
                    );
                }
            }
        }
    }

    /// The AVX-512 VNNI path gives exactly the AVX2 path's numbers (both sum exact integers in
    /// the same order), for decode and prefill shapes. Skips on a CPU without VNNI.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vnni_and_avx2_paths_are_bit_identical() {
        use std::arch::is_x86_feature_detected as has;
        if !(has!("avx2") && has!("fma") && has!("f16c") && has!("avx512vnni") && has!("avx512vl"))
        {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q5_0] {
            let weight = QTensor::quantize(&random(24, 160, 11), dtype).unwrap();
            let data = weight.data().unwrap().into_owned();
            let bytes = row_bytes(dtype, 160);
            for input_rows in [1usize, 6] {
                let input = random(input_rows, 160, 12).flatten_all().unwrap();
                let activations =
                    QuantizedActivations::new(&input.to_vec1().unwrap(), input_rows, 160);
                let run = |vnni: bool| {
                    let mut output = vec![0f32; input_rows * 24];
                    let shared = SharedOutput(output.as_mut_ptr());
                    let chunk = avx2::Chunk {
                        weights: &data,
                        row_bytes: bytes,
                        first: 0,
                        count: 24,
                        activations: &activations,
                        output: &shared,
                        out_stride: 24,
                    };
                    // SAFETY: features checked above; the output has room for every product.
                    unsafe { avx2::multiply_chunk(dtype, vnni, &chunk) };
                    output
                };
                assert_eq!(run(true), run(false), "{dtype:?}, {input_rows} rows");
            }
        }
    }

    /// Embedding lookups from the kernel's blocks equal candle's dequantization exactly.
    #[test]
    fn rows_dequantize_exactly_like_candle() {
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q5_0] {
            let weight = QTensor::quantize(&random(40, 96, 7), dtype).unwrap();
            let dense = weight.dequantize(&Device::Cpu).unwrap();
            let data = weight.data().unwrap().into_owned();
            let kernel = KernelWeights::new(dtype, 40, 96, data).unwrap();
            let ids = [3u32, 0, 39, 3];
            let ours = kernel.dequantize_rows(&ids).unwrap();
            for (slot, &id) in ids.iter().enumerate() {
                let expected: Vec<f32> = dense.get(id as usize).unwrap().to_vec1().unwrap();
                assert_eq!(
                    &ours[slot * 96..(slot + 1) * 96],
                    &expected[..],
                    "{dtype:?}"
                );
            }
            assert!(kernel.dequantize_rows(&[40]).is_err());
        }
    }

    #[test]
    fn wrong_sizes_are_refused() {
        assert!(KernelWeights::new(GgmlDType::Q8_0, 2, 32, vec![0; 10]).is_err());
        assert!(!supports(GgmlDType::Q4K, 256));
        assert!(!supports(GgmlDType::Q8_0, 40));
    }
}
