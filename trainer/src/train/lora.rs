//! LoRA on a frozen matrix: `y = x·Wᵀ + scale · dropout(x)·Aᵀ·Bᵀ`, with `A` (`r × in`) and
//! `B` (`out × r`) the trainable variables and `scale = alpha / r` (PEFT's defaults: `A`
//! Kaiming-uniform, `B` zero, so training starts from the base model exactly).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Storage, Tensor, Var};
use learnat_agent::model::gguf::adapter::TargetModule;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// LoRA hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraSettings {
    /// Rank `r`.
    pub rank: usize,
    /// `alpha`; the update is scaled by `alpha / r`.
    pub alpha: f64,
    /// Dropout probability on the LoRA branch's input while training.
    pub dropout: f64,
    /// The projections that get an adapter.
    pub targets: Vec<TargetModule>,
}

impl Default for LoraSettings {
    fn default() -> Self {
        LoraSettings {
            rank: 16,
            alpha: 32.0,
            dropout: 0.05,
            targets: TargetModule::ALL.to_vec(),
        }
    }
}

impl LoraSettings {
    /// The update's scale, `alpha / r`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Parses `q_proj,k_proj,...` (or `all`) into target modules.
    pub fn parse_targets(list: &str) -> Result<Vec<TargetModule>, String> {
        if list.trim() == "all" {
            return Ok(TargetModule::ALL.to_vec());
        }
        let mut targets = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let module = TargetModule::from_hf_name(name).ok_or_else(|| {
                format!(
                    "unknown target module '{name}' (use q_proj, k_proj, v_proj, o_proj, \
                     gate_proj, up_proj, down_proj or all)"
                )
            })?;
            if !targets.contains(&module) {
                targets.push(module);
            }
        }
        if targets.is_empty() {
            return Err("--target-modules names no module".to_string());
        }
        Ok(targets)
    }
}

/// `x · Wᵀ` for a frozen `W`: the backward pass returns only the input's gradient. (candle's
/// matmul backward would also compute `W`'s gradient, a third matrix product per layer that
/// training throws away.)
struct FrozenMatmul(Arc<Tensor>);

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("frozen-matmul needs a contiguous input");
        };
        let shape = layout.shape().clone();
        let input = match storage {
            CpuStorage::F32(values) => {
                Tensor::from_slice(&values[start..end], shape, &candle_core::Device::Cpu)?
            }
            CpuStorage::F64(values) => {
                Tensor::from_slice(&values[start..end], shape, &candle_core::Device::Cpu)?
            }
            _ => candle_core::bail!("frozen-matmul: only f32 and f64 are supported"),
        };
        let output = input.matmul(&self.0.t()?)?;
        let output_shape = output.shape().clone();
        let (guard, _) = output.storage_and_layout();
        match &*guard {
            Storage::Cpu(cpu) => Ok((cpu.clone(), output_shape)),
            _ => candle_core::bail!("frozen-matmul: the product left the CPU"),
        }
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad_res.matmul(&self.0)?))
    }
}

/// A trainable `A`, `B` pair, plus the frozen values of a reference policy when one differs from
/// the base model (training that continues an earlier adapter).
#[derive(Debug)]
pub struct LoraPair {
    /// `r × in`.
    pub a: Var,
    /// `out × r`, in the GGUF file's row order.
    pub b: Var,
    /// `(A, B)` of the reference policy; `None` means the reference is the base model.
    pub reference: Option<(Tensor, Tensor)>,
}

/// Which weights a forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Base + the trainable adapter (gradients flow into it).
    Trained,
    /// The reference: base + the frozen starting adapter, or the base alone.
    Reference,
}

/// A frozen linear layer with an optional LoRA pair.
#[derive(Debug)]
pub struct LoraLinear {
    /// The GGUF tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    /// `out × in`, frozen.
    pub weight: Arc<Tensor>,
    /// The adapter, when this module is a target.
    pub lora: Option<LoraPair>,
    /// `alpha / r`.
    pub scale: f64,
}

impl LoraLinear {
    /// A frozen layer; with `settings` and `rng`, a fresh pair is attached (A uniform in
    /// ±1/√in, B zero, as PEFT initialises).
    pub fn new(
        name: String,
        weight: Tensor,
        settings: Option<&LoraSettings>,
        rng: &mut ChaCha8Rng,
    ) -> candle_core::Result<LoraLinear> {
        let (out, input) = weight.dims2()?;
        let dtype = weight.dtype();
        let device = weight.device().clone();
        let (lora, scale) = match settings {
            None => (None, 0.0),
            Some(settings) => {
                let bound = 1.0 / (input as f64).sqrt();
                let values: Vec<f64> = (0..settings.rank * input)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect();
                let a =
                    Tensor::from_vec(values, (settings.rank, input), &device)?.to_dtype(dtype)?;
                let b = Tensor::zeros((out, settings.rank), dtype, &device)?;
                (
                    Some(LoraPair {
                        a: Var::from_tensor(&a)?,
                        b: Var::from_tensor(&b)?,
                        reference: None,
                    }),
                    settings.scale(),
                )
            }
        };
        Ok(LoraLinear {
            name,
            weight: Arc::new(weight),
            lora,
            scale,
        })
    }

    /// `(rows, in)` to `(rows, out)`. `dropout` is `(probability, rng)` while training.
    pub fn forward(
        &self,
        x: &Tensor,
        policy: Policy,
        dropout: Option<(f64, &mut ChaCha8Rng)>,
    ) -> candle_core::Result<Tensor> {
        let x = x.contiguous()?;
        let base = frozen_product(&x, &self.weight)?;
        let Some(pair) = &self.lora else {
            return Ok(base);
        };
        let (a, b) = match (policy, &pair.reference) {
            (Policy::Trained, _) => (pair.a.as_tensor().clone(), pair.b.as_tensor().clone()),
            (Policy::Reference, Some((a, b))) => (a.clone(), b.clone()),
            (Policy::Reference, None) => return Ok(base),
        };
        let input = match dropout {
            Some((p, rng)) if p > 0.0 && policy == Policy::Trained => {
                let (rows, columns) = x.dims2()?;
                let keep = 1.0 / (1.0 - p);
                let mask: Vec<f64> = (0..rows * columns)
                    .map(|_| if rng.random::<f64>() < p { 0.0 } else { keep })
                    .collect();
                let mask =
                    Tensor::from_vec(mask, (rows, columns), x.device())?.to_dtype(x.dtype())?;
                (&x * mask)?
            }
            _ => x.clone(),
        };
        let update = input.matmul(&a.t()?)?.matmul(&b.t()?)?;
        base + (update * self.scale)?
    }

    /// Sets the pair's values (resuming, or continuing an adapter) and makes them the reference.
    pub fn load_pair(
        &mut self,
        a: &Tensor,
        b: &Tensor,
        as_reference: bool,
    ) -> candle_core::Result<()> {
        let Some(pair) = &mut self.lora else {
            candle_core::bail!("'{}' has no adapter to load into", self.name);
        };
        let dtype = pair.a.dtype();
        let (a, b) = (a.to_dtype(dtype)?, b.to_dtype(dtype)?);
        if a.dims() != pair.a.dims() || b.dims() != pair.b.dims() {
            candle_core::bail!(
                "'{}': adapter shapes {:?} / {:?} do not match {:?} / {:?}",
                self.name,
                a.dims(),
                b.dims(),
                pair.a.dims(),
                pair.b.dims()
            );
        }
        pair.a.set(&a)?;
        pair.b.set(&b)?;
        if as_reference {
            pair.reference = Some((a.copy()?, b.copy()?));
        }
        Ok(())
    }
}

/// `x · Wᵀ` through [`FrozenMatmul`] where it runs (CPU, f32 / f64), else candle's matmul.
pub(crate) fn frozen_product(x: &Tensor, weight: &Arc<Tensor>) -> candle_core::Result<Tensor> {
    let supported = matches!(x.device(), candle_core::Device::Cpu)
        && matches!(x.dtype(), DType::F32 | DType::F64)
        && x.dtype() == weight.dtype();
    if supported {
        x.apply_op1(FrozenMatmul(weight.clone()))
    } else {
        x.matmul(&weight.t()?)
    }
}

/// A fresh generator for dropout masks and initialisation.
pub fn seeded_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
