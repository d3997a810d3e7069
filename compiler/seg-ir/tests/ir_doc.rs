//! The example of docs/ir.md is a real program: it deserialises and
//! serialises back to the same JSON, and its expectations hold.

use seg_ir::eval::decide;
use seg_ir::{Action, Program};

fn example() -> serde_json::Value {
    let doc = include_str!("../../../docs/ir.md");
    let start = doc.find("```json\n").expect("docs/ir.md has a json block") + "```json\n".len();
    let end = start + doc[start..].find("```").expect("closed block");
    serde_json::from_str(&doc[start..end]).expect("the example is valid JSON")
}

#[test]
fn the_documented_example_round_trips() {
    let file = example();
    assert_eq!(file["schema"], "seg-ir/1");
    let program: Program = serde_json::from_value(file["program"].clone()).expect("a Program");
    assert_eq!(
        serde_json::to_value(&program).expect("serialises"),
        file["program"]
    );
    for (i, r) in program.rules.iter().enumerate() {
        assert_eq!(r.id.0 as usize, i);
    }
    for e in program.tests.iter().flat_map(|t| &t.expectations) {
        assert_eq!(
            decide(&program, &e.flow).allowed,
            e.decision == Action::Allow,
            "line {}",
            e.line
        );
    }
}
