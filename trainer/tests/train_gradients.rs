//! Gradient checks: the autograd gradients of the LoRA variables through the whole model and
//! each loss agree with central finite differences, in f64 on micro random models.

mod train_common;

use candle_core::{DType, Device, Tensor};
use learnat_agent::model::gguf::ModelFamily;
use learnat_trainer::train::lora::Policy;
use learnat_trainer::train::model::TrainModel;
use learnat_trainer::train::objectives::{
    GrpoSettings, PreferenceObjective, Sequence, completion_logprobs, grpo_sample_loss,
    preference_loss, sft_loss,
};
use train_common::{micro_model, randomize_b};

const STEP: f64 = 1e-5;

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// Compares autograd with finite differences on `entries` entries of every variable; returns
/// the number of entries compared.
fn check_gradients(
    model: &TrainModel,
    loss: &dyn Fn(&TrainModel) -> Tensor,
    entries: usize,
) -> usize {
    let value = loss(model);
    let grads = value.backward().expect("backward");
    let mut compared = 0;
    let mut nonzero = 0;
    for (index, variable) in model.variables().iter().enumerate() {
        let original = variable.as_tensor().copy().unwrap();
        let shape = original.dims().to_vec();
        let flat: Vec<f64> = original.flatten_all().unwrap().to_vec1().unwrap();
        let analytic: Vec<f64> = grads
            .get(variable.as_tensor())
            .map(|g| g.flatten_all().unwrap().to_vec1().unwrap())
            .unwrap_or_else(|| vec![0.0; flat.len()]);
        for k in 0..entries {
            let position = (index * 7 + k * 13) % flat.len();
            let evaluate = |delta: f64| {
                let mut values = flat.clone();
                values[position] += delta;
                variable
                    .set(&Tensor::from_vec(values, shape.clone(), &Device::Cpu).unwrap())
                    .unwrap();
                scalar(&loss(model))
            };
            let numeric = (evaluate(STEP) - evaluate(-STEP)) / (2.0 * STEP);
            variable.set(&original).unwrap();
            let exact = analytic[position];
            let error = (numeric - exact).abs() / (numeric.abs().max(exact.abs()).max(1e-3));
            assert!(
                error < 1e-4,
                "variable {index} entry {position}: autograd {exact:e} vs finite differences {numeric:e}"
            );
            compared += 1;
            if exact.abs() > 1e-8 {
                nonzero += 1;
            }
        }
    }
    assert!(
        nonzero * 2 > compared,
        "most gradients should be non-zero ({nonzero} of {compared})"
    );
    compared
}

fn sequence(tokens: &[u32], completion_start: usize) -> Sequence {
    Sequence {
        tokens: tokens.to_vec(),
        completion_start,
    }
}

fn summed(model: &TrainModel, s: &Sequence) -> Tensor {
    completion_logprobs(model, s, Policy::Trained, None)
        .unwrap()
        .sum_all()
        .unwrap()
}

#[test]
fn lora_gradients_through_qwen2_and_llama_match_finite_differences() {
    for family in [ModelFamily::Qwen2, ModelFamily::Llama] {
        let mut model = micro_model(family, 2, DType::F64, 3);
        randomize_b(&mut model, 4, 0.3);
        let s = sequence(&[1, 4, 2, 7, 3, 9, 5], 3);
        let loss = |m: &TrainModel| {
            sft_loss(&[completion_logprobs(m, &s, Policy::Trained, None).unwrap()]).unwrap()
        };
        let compared = check_gradients(&model, &loss, 2);
        assert_eq!(
            compared,
            2 * 2 * 7 * 2,
            "{family:?}: every A and B of both layers"
        );
    }
}

#[test]
fn preference_loss_gradients_match_finite_differences_for_dpo_and_both_mdpo_variants() {
    let mut model = micro_model(ModelFamily::Qwen2, 1, DType::F64, 5);
    randomize_b(&mut model, 6, 0.3);
    let chosen = sequence(&[1, 2, 3, 4, 5], 3);
    let rejected = sequence(&[1, 2, 3, 8, 6, 7], 3);
    // A reference that differs from the policy, so Δ is not zero at the checked point.
    let (reference_chosen, reference_rejected) = (-4.0, -6.5);
    for objective in [
        PreferenceObjective::Dpo,
        PreferenceObjective::MdpoMargin,
        PreferenceObjective::MdpoLogMargin { alpha: 0.7 },
    ] {
        let loss = |m: &TrainModel| {
            preference_loss(
                &summed(m, &chosen),
                &summed(m, &rejected),
                reference_chosen,
                reference_rejected,
                0.4,
                0.5,
                objective,
            )
            .unwrap()
            .loss
        };
        check_gradients(&model, &loss, 2);
    }
}

#[test]
fn preference_losses_follow_their_formulas() {
    let zero = Tensor::new(0f64, &Device::Cpu).unwrap();
    let policy_chosen = Tensor::new(-1.0f64, &Device::Cpu).unwrap();
    let policy_rejected = Tensor::new(-3.0f64, &Device::Cpu).unwrap();
    let log_sigmoid = |x: f64| -(1.0 / (1.0 + (-x).exp())).ln();
    // Δ = β·[(−1 − −2) − (−3 − −2)] = 0.5 · 2 = 1.
    let cases = [
        (PreferenceObjective::Dpo, log_sigmoid(1.0)),
        (PreferenceObjective::MdpoMargin, log_sigmoid(1.0 - 0.4)),
        (
            PreferenceObjective::MdpoLogMargin { alpha: 0.7 },
            log_sigmoid(1.0 - 0.7 * 0.4f64.ln()),
        ),
    ];
    for (objective, expected) in cases {
        let result = preference_loss(
            &policy_chosen,
            &policy_rejected,
            -2.0,
            -2.0,
            0.4,
            0.5,
            objective,
        )
        .unwrap();
        assert!((result.margin - 1.0).abs() < 1e-12);
        assert!(
            (scalar(&result.loss) - expected).abs() < 1e-12,
            "{objective:?}"
        );
    }
    let error = preference_loss(
        &zero,
        &zero,
        0.0,
        0.0,
        0.0,
        1.0,
        PreferenceObjective::MdpoLogMargin { alpha: 1.0 },
    );
    assert!(error.is_err(), "log Δr needs Δr > 0");
}

#[test]
fn grpo_loss_gradients_match_finite_differences_inside_and_outside_the_clip_range() {
    let mut model = micro_model(ModelFamily::Llama, 1, DType::F64, 7);
    randomize_b(&mut model, 8, 0.3);
    let s = sequence(&[2, 5, 1, 6, 9, 3], 2);
    let policy_now: Vec<f64> = completion_logprobs(&model, &s, Policy::Trained, None)
        .unwrap()
        .to_vec1()
        .unwrap();
    let reference = completion_logprobs(&model, &s, Policy::Reference, None)
        .unwrap()
        .detach();
    let settings = GrpoSettings {
        clip: 0.2,
        kl_beta: 0.3,
    };
    // "old" a little off the current policy (ratio inside the range), then far off (clipped).
    for (offset, advantage) in [(0.05, 1.3), (0.05, -0.8), (-0.6, 1.1), (0.6, -1.2)] {
        let old: Vec<f64> = policy_now
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { offset } else { -offset / 2.0 })
            .collect();
        let old = Tensor::new(old.as_slice(), &Device::Cpu).unwrap();
        let loss = |m: &TrainModel| {
            let policy = completion_logprobs(m, &s, Policy::Trained, None).unwrap();
            grpo_sample_loss(&policy, &old, &reference, advantage, settings).unwrap()
        };
        check_gradients(&model, &loss, 1);
    }
}

#[test]
fn grpo_loss_is_the_negative_advantage_when_policy_old_and_reference_agree() {
    let logprobs = Tensor::new(&[-0.5f64, -1.5, -0.25], &Device::Cpu).unwrap();
    let settings = GrpoSettings {
        clip: 0.2,
        kl_beta: 0.5,
    };
    let loss = grpo_sample_loss(&logprobs, &logprobs, &logprobs, 0.75, settings).unwrap();
    assert!((scalar(&loss) + 0.75).abs() < 1e-12);
    let advantages = learnat_trainer::train::objectives::group_advantages(&[1.0, 0.0, 0.1, 0.0]);
    let mean: f64 = advantages.iter().sum::<f64>() / 4.0;
    assert!(mean.abs() < 1e-9 && advantages[0] > 1.0 && advantages[1] < 0.0);
    assert_eq!(
        learnat_trainer::train::objectives::group_advantages(&[0.1, 0.1]),
        vec![0.0, 0.0]
    );
}
