//! Choosing the next token from the logits, and finding stop strings in the generated text.
//!
//! The order of operations follows llama.cpp / Hugging Face: repetition penalty on the raw
//! logits, then temperature, top-k, top-p, and a draw from the renormalised distribution with a
//! seeded ChaCha RNG (the same seed gives the same tokens on every machine). Temperature 0 is
//! greedy decoding.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::GenerationParams;

/// How to pick tokens: the sampling part of [`GenerationParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    /// 0 = greedy.
    pub temperature: f32,
    /// Nucleus mass in (0, 1]; 1 disables.
    pub top_p: f32,
    /// Keep the k most likely tokens; 0 disables.
    pub top_k: usize,
    /// CTRL-style penalty on tokens seen in the prompt or output; 1 disables.
    pub repetition_penalty: f32,
}

impl SamplingConfig {
    /// The sampling settings of a request.
    pub fn from_params(params: &GenerationParams) -> SamplingConfig {
        SamplingConfig {
            temperature: params.temperature,
            top_p: params.top_p,
            top_k: params.top_k,
            repetition_penalty: params.repetition_penalty,
        }
    }

    /// Greedy decoding, no penalty.
    pub fn greedy() -> SamplingConfig {
        SamplingConfig {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
        }
    }
}

/// A token choice with its log-probability under the model (log-softmax of the raw logits,
/// before penalty and temperature).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampledToken {
    pub id: u32,
    pub logprob: f32,
}

/// Picks tokens; owns the RNG, so successive calls continue one random stream.
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplingConfig,
    rng: ChaCha8Rng,
    /// Scratch space reused between tokens (index, probability).
    candidates: Vec<(u32, f32)>,
}

/// Natural-log softmax probability of `index` in `logits`.
pub fn log_softmax_at(logits: &[f32], index: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    logits
        .get(index)
        .map_or(f32::NEG_INFINITY, |l| l - max - sum.ln())
}

/// The index of the largest logit (the first one on ties, like llama.cpp's greedy sampler).
pub fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    let mut best_value = f32::NEG_INFINITY;
    for (index, value) in logits.iter().enumerate() {
        if *value > best_value {
            best = index;
            best_value = *value;
        }
    }
    best
}

impl Sampler {
    /// A sampler with its own RNG stream from `seed`.
    pub fn new(config: SamplingConfig, seed: u64) -> Sampler {
        Sampler {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            candidates: Vec::new(),
        }
    }

    /// Chooses the next token. `logits` is modified (penalty applied); `history` holds the
    /// prompt and generated ids the repetition penalty looks at.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> SampledToken {
        let raw_logprob = |logits: &[f32], id: usize| log_softmax_at(logits, id);
        if self.config.repetition_penalty != 1.0 && self.config.repetition_penalty > 0.0 {
            // Computing the log-probability must see the raw logits: keep a copy of the few
            // penalised values.
            let penalty = self.config.repetition_penalty;
            let mut seen = history.to_vec();
            seen.sort_unstable();
            seen.dedup();
            let originals: Vec<(usize, f32)> = seen
                .iter()
                .filter_map(|id| logits.get(*id as usize).map(|l| (*id as usize, *l)))
                .collect();
            for (index, value) in &originals {
                logits[*index] = if *value > 0.0 {
                    value / penalty
                } else {
                    value * penalty
                };
            }
            let id = self.choose(logits);
            for (index, value) in originals {
                logits[index] = value;
            }
            return SampledToken {
                id: id as u32,
                logprob: raw_logprob(logits, id),
            };
        }
        let id = self.choose(logits);
        SampledToken {
            id: id as u32,
            logprob: raw_logprob(logits, id),
        }
    }

    fn choose(&mut self, logits: &[f32]) -> usize {
        if self.config.temperature <= 0.0 || self.config.top_k == 1 {
            return argmax(logits);
        }
        let temperature = self.config.temperature;
        self.candidates.clear();
        self.candidates.extend(
            logits
                .iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite())
                .map(|(i, l)| (i as u32, l / temperature)),
        );
        if self.candidates.is_empty() {
            return argmax(logits);
        }
        // Sort by logit, largest first (a partial selection first when top-k is small).
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let top_k = self.config.top_k;
        if top_k > 0 && top_k < self.candidates.len() {
            self.candidates.select_nth_unstable_by(top_k - 1, by_logit);
            self.candidates.truncate(top_k);
        }
        self.candidates.sort_unstable_by(by_logit);
        let max = self.candidates[0].1;
        let mut total = 0.0f32;
        for candidate in self.candidates.iter_mut() {
            candidate.1 = (candidate.1 - max).exp();
            total += candidate.1;
        }
        let top_p = self.config.top_p;
        if top_p > 0.0 && top_p < 1.0 {
            let mut mass = 0.0f32;
            let mut keep = self.candidates.len();
            for (index, candidate) in self.candidates.iter().enumerate() {
                mass += candidate.1 / total;
                if mass >= top_p {
                    keep = index + 1;
                    break;
                }
            }
            self.candidates.truncate(keep);
            total = self.candidates.iter().map(|c| c.1).sum();
        }
        let mut draw = self.rng.random::<f32>() * total;
        for candidate in &self.candidates {
            draw -= candidate.1;
            if draw <= 0.0 {
                return candidate.0 as usize;
            }
        }
        // Rounding left a sliver: the least likely kept candidate.
        self.candidates.last().map_or(0, |c| c.0 as usize)
    }
}

/// Watches generated text for stop strings, which may arrive split across tokens.
///
/// Text is released only once it cannot be the start of a stop string any more, so the stop
/// text itself is never emitted.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Generated text not yet released.
    held: String,
}

/// What [`StopMatcher::push`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopScan {
    /// No stop string (yet); this text is safe to emit.
    Continue(String),
    /// A stop string appeared; emit this text (what came before it) and end.
    Stopped(String),
}

impl StopMatcher {
    /// A matcher for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> StopMatcher {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Adds newly generated text.
    pub fn push(&mut self, text: &str) -> StopScan {
        if self.stops.is_empty() {
            return StopScan::Continue(text.to_string());
        }
        self.held.push_str(text);
        let earliest = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min();
        if let Some(position) = earliest {
            let before = self.held[..position].to_string();
            self.held.clear();
            return StopScan::Stopped(before);
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        let mut keep_from = self.held.len();
        for (start, _) in self.held.char_indices() {
            let suffix = &self.held[start..];
            if self.stops.iter().any(|stop| stop.starts_with(suffix)) {
                keep_from = start;
                break;
            }
        }
        let released = self.held[..keep_from].to_string();
        self.held.drain(..keep_from);
        StopScan::Continue(released)
    }

    /// The text still held back when generation ends for another reason.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest_logit_and_reports_its_logprob() {
        let mut sampler = Sampler::new(SamplingConfig::greedy(), 0);
        let mut logits = vec![0.0, 2.0, 1.0];
        let token = sampler.sample(&mut logits, &[]);
        assert_eq!(token.id, 1);
        let expected = 2.0 - (1.0f32 + 2.0f32.exp() + 1.0f32.exp()).ln();
        assert!((token.logprob - expected).abs() < 1e-5);
    }

    #[test]
    fn repetition_penalty_changes_the_greedy_choice() {
        let config = SamplingConfig {
            repetition_penalty: 2.0,
            ..SamplingConfig::greedy()
        };
        let mut sampler = Sampler::new(config, 0);
        let mut logits = vec![1.5, 2.0, 1.0];
        assert_eq!(sampler.sample(&mut logits, &[1]).id, 0);
        assert_eq!(logits, vec![1.5, 2.0, 1.0], "logits are restored");
    }

    #[test]
    fn the_same_seed_gives_the_same_draws_and_top_k_limits_them() {
        let config = SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 2,
            repetition_penalty: 1.0,
        };
        let logits = vec![1.0, 1.1, 0.9, 1.05, -3.0];
        let draw = |seed| {
            let mut sampler = Sampler::new(config.clone(), seed);
            (0..64)
                .map(|_| sampler.sample(&mut logits.clone(), &[]).id)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(draw(7).iter().all(|id| *id == 1 || *id == 3));
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        let config = SamplingConfig {
            temperature: 1.0,
            top_p: 0.5,
            top_k: 0,
            repetition_penalty: 1.0,
        };
        let mut sampler = Sampler::new(config, 3);
        let logits = vec![5.0, 0.0, 0.0, 0.0];
        for _ in 0..32 {
            assert_eq!(sampler.sample(&mut logits.clone(), &[]).id, 0);
        }
    }

    #[test]
    fn stop_strings_split_across_pushes_are_found_and_not_emitted() {
        let mut matcher = StopMatcher::new(&["```".to_string(), "\nEND".to_string()]);
        assert_eq!(
            matcher.push("SELECT 1"),
            StopScan::Continue("SELECT 1".into())
        );
        assert_eq!(matcher.push(";`"), StopScan::Continue(";".into()));
        assert_eq!(matcher.push("`"), StopScan::Continue(String::new()));
        assert_eq!(matcher.push("`tail"), StopScan::Stopped(String::new()));
        let mut matcher = StopMatcher::new(&["\nEND".to_string()]);
        assert_eq!(matcher.push("a\nE"), StopScan::Continue("a".into()));
        assert_eq!(matcher.push("X"), StopScan::Continue("\nEX".into()));
        assert_eq!(matcher.push("\n"), StopScan::Continue(String::new()));
        assert_eq!(matcher.finish(), "\n");
    }
}
