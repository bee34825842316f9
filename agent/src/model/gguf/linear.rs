//! Quantized linear layers: the one place where a quantized weight matrix meets f32
//! activations, so that faster kernels can be swapped in without touching the forward pass.
//!
//! [`QuantLinear::forward`] computes `x · Wᵀ` for activations `x` of shape `(rows, in)` and a
//! weight `W` of shape `(out, in)` stored in a GGUF quantization. On the CPU, weights whose type
//! has a kernel in [`super::kernels`] (Q8_0, Q5_0, Q4_1, Q4_K, Q6_K) go through it as they are
//! in the file, and Q5_K too after a one-time re-quantization to Q8_0; every other case (other
//! types, CUDA) goes through candle's `QMatMul`.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

use super::kernels::{self, KernelWeights};

/// True for the K-quant type without a kernel of its own (Q5_K, which the Q4_K_M files here do
/// not use) that goes through learnat's Q8_0 kernel after re-quantization (5.5 bits a weight
/// become 8.5).
fn requantized_to_q8_0(dtype: GgmlDType, columns: usize) -> bool {
    matches!(dtype, GgmlDType::Q5K) && kernels::supports(GgmlDType::Q8_0, columns)
}

/// A weight matrix `(out_features, in_features)` in a quantized format.
#[derive(Debug)]
pub struct QuantLinear {
    /// candle's path: CUDA, and CPU types without a learnat kernel.
    candle: Option<QMatMul>,
    /// learnat's CPU kernel path (raw GGUF blocks).
    kernel: Option<Arc<KernelWeights>>,
    out_features: usize,
    in_features: usize,
    dtype: GgmlDType,
}

/// Which implementation a [`QuantLinear`] uses, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulPath {
    /// learnat's own CPU kernels.
    Learnat,
    /// candle's `QMatMul`.
    Candle,
}

impl QuantLinear {
    /// A weight whose raw GGUF blocks were read straight into `data` (no candle copy), for a
    /// type and width that learnat's kernel handles (see [`QuantLinear::kernel_reads`]).
    pub fn from_blocks(
        dtype: GgmlDType,
        out_features: usize,
        in_features: usize,
        data: Vec<u8>,
    ) -> candle_core::Result<QuantLinear> {
        let kernel = KernelWeights::new(dtype, out_features, in_features, data)?;
        Ok(QuantLinear {
            candle: None,
            kernel: Some(Arc::new(kernel)),
            out_features,
            in_features,
            dtype,
        })
    }

    /// True when a `dtype` weight with rows of `in_features` values goes to learnat's kernel
    /// as it is in the file, so that the loader may read its bytes directly.
    pub fn kernel_reads(dtype: GgmlDType, in_features: usize) -> bool {
        kernels::supports(dtype, in_features)
    }

    /// Wraps a weight read from a GGUF file. With `use_kernels`, a CPU weight of a supported type
    /// is multiplied by learnat's kernels (and candle's copy is dropped, so it is held once).
    pub fn new(weight: Arc<QTensor>, use_kernels: bool) -> candle_core::Result<QuantLinear> {
        let (out_features, in_features) = weight.shape().dims2()?;
        let dtype = weight.dtype();
        let on_cpu = matches!(weight.device(), Device::Cpu);
        if use_kernels && on_cpu {
            let kernel = if kernels::supports(dtype, in_features) {
                let data = weight.data()?;
                Some(KernelWeights::new(
                    dtype,
                    out_features,
                    in_features,
                    data.into_owned(),
                )?)
            } else if requantized_to_q8_0(dtype, in_features) {
                // Q5_K matrices are re-quantized once to Q8_0, whose error is far below Q5_K's
                // own, and then share the Q8_0 kernel: candle's path would keep a repacked
                // second copy and run slower.
                let dense = weight.dequantize(&Device::Cpu)?;
                let requantized = QTensor::quantize(&dense, GgmlDType::Q8_0)?;
                let data = requantized.data()?.into_owned();
                Some(KernelWeights::new(
                    GgmlDType::Q8_0,
                    out_features,
                    in_features,
                    data,
                )?)
            } else {
                None
            };
            if let Some(kernel) = kernel {
                return Ok(QuantLinear {
                    candle: None,
                    kernel: Some(Arc::new(kernel)),
                    out_features,
                    in_features,
                    dtype,
                });
            }
        }
        Ok(QuantLinear {
            candle: Some(QMatMul::from_arc(weight)?),
            kernel: None,
            out_features,
            in_features,
            dtype,
        })
    }

    /// `x · Wᵀ`: `(rows, in_features)` to `(rows, out_features)`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if let Some(kernel) = &self.kernel {
            return x.apply_op1_no_bwd(&kernels::MatmulOp(kernel.clone()));
        }
        match &self.candle {
            Some(matmul) => matmul.forward(x),
            None => candle_core::bail!("quantized linear layer has no weights"),
        }
    }

    /// `x · Wᵢᵀ` for each of `linears`, which share the input `x` `(rows, in_features)`. When
    /// learnat's kernel holds them all, one pass computes every product (see
    /// [`kernels::matmul_many`]); otherwise each runs on its own. The results are the same.
    pub fn forward_many(linears: &[&QuantLinear], x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let kernels: Option<Vec<&KernelWeights>> =
            linears.iter().map(|l| l.kernel.as_deref()).collect();
        let Some(kernels) = kernels.filter(|k| k.len() > 1) else {
            return linears.iter().map(|l| l.forward(x)).collect();
        };
        let (rows, columns) = x.dims2()?;
        if kernels.iter().any(|k| k.columns() != columns) {
            candle_core::bail!("quantized matmul: input width {columns} differs from a weight's");
        }
        let input = x.to_dtype(candle_core::DType::F32)?.contiguous()?;
        let (storage, layout) = input.storage_and_layout();
        let candle_core::Storage::Cpu(candle_core::CpuStorage::F32(values)) = &*storage else {
            candle_core::bail!("quantized matmul expects f32 activations on the CPU");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("quantized matmul expects contiguous activations");
        };
        let outputs = kernels::matmul_many(&kernels, &values[start..end], rows);
        drop(storage);
        outputs
            .into_iter()
            .zip(linears)
            .map(|(values, l)| Tensor::from_vec(values, (rows, l.out_features), x.device()))
            .collect()
    }

    /// Rows `ids` of the weight as f32 `(ids.len(), in_features)`, when learnat's kernel holds
    /// it (the output head tied to the token embedding); `None` on candle's path.
    pub fn lookup_rows(&self, ids: &[u32], device: &Device) -> Option<candle_core::Result<Tensor>> {
        let kernel = self.kernel.as_ref()?;
        Some(
            kernel
                .dequantize_rows(ids)
                .and_then(|values| Tensor::from_vec(values, (ids.len(), self.in_features), device)),
        )
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// The GGUF quantization of the weight.
    pub fn dtype(&self) -> GgmlDType {
        self.dtype
    }

    /// Which implementation multiplies this weight.
    pub fn path(&self) -> MatmulPath {
        if self.kernel.is_some() {
            MatmulPath::Learnat
        } else {
            MatmulPath::Candle
        }
    }
}
