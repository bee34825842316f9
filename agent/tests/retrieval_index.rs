//! The demonstration index end to end: build over a small pool, open from disk, retrieve with
//! exclusion, adaptive k and re-ranks; clear errors for bad pools and bad index directories;
//! and one check over the real Spider train pool.

use std::path::Path;

use learnat_agent::AgentError;
use learnat_agent::retrieval::{
    DemoStep, Demonstration, DemonstrationIndex, KChoice, Rerank, RetrievalQuery, SchemaWords,
    load_pool, remove_index_dir,
};

fn demo(id: &str, db_id: &str, question: &str, sql: &str) -> Demonstration {
    Demonstration {
        id: id.to_string(),
        db_id: db_id.to_string(),
        question: question.to_string(),
        sql: sql.to_string(),
        steps: Vec::new(),
    }
}

/// Three small databases; questions of the same kind over different schemas.
fn small_pool() -> (Vec<Demonstration>, SchemaWords) {
    let mut pool = vec![
        demo(
            "p1",
            "pets",
            "How many pets are older than 3?",
            "SELECT count(*) FROM pets WHERE age > 3",
        ),
        demo(
            "p2",
            "pets",
            "List the names of all pets ordered by weight.",
            "SELECT name FROM pets ORDER BY weight",
        ),
        demo(
            "p3",
            "pets",
            "Which pet type has the most pets?",
            "SELECT pet_type FROM pets GROUP BY pet_type ORDER BY count(*) DESC LIMIT 1",
        ),
        demo(
            "s1",
            "school",
            "How many students are older than 20?",
            "SELECT count(*) FROM students WHERE age > 20",
        ),
        demo(
            "s2",
            "school",
            "List the names of all students ordered by grade.",
            "SELECT name FROM students ORDER BY grade",
        ),
        demo(
            "s3",
            "school",
            "Which class has the most students?",
            "SELECT class FROM students GROUP BY class ORDER BY count(*) DESC LIMIT 1",
        ),
        demo(
            "c1",
            "cars",
            "How many cars are older than 10?",
            "SELECT count(*) FROM cars WHERE age > 10",
        ),
        demo(
            "c2",
            "cars",
            "What are the names of makers that build more than 3 cars and are in Europe, \
             together with the average price of their cars?",
            "SELECT T1.name, avg(T2.price) FROM makers AS T1 JOIN cars AS T2 ON T1.id = T2.maker \
             WHERE T1.continent = 'Europe' GROUP BY T1.id HAVING count(*) > 3",
        ),
    ];
    pool[2].steps = vec![DemoStep {
        sub_question: "How many pets has each pet type?".into(),
        sql: "SELECT pet_type, count(*) FROM pets GROUP BY pet_type".into(),
    }];
    let mut schemas = SchemaWords::empty();
    let names = |list: &[&str]| list.iter().map(|name| name.to_string()).collect();
    schemas.insert(
        "pets",
        names(&["pets", "age", "name", "weight", "pet_type"]),
    );
    schemas.insert(
        "school",
        names(&["students", "age", "name", "grade", "class"]),
    );
    schemas.insert(
        "cars",
        names(&[
            "cars",
            "makers",
            "age",
            "name",
            "price",
            "continent",
            "maker",
            "id",
        ]),
    );
    (pool, schemas)
}

fn ids(retrieved: &[learnat_agent::retrieval::Retrieved]) -> Vec<&str> {
    retrieved
        .iter()
        .map(|item| item.demonstration.id.as_str())
        .collect()
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|word| word.to_string()).collect()
}

#[test]
fn build_open_round_trip_keeps_demonstrations_and_manifest() {
    let (pool, schemas) = small_pool();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let built = DemonstrationIndex::build(&pool, &schemas, &path).unwrap();
    assert_eq!(built.len(), pool.len());
    let manifest = built.manifest().clone();
    assert_eq!(manifest.demonstrations, 8);
    assert_eq!(manifest.databases, 3);
    assert_eq!(manifest.masked_with_schema, 8);
    assert_eq!(manifest.with_steps, 1);
    assert_eq!(manifest.unparsable_sql, 0);
    assert!(manifest.embedding.is_none());
    drop(built);

    let opened = DemonstrationIndex::open(&path).unwrap();
    assert_eq!(opened.manifest(), &manifest);
    let results = opened
        .retrieve(&RetrievalQuery {
            k: KChoice::Fixed(8),
            rerank: Rerank::Bm25,
            ..RetrievalQuery::new("Which pet type has the most pets?")
        })
        .unwrap();
    // Not in evaluation mode: the identical question is allowed, and comes first, with its steps.
    assert_eq!(results[0].demonstration, pool[2]);
    assert_eq!(results[0].score, 1.0);
    assert!(
        results
            .windows(2)
            .all(|pair| pair[0].score >= pair[1].score)
    );
}

#[test]
fn masked_questions_match_across_databases() {
    let (pool, schemas) = small_pool();
    let dir = tempfile::tempdir().unwrap();
    let index = DemonstrationIndex::build(&pool, &schemas, &dir.path().join("index")).unwrap();
    // A fourth database: "singers" and "age" are its names, masked like the pool's.
    let names = words(&["singers", "age", "name"]);
    let results = index
        .retrieve(&RetrievalQuery {
            schema_words: &names,
            k: KChoice::Fixed(3),
            rerank: Rerank::Bm25,
            ..RetrievalQuery::new("How many singers are older than 40?")
        })
        .unwrap();
    let found = ids(&results);
    for expected in ["p1", "s1", "c1"] {
        assert!(found.contains(&expected), "{found:?}");
    }
}

#[test]
fn evaluation_excludes_the_database_the_ids_and_the_question_itself() {
    let (mut pool, schemas) = small_pool();
    // The same question under another id and database: excluded by text in evaluation.
    pool.push(demo(
        "copy",
        "cars",
        "How many pets are older than 3?",
        "SELECT count(*) FROM cars WHERE age > 3",
    ));
    let dir = tempfile::tempdir().unwrap();
    let index = DemonstrationIndex::build(&pool, &schemas, &dir.path().join("index")).unwrap();
    let names = schemas.get("pets").to_vec();
    let excluded = words(&["c1"]);
    let results = index
        .retrieve(&RetrievalQuery {
            schema_words: &names,
            exclude_db: Some("pets"),
            exclude_ids: &excluded,
            k: KChoice::Fixed(10),
            ..RetrievalQuery::new("How many pets are older than 3?")
        })
        .unwrap();
    assert!(!results.is_empty());
    for item in &results {
        assert_ne!(item.demonstration.db_id, "pets", "{:?}", ids(&results));
        assert_ne!(item.demonstration.id, "c1");
        assert_ne!(item.demonstration.id, "copy");
    }
    assert_eq!(results[0].demonstration.id, "s1", "{:?}", ids(&results));
}

#[test]
fn identical_question_texts_are_returned_once() {
    let (mut pool, schemas) = small_pool();
    pool.push(demo(
        "s1-again",
        "school",
        "how many students are older than 20",
        "SELECT count(*) FROM students WHERE age > 20",
    ));
    let dir = tempfile::tempdir().unwrap();
    let index = DemonstrationIndex::build(&pool, &schemas, &dir.path().join("index")).unwrap();
    let results = index
        .retrieve(&RetrievalQuery {
            k: KChoice::Fixed(9),
            ..RetrievalQuery::new("How many students are older than 20?")
        })
        .unwrap();
    let found = ids(&results);
    assert_eq!(
        found.iter().filter(|id| id.starts_with("s1")).count(),
        1,
        "{found:?}"
    );
}

#[test]
fn adaptive_k_gives_fewer_for_simple_questions() {
    let (pool, schemas) = small_pool();
    let dir = tempfile::tempdir().unwrap();
    let index = DemonstrationIndex::build(&pool, &schemas, &dir.path().join("index")).unwrap();
    let adaptive = KChoice::Adaptive { max: 5 };
    // Words from every demonstration, so that all eight are candidates.
    let question = "How many are older, what are the names of all, which has the most?";
    let easy = index
        .retrieve(&RetrievalQuery {
            k: adaptive,
            sql_hint: Some("SELECT count(*) FROM singer"),
            ..RetrievalQuery::new(question)
        })
        .unwrap();
    let extra = index
        .retrieve(&RetrievalQuery {
            k: adaptive,
            sql_hint: Some(
                "SELECT T1.name, avg(T2.price) FROM a AS T1 JOIN b AS T2 ON T1.id = T2.a \
                 WHERE T1.x = 'y' GROUP BY T1.id HAVING count(*) > 3 ORDER BY avg(T2.price) \
                 DESC LIMIT 3",
            ),
            ..RetrievalQuery::new(question)
        })
        .unwrap();
    assert_eq!(easy.len(), 2);
    assert_eq!(extra.len(), 5);
    // Without a draft the neighbours decide: "How many ... older than" finds easy count queries.
    let from_neighbours = index
        .retrieve(&RetrievalQuery {
            k: adaptive,
            ..RetrievalQuery::new("How many students are older than 20?")
        })
        .unwrap();
    assert!(from_neighbours.len() <= 3, "{:?}", ids(&from_neighbours));
}

#[test]
fn draft_sql_skeleton_reranks_and_ranking_is_deterministic() {
    let (pool, schemas) = small_pool();
    let dir = tempfile::tempdir().unwrap();
    let index = DemonstrationIndex::build(&pool, &schemas, &dir.path().join("index")).unwrap();
    let question = "Which class has the most students?";
    let plain = index
        .retrieve(&RetrievalQuery {
            k: KChoice::Fixed(4),
            rerank: Rerank::Bm25,
            exclude_db: Some("school"),
            ..RetrievalQuery::new(question)
        })
        .unwrap();
    let hinted_query = RetrievalQuery {
        k: KChoice::Fixed(4),
        rerank: Rerank::Skeleton,
        exclude_db: Some("school"),
        sql_hint: Some("SELECT x FROM t GROUP BY x ORDER BY count(*) DESC LIMIT 1"),
        ..RetrievalQuery::new(question)
    };
    let hinted = index.retrieve(&hinted_query).unwrap();
    assert_eq!(hinted[0].demonstration.id, "p3", "{:?}", ids(&hinted));
    assert_eq!(hinted[0].skeleton_similarity, Some(1.0));
    assert!(plain.iter().all(|item| item.skeleton_similarity.is_none()));
    // Same index, same query: same list, same scores; and the same after reopening.
    assert_eq!(index.retrieve(&hinted_query).unwrap(), hinted);
    drop(index);
    let reopened = DemonstrationIndex::open(&dir.path().join("index")).unwrap();
    assert_eq!(reopened.retrieve(&hinted_query).unwrap(), hinted);
}

#[test]
fn hybrid_without_embeddings_is_a_clear_error() {
    let (pool, schemas) = small_pool();
    let dir = tempfile::tempdir().unwrap();
    let index = DemonstrationIndex::build(&pool, &schemas, &dir.path().join("index")).unwrap();
    let error = index
        .retrieve(&RetrievalQuery {
            rerank: Rerank::Hybrid,
            ..RetrievalQuery::new("How many pets?")
        })
        .unwrap_err()
        .to_string();
    assert!(error.contains("--embed"), "{error}");
    assert!(!index.supports_hybrid());
}

#[test]
fn a_question_without_searchable_words_finds_nothing() {
    let (pool, schemas) = small_pool();
    let dir = tempfile::tempdir().unwrap();
    let index = DemonstrationIndex::build(&pool, &schemas, &dir.path().join("index")).unwrap();
    assert!(
        index
            .retrieve(&RetrievalQuery::new("?!"))
            .unwrap()
            .is_empty()
    );
    let zero = RetrievalQuery {
        k: KChoice::Fixed(0),
        ..RetrievalQuery::new("How many pets?")
    };
    assert!(index.retrieve(&zero).unwrap().is_empty());
}

#[test]
fn building_into_a_non_empty_directory_is_refused() {
    let (pool, schemas) = small_pool();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    DemonstrationIndex::build(&pool, &schemas, &path).unwrap();
    let error = DemonstrationIndex::build(&pool, &schemas, &path).unwrap_err();
    assert!(matches!(error, AgentError::Index { .. }));
    assert!(error.to_string().contains("--force"), "{error}");
    // An index may be removed and rebuilt; no staging directory is left behind.
    remove_index_dir(&path).unwrap();
    DemonstrationIndex::build(&pool, &schemas, &path).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["index"]);
    // Duplicate ids are refused before anything is written.
    let mut duplicated = pool.clone();
    duplicated.push(pool[0].clone());
    let error = DemonstrationIndex::build(&duplicated, &schemas, &dir.path().join("other"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("'p1' twice"), "{error}");
}

#[test]
fn opening_a_missing_or_corrupt_index_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = DemonstrationIndex::open(&dir.path().join("absent"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("not found") && missing.contains("learnat index build"),
        "{missing}"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let not_index = DemonstrationIndex::open(&empty).unwrap_err().to_string();
    assert!(
        not_index.contains("not a learnat demonstration index"),
        "{not_index}"
    );

    let (pool, schemas) = small_pool();
    let path = dir.path().join("index");
    DemonstrationIndex::build(&pool, &schemas, &path).unwrap();
    let manifest = path.join("learnat-index.json");
    let original = std::fs::read_to_string(&manifest).unwrap();

    std::fs::write(&manifest, "{ not json").unwrap();
    let corrupt = DemonstrationIndex::open(&path).unwrap_err().to_string();
    assert!(
        corrupt.contains("corrupt") && corrupt.contains("rebuild"),
        "{corrupt}"
    );

    // The manifest promises more demonstrations than the tantivy index holds.
    std::fs::write(
        &manifest,
        original.replace("\"demonstrations\": 8", "\"demonstrations\": 9"),
    )
    .unwrap();
    let mismatch = DemonstrationIndex::open(&path).unwrap_err().to_string();
    assert!(
        mismatch.contains("demonstration 8 is missing"),
        "{mismatch}"
    );

    // The tantivy files are gone.
    std::fs::write(&manifest, &original).unwrap();
    std::fs::remove_dir_all(path.join("tantivy")).unwrap();
    std::fs::create_dir(path.join("tantivy")).unwrap();
    let broken = DemonstrationIndex::open(&path).unwrap_err();
    assert!(matches!(broken, AgentError::Index { .. }), "{broken}");
    assert!(broken.to_string().contains("rebuild"), "{broken}");
}

#[test]
fn bad_pool_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pool.jsonl");
    let good = r#"{"id": "a", "db_id": "d", "question": "How many?", "sql": "SELECT 1", "steps": [{"sub_question": "s", "sql": "SELECT 1"}]}"#;
    std::fs::write(
        &path,
        format!("{good}\n{{\"id\": \"b\", \"db_id\": \"d\"\n"),
    )
    .unwrap();
    let error = load_pool(&path).unwrap_err();
    assert!(
        matches!(error, AgentError::Pool { line: Some(2), .. }),
        "{error}"
    );
    assert!(error.to_string().contains("line 2"), "{error}");

    std::fs::write(
        &path,
        format!(
            "{good}\n{}\n",
            good.replace("\"a\"", "\"b\"").replace("How many?", " ")
        ),
    )
    .unwrap();
    let empty_question = load_pool(&path).unwrap_err().to_string();
    assert!(
        empty_question.contains("line 2") && empty_question.contains("'question' is empty"),
        "{empty_question}"
    );

    std::fs::write(&path, format!("{good}\n\n")).unwrap();
    let pool = load_pool(&path).unwrap();
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0].steps.len(), 1);

    std::fs::write(&path, "\n").unwrap();
    let nothing = load_pool(&path).unwrap_err().to_string();
    assert!(nothing.contains("no demonstrations"), "{nothing}");
    let absent = load_pool(&dir.path().join("absent.jsonl")).unwrap_err();
    assert!(matches!(absent, AgentError::Io { .. }), "{absent}");
}

#[test]
fn spider_train_pool_retrieves_same_shape_demonstrations() {
    let Some(data) = learnat_tools::shared_data::shared_data_or_skip(
        "spider_train_pool_retrieves_same_shape_demonstrations",
    ) else {
        return;
    };
    let spider = data.join("spider");
    let pool = load_pool(&spider.join("train_spider_min.json")).unwrap();
    assert_eq!(pool.len(), 7000);
    assert_eq!(pool[0].id, "train_spider_min#0");
    let schemas = SchemaWords::from_spider_tables(&spider.join("tables.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let index = DemonstrationIndex::build(&pool, &schemas, &dir.path().join("spider")).unwrap();
    assert_eq!(index.manifest().masked_with_schema, 7000);
    // Two train queries sqlparser rejects (documented in tools/src/sql.rs).
    assert!(
        index.manifest().unparsable_sql <= 2,
        "{:?}",
        index.manifest()
    );

    // A dev question: concert_singer is not a train database.
    let names = schemas.get("concert_singer").to_vec();
    let results = index
        .retrieve(&RetrievalQuery {
            schema_words: &names,
            exclude_db: Some("concert_singer"),
            k: KChoice::Fixed(5),
            ..RetrievalQuery::new("How many singers do we have?")
        })
        .unwrap();
    assert_eq!(results.len(), 5);
    let count_queries = results
        .iter()
        .filter(|item| {
            learnat_tools::sql::skeleton(&item.demonstration.sql, learnat_tools::Dialect::Sqlite)
                .map(|skeleton| skeleton == "SELECT count(*) FROM _")
                .unwrap_or(false)
        })
        .count();
    assert!(count_queries >= 3, "{:#?}", results);
    // Exclusion holds on the real pool: ask with a train database excluded.
    let names = schemas.get("department_management").to_vec();
    let excluded = index
        .retrieve(&RetrievalQuery {
            schema_words: &names,
            exclude_db: Some("department_management"),
            k: KChoice::Fixed(20),
            ..RetrievalQuery::new("How many heads of the departments are older than 56 ?")
        })
        .unwrap();
    assert!(
        excluded
            .iter()
            .all(|item| item.demonstration.db_id != "department_management")
    );
    let _ = Path::new("");
}
