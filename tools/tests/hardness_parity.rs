//! Spider hardness parity: our label of every Spider dev gold query must equal the official
//! `evaluation.py` label in `parity/spider_dev_hardness.txt` (line N = item N-1 of `dev.json`).

use learnat_tools::hardness::{Hardness, hardness_components, spider_hardness};
use learnat_tools::shared_data::shared_data_or_skip;

#[test]
fn spider_dev_hardness_matches_the_official_labels() {
    let Some(data) = shared_data_or_skip("spider_dev_hardness_matches_the_official_labels") else {
        return;
    };
    let dev_text = std::fs::read_to_string(data.join("spider/dev.json")).expect("read dev.json");
    let dev: Vec<serde_json::Value> = serde_json::from_str(&dev_text).expect("parse dev.json");
    let labels_text = std::fs::read_to_string(data.join("parity/spider_dev_hardness.txt"))
        .expect("read spider_dev_hardness.txt");
    let labels: Vec<Hardness> = labels_text
        .lines()
        .map(|line| line.parse().expect("hardness label"))
        .collect();
    assert_eq!(dev.len(), 1034, "Spider dev has 1034 questions");
    assert_eq!(labels.len(), dev.len(), "one label per dev question");

    let mut disagreements = Vec::new();
    for (item, (entry, expected)) in dev.iter().zip(&labels).enumerate() {
        let sql = entry["query"].as_str().expect("query field");
        match spider_hardness(sql) {
            Ok(level) if level == *expected => {}
            Ok(level) => disagreements.push(format!(
                "item {item}: official {expected}, ours {level} {:?}: {sql}",
                hardness_components(sql).ok()
            )),
            Err(error) => disagreements.push(format!("item {item}: {error}")),
        }
    }
    eprintln!(
        "Spider dev hardness: {} of {} agree with the official labels",
        dev.len() - disagreements.len(),
        dev.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} disagree:\n{}",
        disagreements.len(),
        dev.len(),
        disagreements.join("\n")
    );
}
