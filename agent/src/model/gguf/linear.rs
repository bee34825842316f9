//! Quantized linear layers: the one place where a quantized weight matrix meets f32
//! activations, so that faster kernels can be swapped in without touching the forward pass.
//!
//! [`QuantLinear::forward`] computes `x · Wᵀ` for activations `x` of shape `(rows, in)` and a
//! weight `W` of shape `(out, in)` stored in a GGUF quantization. On the CPU, weights whose type
//! has a kernel in [`super::kernels`] (Q8_0, Q5_0, Q4_K, Q6_K) go through it; every other case
//! (other types, CUDA) goes through candle's `QMatMul`.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

use super::kernels::{self, KernelWeights};

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
    /// Wraps a weight read from a GGUF file. With `use_kernels`, a CPU weight of a supported type
    /// is multiplied by learnat's kernels (and candle's copy is dropped, so it is held once).
    pub fn new(weight: Arc<QTensor>, use_kernels: bool) -> candle_core::Result<QuantLinear> {
        let (out_features, in_features) = weight.shape().dims2()?;
        let dtype = weight.dtype();
        let on_cpu = matches!(weight.device(), Device::Cpu);
        if use_kernels && on_cpu && kernels::supports(dtype, in_features) {
            let data = weight.data()?;
            let kernel = KernelWeights::new(dtype, out_features, in_features, data.into_owned())?;
            return Ok(QuantLinear {
                candle: None,
                kernel: Some(Arc::new(kernel)),
                out_features,
                in_features,
                dtype,
            });
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
