//! Adapters on disk in the Hugging Face PEFT layout: `adapter_model.safetensors` with tensors
//! named `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` (and `lora_B`), in
//! Hugging Face row order, plus `adapter_config.json`. PEFT, vLLM and the agent
//! (`--adapter DIR`) load it.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use learnat_agent::model::gguf::adapter::{
    ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, AdapterConfig, TargetModule, permute_lora_b,
};

use super::model::TrainModel;
use super::{TensorContext, TrainError, TrainResult, io_error};

/// Writes `model`'s adapter to `dir` (created if needed). `base` names the base model in the
/// config (`base_model_name_or_path`).
pub fn save_adapter(model: &TrainModel, dir: &Path, base: &str) -> TrainResult<()> {
    std::fs::create_dir_all(dir).map_err(io_error("cannot create the adapter directory", dir))?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (layer, module, linear) in model.adapted() {
        let Some(pair) = &linear.lora else { continue };
        let a = pair
            .a
            .as_tensor()
            .to_dtype(DType::F32)
            .during(|| format!("saving '{}'", linear.name))?;
        let b = permute_lora_b(pair.b.as_tensor(), module, model.config(), false)
            .and_then(|b| b.to_dtype(DType::F32))
            .during(|| format!("saving '{}'", linear.name))?;
        tensors.insert(module.peft_tensor(layer, "A"), a);
        tensors.insert(module.peft_tensor(layer, "B"), b);
    }
    let weights = dir.join(ADAPTER_WEIGHTS_FILE);
    candle_core::safetensors::save(&tensors, &weights)
        .during(|| format!("writing '{}'", weights.display()))?;
    let settings = model.lora_settings();
    let config = AdapterConfig {
        peft_type: "LORA".to_string(),
        task_type: Some("CAUSAL_LM".to_string()),
        base_model_name_or_path: Some(base.to_string()),
        r: settings.rank,
        lora_alpha: settings.alpha,
        lora_dropout: settings.dropout,
        target_modules: settings
            .targets
            .iter()
            .map(|m| m.hf_name().to_string())
            .collect(),
        bias: "none".to_string(),
        fan_in_fan_out: false,
        inference_mode: true,
        use_rslora: false,
    };
    let path = dir.join(ADAPTER_CONFIG_FILE);
    let text =
        serde_json::to_string_pretty(&config).map_err(|e| TrainError::Config(e.to_string()))?;
    std::fs::write(&path, text).map_err(io_error("cannot write the adapter config", &path))
}

/// Reads an adapter's config.
pub fn read_adapter_config(dir: &Path) -> TrainResult<AdapterConfig> {
    let path = dir.join(ADAPTER_CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(io_error("cannot read the adapter config", &path))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Adapter {
        dir: dir.to_path_buf(),
        reason: format!("{ADAPTER_CONFIG_FILE} is not a PEFT LoRA config: {e}"),
    })
}

/// Loads the adapter in `dir` into `model`'s LoRA variables (continuing or resuming training);
/// with `as_reference` its values also become the reference policy. The adapter's rank, alpha
/// and modules must be the model's, and its shapes the base model's.
pub fn load_adapter_into(
    model: &mut TrainModel,
    dir: &Path,
    as_reference: bool,
) -> TrainResult<()> {
    let adapter_error = |reason: String| TrainError::Adapter {
        dir: dir.to_path_buf(),
        reason,
    };
    let config = read_adapter_config(dir)?;
    let settings = model.lora_settings().clone();
    let modules: Vec<TargetModule> = config
        .target_modules
        .iter()
        .map(|name| {
            TargetModule::from_hf_name(name)
                .ok_or_else(|| adapter_error(format!("unknown target module '{name}'")))
        })
        .collect::<TrainResult<_>>()?;
    let mut expected = settings.targets.clone();
    let mut found = modules.clone();
    expected.sort_by_key(|m| m.hf_name());
    found.sort_by_key(|m| m.hf_name());
    if config.r != settings.rank || config.lora_alpha != settings.alpha || expected != found {
        return Err(adapter_error(format!(
            "it has r = {}, alpha = {}, modules {:?}; this run uses r = {}, alpha = {}, modules {:?} \
             (pass the adapter's --rank, --alpha and --target-modules)",
            config.r,
            config.lora_alpha,
            config.target_modules,
            settings.rank,
            settings.alpha,
            settings
                .targets
                .iter()
                .map(|m| m.hf_name())
                .collect::<Vec<_>>()
        )));
    }
    let weights = dir.join(ADAPTER_WEIGHTS_FILE);
    let tensors = candle_core::safetensors::load(&weights, &Device::Cpu)
        .map_err(|e| adapter_error(format!("cannot read '{}': {e}", weights.display())))?;
    let layers = model.config().layers;
    let model_config = model.config().clone();
    for layer in 0..layers {
        for module in &modules {
            let get = |which: &str| {
                let name = module.peft_tensor(layer, which);
                tensors.get(&name).cloned().ok_or_else(|| {
                    adapter_error(format!(
                        "no tensor '{name}': the adapter was trained on a different base model"
                    ))
                })
            };
            let a = get("A")?;
            let b = permute_lora_b(&get("B")?, *module, &model_config, true)
                .map_err(|e| adapter_error(e.to_string()))?;
            let linear = model
                .projection_mut(layer, *module)
                .ok_or_else(|| adapter_error(format!("the base model has no layer {layer}")))?;
            linear.load_pair(&a, &b, as_reference).map_err(|e| {
                adapter_error(format!(
                    "{e}: the adapter was trained on a different base model"
                ))
            })?;
        }
    }
    let expected_tensors = 2 * layers * modules.len();
    if tensors.len() != expected_tensors {
        return Err(adapter_error(format!(
            "it holds {} tensors, a {layers}-layer base model with {} modules needs {expected_tensors}: \
             the adapter was trained on a different base model",
            tensors.len(),
            modules.len()
        )));
    }
    Ok(())
}
