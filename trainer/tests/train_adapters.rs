//! The trainer's model agrees with the agent's inference pass; adapters round-trip through the
//! PEFT layout into the agent (`--adapter`) and into a merged GGUF; mismatches and bad data
//! lines give clear errors.

mod train_common;

use std::path::Path;

use candle_core::DType;
use learnat_agent::model::gguf::adapter::{TargetModule, gguf_row_order, hf_row_order};
use learnat_agent::model::gguf::tiny::write_tiny_gguf;
use learnat_agent::model::gguf::{GgufModel, GgufOptions, ModelFamily};
use learnat_trainer::train::data::{Encoder, read_pairs, read_sft};
use learnat_trainer::train::lora::{LoraSettings, Policy};
use learnat_trainer::train::merge::merge_gguf;
use learnat_trainer::train::model::{TrainModel, load_gguf_base};
use learnat_trainer::train::objectives::{Sequence, completion_logprobs};
use learnat_trainer::train::peft::{load_adapter_into, save_adapter};
use train_common::{micro_model, randomize_b};

fn tiny_model(dir: &Path, family: ModelFamily) -> (std::path::PathBuf, TrainModel, Sequence) {
    let path = dir.join(format!("tiny-{family:?}.gguf"));
    write_tiny_gguf(&path, family, 11).unwrap();
    let base = load_gguf_base(&path, DType::F32).unwrap();
    let settings = LoraSettings {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: TargetModule::ALL.to_vec(),
    };
    let model = TrainModel::new(&base.config, &base.weights, &settings, 64, 1).unwrap();
    let encoder = Encoder {
        tokenizer: &base.tokenizer,
        template: &base.template,
    };
    let prompt = encoder
        .prompt(&[learnat_agent::ChatMessage::user("list the users")], "")
        .unwrap();
    let sequence = encoder
        .sequence(prompt, "SELECT * FROM users", true)
        .unwrap();
    (path, model, sequence)
}

fn agent_logprobs(path: &Path, adapter: Option<&Path>, sequence: &Sequence) -> Vec<f32> {
    let options = GgufOptions {
        threads: Some(1),
        adapter: adapter.map(Path::to_path_buf),
        ..GgufOptions::default()
    };
    let model = GgufModel::load(path, &options).unwrap();
    let (prompt, completion) = sequence.tokens.split_at(sequence.completion_start);
    model.score(prompt, completion).unwrap()
}

fn trainer_logprobs(model: &TrainModel, sequence: &Sequence, policy: Policy) -> Vec<f32> {
    completion_logprobs(model, sequence, policy, None)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn training_forward_pass_matches_the_agents_inference_on_both_families() {
    let dir = tempfile::tempdir().unwrap();
    for family in [ModelFamily::Qwen2, ModelFamily::Llama] {
        let (path, model, sequence) = tiny_model(dir.path(), family);
        let trained = trainer_logprobs(&model, &sequence, Policy::Trained);
        let inference = agent_logprobs(&path, None, &sequence);
        // The agent's kernels quantize activations to 8 bits; the trainer runs dense f32.
        let difference = max_difference(&trained, &inference);
        assert!(
            difference < 0.05,
            "{family:?}: log-probabilities differ by {difference}"
        );
    }
}

#[test]
fn a_saved_adapter_loads_into_the_agent_and_into_a_merged_gguf() {
    let dir = tempfile::tempdir().unwrap();
    for family in [ModelFamily::Qwen2, ModelFamily::Llama] {
        let (path, mut model, sequence) = tiny_model(dir.path(), family);
        randomize_b(&mut model, 5, 0.08);
        let adapter = dir.path().join(format!("adapter-{family:?}"));
        save_adapter(&model, &adapter, "tiny").unwrap();

        let tensors = candle_core::safetensors::load(
            adapter.join("adapter_model.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        assert_eq!(tensors.len(), 2 * 2 * 7);
        let q_a = &tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"];
        assert_eq!(q_a.dims(), [4, 256]);
        assert_eq!(
            tensors["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"].dims(),
            [256, 4]
        );
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(adapter.join("adapter_config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(config["peft_type"], "LORA");
        assert_eq!(config["r"], 4);
        assert_eq!(config["lora_alpha"], 8.0);
        assert_eq!(config["target_modules"].as_array().unwrap().len(), 7);

        let base = agent_logprobs(&path, None, &sequence);
        let trained = trainer_logprobs(&model, &sequence, Policy::Trained);
        let with_adapter = agent_logprobs(&path, Some(&adapter), &sequence);
        assert!(
            max_difference(&trained, &base) > 0.1,
            "{family:?}: the adapter should change the model"
        );
        let difference = max_difference(&trained, &with_adapter);
        assert!(
            difference < 0.05,
            "{family:?}: agent + adapter differs from the trainer by {difference}"
        );

        let merged = dir.path().join(format!("merged-{family:?}.gguf"));
        let summary = merge_gguf(
            &path,
            &adapter,
            &merged,
            candle_core::quantized::GgmlDType::Q8_0,
        )
        .unwrap();
        assert_eq!(summary.merged_matrices, 14);
        let from_merged = agent_logprobs(&merged, None, &sequence);
        // The same merge and re-quantization as loading with --adapter: identical weights.
        assert!(
            max_difference(&from_merged, &with_adapter) < 1e-4,
            "{family:?}: merged file differs"
        );

        // Reading the adapter back into a trainer model gives the same function.
        let (_, mut reloaded, _) = tiny_model(dir.path(), family);
        load_adapter_into(&mut reloaded, &adapter, false).unwrap();
        let again = trainer_logprobs(&reloaded, &sequence, Policy::Trained);
        assert!(max_difference(&again, &trained) < 1e-5);
    }
}

#[test]
fn llama_rows_are_permuted_like_llama_cpp_and_back() {
    assert_eq!(gguf_row_order(1, 4), vec![0, 2, 1, 3]);
    assert_eq!(gguf_row_order(2, 4), vec![0, 2, 1, 3, 4, 6, 5, 7]);
    let forward = gguf_row_order(3, 8);
    let inverse = hf_row_order(3, 8);
    for (gguf_row, hf_row) in forward.iter().enumerate() {
        assert_eq!(inverse[*hf_row as usize] as usize, gguf_row);
    }
}

#[test]
fn an_adapter_for_another_base_model_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let micro = micro_model(ModelFamily::Qwen2, 1, DType::F32, 1);
    let adapter = dir.path().join("micro-adapter");
    save_adapter(&micro, &adapter, "micro").unwrap();
    let (path, mut model, _) = tiny_model(dir.path(), ModelFamily::Qwen2);
    let options = GgufOptions {
        adapter: Some(adapter.clone()),
        ..GgufOptions::default()
    };
    let error = GgufModel::load(&path, &options).unwrap_err().to_string();
    assert!(error.contains("different base model"), "{error}");
    let error = load_adapter_into(&mut model, &adapter, false)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("--rank"),
        "rank 2 vs 4 should be named: {error}"
    );
    let error = merge_gguf(
        &path,
        &adapter,
        &dir.path().join("x.gguf"),
        candle_core::quantized::GgmlDType::Q8_0,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("different base model"), "{error}");
    let missing = GgufModel::load(
        &path,
        &GgufOptions {
            adapter: Some(dir.path().join("nope")),
            ..GgufOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(missing.contains("adapter_config.json"), "{missing}");
}

#[test]
fn bad_data_lines_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let sft = dir.path().join("sft.jsonl");
    let good = r#"{"id":1,"db_id":"x","question":"q","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"SELECT 1"}]}"#;
    std::fs::write(&sft, format!("{good}\n{{not json\n")).unwrap();
    let error = read_sft(&sft).unwrap_err().to_string();
    assert!(error.contains("sft.jsonl:2:"), "{error}");
    let user_last =
        r#"{"messages":[{"role":"assistant","content":"a"},{"role":"user","content":"q"}]}"#;
    std::fs::write(&sft, format!("{good}\n\n{user_last}\n")).unwrap();
    let error = read_sft(&sft).unwrap_err().to_string();
    assert!(
        error.contains("sft.jsonl:3:") && error.contains("not the assistant"),
        "{error}"
    );

    let pairs = dir.path().join("pairs.jsonl");
    let no_margin =
        r#"{"prompt":[{"role":"user","content":"q"}],"prefix":"","chosen":"a","rejected":"b"}"#;
    std::fs::write(&pairs, format!("{no_margin}\n")).unwrap();
    assert!(read_pairs(&pairs, false).is_ok(), "DPO needs no margin");
    let error = read_pairs(&pairs, true).unwrap_err().to_string();
    assert!(
        error.contains("pairs.jsonl:1:") && error.contains("margin"),
        "{error}"
    );
    let negative = r#"{"prompt":[{"role":"user","content":"q"}],"chosen":"a","rejected":"b","chosen_reward":0.2,"rejected_reward":0.5}"#;
    std::fs::write(&pairs, format!("{negative}\n")).unwrap();
    let error = read_pairs(&pairs, true).unwrap_err().to_string();
    assert!(error.contains("chosen_reward > rejected_reward"), "{error}");
}
