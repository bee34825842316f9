//! Monte Carlo tree search over partial decompositions of one question.
//!
//! A node is a partial decomposition (the steps on the path from the root). One simulation:
//!
//! 1. **Selection**: from the root, follow the open child with the highest UCT score
//!    `Q/N + c·√(ln N_parent / N_child)` (ties: the earlier child) down to a node not expanded
//!    yet. A node whose children are all closed is marked dead and selection starts again.
//! 2. **Expansion**: the teacher proposes k next steps for that node's conversation; each is
//!    judged ([`Judge`]) and becomes a child (SQL written twice among siblings is kept once).
//! 3. **Evaluation**: a child's value is its step reward, or 1 when it execution-matches the
//!    gold (the trajectory is correct and the search stops).
//! 4. **Backpropagation**: the best value among the new children that are kept (with pruning:
//!    the progressive ones and any match) is added along the path to the root.
//!
//! With AST-guided pruning a child is open only when it is Progressive; without it (the
//! ablation), every child that is not a final answer is open. A child is also closed when it
//! answers the question, writes the Final SQL, or reaches the depth limit.

use learnat_agent::model::ChatMessage;
use learnat_agent::strategy::StepOutcome;
use learnat_agent::student_format::{
    StudentStep, extract_sql, format_final_sql, format_step, parse_student_output,
};
use learnat_tools::sql::{SqlTree, StepClass};
use serde::{Deserialize, Serialize};

use super::error::SynthResult;
use super::judge::{Judge, Verdict};
use super::teacher::{Teacher, TeacherUsage, conversation};

/// Search settings (the flags of `learnat synth`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchOptions {
    /// Simulations (expansions) per question at most.
    pub simulations: usize,
    /// Steps per trajectory at most.
    pub max_depth: usize,
    /// Candidate steps the teacher proposes per expansion.
    pub k: usize,
    /// Weight of node similarity in the step reward (1 − α weighs TED similarity).
    pub alpha: f64,
    /// UCT exploration constant.
    pub exploration: f64,
    /// Only Progressive steps expand (false: the ablation without AST-guided pruning).
    pub ast_pruning: bool,
    /// Sampling temperature of the teacher.
    pub temperature: f32,
    /// Tokens per teacher completion at most.
    pub max_tokens: usize,
    /// Base seed; each expansion's seed derives from it, the question id and the node.
    pub seed: u64,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            simulations: 50,
            max_depth: 5,
            k: 3,
            alpha: 0.5,
            exploration: 1.41,
            ast_pruning: true,
            temperature: 0.8,
            max_tokens: 256,
            seed: 0,
        }
    }
}

/// One step the teacher proposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The sub-question (empty for a final answer).
    pub sub_question: String,
    /// The step's SQL (empty when the answer held none).
    pub sql: String,
    /// True when the teacher wrote `Final SQL` (or a bare query) instead of a step.
    pub is_final: bool,
    /// The answer as written, kept only when it followed no format (it is then a rejected
    /// step's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unformatted: Option<String>,
}

impl Candidate {
    /// Reads one teacher answer: its first step with SQL, else its Final SQL, else a bare
    /// query (a final answer), else nothing usable.
    pub fn from_answer(text: &str) -> Candidate {
        let parsed = parse_student_output(text);
        if let Some(step) = parsed.steps.into_iter().find(|s| !s.sql.is_empty()) {
            return Candidate {
                sub_question: step.sub_question,
                sql: step.sql,
                is_final: false,
                unformatted: None,
            };
        }
        let final_sql = parsed.final_sql.or_else(|| extract_sql(text).ok());
        match final_sql {
            Some(sql) => Candidate {
                sub_question: String::new(),
                sql,
                is_final: true,
                unformatted: None,
            },
            None => Candidate {
                sub_question: String::new(),
                sql: String::new(),
                is_final: false,
                unformatted: Some(text.trim().to_string()),
            },
        }
    }

    /// The candidate as the student format writes it when it is step `number`, with a
    /// trailing line break (so the texts of consecutive steps concatenate).
    pub fn text(&self, number: usize) -> String {
        if let Some(raw) = &self.unformatted {
            return format!("{raw}\n");
        }
        if self.is_final {
            return format!("{}\n", format_final_sql(&self.sql));
        }
        let step = StudentStep {
            sub_question: self.sub_question.clone(),
            sql: self.sql.clone(),
        };
        format!("{}\n", format_step(number, &step))
    }
}

/// One node of the search tree.
#[derive(Debug, Clone)]
pub struct Node {
    pub parent: Option<usize>,
    /// Children in the order they were proposed.
    pub children: Vec<usize>,
    /// Steps from the root to here (0 at the root).
    pub depth: usize,
    /// The step that leads here (`None` at the root).
    pub candidate: Option<Candidate>,
    /// The judge's verdict on it (`None` at the root).
    pub verdict: Option<Verdict>,
    pub visits: u32,
    /// Sum of the values backpropagated through this node.
    pub value: f64,
    pub expanded: bool,
    /// Selection found nothing open below it.
    pub dead: bool,
}

impl Node {
    /// The step's class (`None` at the root).
    pub fn class(&self) -> Option<StepClass> {
        self.verdict.as_ref().map(|v| v.class)
    }

    /// The step's reward (0 at the root).
    pub fn reward(&self) -> f64 {
        self.verdict.as_ref().map_or(0.0, |v| v.reward)
    }

    /// Whether the step's result matches the gold.
    pub fn solves(&self) -> bool {
        self.verdict.as_ref().is_some_and(|v| v.matches_gold)
    }
}

/// Counts of the candidates the teacher proposed, by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCounts {
    pub progressive: u64,
    pub redundant: u64,
    pub invalid: u64,
}

impl ClassCounts {
    fn add(&mut self, class: StepClass) {
        match class {
            StepClass::Progressive => self.progressive += 1,
            StepClass::Redundant => self.redundant += 1,
            StepClass::Invalid => self.invalid += 1,
        }
    }

    /// All candidates counted.
    pub fn total(&self) -> u64 {
        self.progressive + self.redundant + self.invalid
    }

    /// Adds `other` to this.
    pub fn absorb(&mut self, other: &ClassCounts) {
        self.progressive += other.progressive;
        self.redundant += other.redundant;
        self.invalid += other.invalid;
    }
}

/// The search tree of one question and what it cost.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// Node 0 is the root.
    pub nodes: Vec<Node>,
    /// The node whose step matched the gold, when one did.
    pub solved: Option<usize>,
    pub usage: TeacherUsage,
    /// Distinct candidates by class.
    pub classes: ClassCounts,
    /// Candidates dropped because a sibling had the same SQL.
    pub duplicates: u64,
    /// Expansions made.
    pub simulations: usize,
}

impl SearchOutcome {
    /// Node ids from the root (excluded) down to `node` (included).
    pub fn path_to(&self, node: usize) -> Vec<usize> {
        let mut path = Vec::new();
        let mut current = node;
        while let Some(parent) = self.nodes[current].parent {
            path.push(current);
            current = parent;
        }
        path.reverse();
        path
    }
}

/// What one question's search needs.
pub struct SearchInput<'a> {
    /// Id of the question (seeds derive from it).
    pub id: &'a str,
    /// The decompose strategy's opening messages for the question.
    pub prompt: &'a [ChatMessage],
    pub teacher: &'a Teacher,
    pub judge: &'a Judge,
    pub options: &'a SearchOptions,
}

/// Runs the search for one question (see the module documentation).
pub async fn search(input: SearchInput<'_>) -> SynthResult<SearchOutcome> {
    let options = input.options;
    let mut outcome = SearchOutcome {
        nodes: vec![Node {
            parent: None,
            children: Vec::new(),
            depth: 0,
            candidate: None,
            verdict: None,
            visits: 0,
            value: 0.0,
            expanded: false,
            dead: false,
        }],
        solved: None,
        usage: TeacherUsage::default(),
        classes: ClassCounts::default(),
        duplicates: 0,
        simulations: 0,
    };
    let question_seed = options.seed ^ fnv1a(input.id);
    while outcome.simulations < options.simulations && outcome.solved.is_none() {
        let Some(leaf) = select(&mut outcome.nodes, options) else {
            break;
        };
        outcome.simulations += 1;
        let best = expand(&input, &mut outcome, leaf, question_seed).await?;
        backpropagate(&mut outcome.nodes, leaf, best);
    }
    Ok(outcome)
}

/// Whether `node`'s step may be continued.
fn is_open(node: &Node, options: &SearchOptions) -> bool {
    if node.dead || node.depth >= options.max_depth {
        return false;
    }
    match (&node.candidate, &node.verdict) {
        (Some(candidate), Some(verdict)) => {
            !candidate.is_final
                && !verdict.matches_gold
                && (!options.ast_pruning || verdict.class == StepClass::Progressive)
        }
        _ => true,
    }
}

/// The UCT score of `child` under a parent visited `parent_visits` times.
pub fn uct_score(value: f64, visits: u32, parent_visits: u32, exploration: f64) -> f64 {
    if visits == 0 {
        return f64::INFINITY;
    }
    let visits = f64::from(visits);
    let parent = f64::from(parent_visits.max(1));
    value / visits + exploration * (parent.ln() / visits).sqrt()
}

/// The node to expand next, or `None` when nothing is open.
fn select(nodes: &mut [Node], options: &SearchOptions) -> Option<usize> {
    loop {
        if nodes[0].dead {
            return None;
        }
        let mut current = 0;
        loop {
            if !nodes[current].expanded {
                return Some(current);
            }
            let parent_visits = nodes[current].visits;
            let best = nodes[current]
                .children
                .iter()
                .copied()
                .filter(|&child| is_open(&nodes[child], options))
                .fold(None::<(usize, f64)>, |best, child| {
                    let node = &nodes[child];
                    let score =
                        uct_score(node.value, node.visits, parent_visits, options.exploration);
                    match best {
                        Some((_, top)) if top >= score => best,
                        _ => Some((child, score)),
                    }
                });
            match best {
                Some((child, _)) => current = child,
                None => {
                    nodes[current].dead = true;
                    break;
                }
            }
        }
    }
}

/// Asks the teacher for `leaf`'s children and judges them; returns the best child value.
async fn expand(
    input: &SearchInput<'_>,
    outcome: &mut SearchOutcome,
    leaf: usize,
    question_seed: u64,
) -> SynthResult<f64> {
    let options = input.options;
    let path = outcome.path_to(leaf);
    let steps: Vec<(&Candidate, &StepOutcome)> = path
        .iter()
        .filter_map(|&id| {
            let node = &outcome.nodes[id];
            Some((node.candidate.as_ref()?, &node.verdict.as_ref()?.outcome))
        })
        .collect();
    let messages = conversation(input.prompt, &steps, options.max_depth);
    let earlier: Vec<SqlTree> = path
        .iter()
        .filter_map(|&id| outcome.nodes[id].verdict.as_ref()?.tree.clone())
        .collect();
    let seed = question_seed.wrapping_add((leaf as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let answers = input
        .teacher
        .propose(&messages, options.k, seed, &mut outcome.usage)
        .await?;
    outcome.nodes[leaf].expanded = true;
    let depth = outcome.nodes[leaf].depth + 1;
    let mut best = 0.0f64;
    for answer in answers {
        let candidate = Candidate::from_answer(&answer);
        let verdict = input.judge.judge(&candidate.sql, &earlier).await;
        tracing::debug!(
            question = input.id,
            depth,
            sql = candidate.sql,
            is_final = candidate.is_final,
            class = ?verdict.class,
            reward = verdict.reward,
            matches_gold = verdict.matches_gold,
            error = verdict.outcome.error_message(),
            "candidate"
        );
        let duplicate = outcome.nodes[leaf].children.iter().any(|&sibling| {
            let node = &outcome.nodes[sibling];
            node.verdict.as_ref().map(|v| &v.canonical) == Some(&verdict.canonical)
                && node.candidate.as_ref().map(|c| c.is_final) == Some(candidate.is_final)
        });
        if duplicate {
            outcome.duplicates += 1;
            continue;
        }
        outcome.classes.add(verdict.class);
        let value = if verdict.matches_gold {
            1.0
        } else {
            verdict.reward
        };
        // A pruned step is out of the tree: its reward says nothing about the parent.
        if verdict.matches_gold || !options.ast_pruning || verdict.class == StepClass::Progressive {
            best = best.max(value);
        }
        let solved = verdict.matches_gold;
        let id = outcome.nodes.len();
        outcome.nodes.push(Node {
            parent: Some(leaf),
            children: Vec::new(),
            depth,
            candidate: Some(candidate),
            verdict: Some(verdict),
            visits: 1,
            value,
            expanded: false,
            dead: false,
        });
        outcome.nodes[leaf].children.push(id);
        if solved && outcome.solved.is_none() {
            outcome.solved = Some(id);
        }
    }
    Ok(best)
}

/// Adds `value` and one visit to `leaf` and its ancestors.
fn backpropagate(nodes: &mut [Node], leaf: usize, value: f64) {
    let mut current = Some(leaf);
    while let Some(id) = current {
        nodes[id].visits += 1;
        nodes[id].value += value;
        current = nodes[id].parent;
    }
}

/// FNV-1a of `text`: a stable per-question seed component.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unvisited_children_come_first_and_exploration_favours_the_less_visited() {
        assert_eq!(uct_score(0.0, 0, 10, 1.41), f64::INFINITY);
        let often = uct_score(5.0, 10, 20, 1.41);
        let rarely = uct_score(0.5, 1, 20, 1.41);
        assert!(rarely > often, "{rarely} vs {often}");
        // Without exploration only the mean value counts.
        assert!(uct_score(5.0, 10, 20, 0.0) < uct_score(0.6, 1, 20, 0.0));
    }

    #[test]
    fn answers_become_steps_finals_or_unformatted_text() {
        let step =
            Candidate::from_answer("Sub question 1: Who?\nSubSQL1: ```sql SELECT a FROM t```");
        assert_eq!(step.sub_question, "Who?");
        assert!(!step.is_final);
        assert_eq!(
            step.text(2),
            "Sub question 2: Who?\nSubSQL2: ```sql SELECT a FROM t ```\n"
        );
        let last = Candidate::from_answer("Final SQL: ```sql SELECT b FROM t```");
        assert!(last.is_final && last.sql == "SELECT b FROM t");
        let bare = Candidate::from_answer("SELECT c FROM t");
        assert!(bare.is_final);
        let garbage = Candidate::from_answer("I cannot help with that.");
        assert!(garbage.sql.is_empty());
        assert_eq!(garbage.text(1), "I cannot help with that.\n");
    }
}
