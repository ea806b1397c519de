//! Property tests: logical and content path checks accept exactly the specification's
//! grammar (E051-E053, E098-E100): one or more elements joined by `/`, no element empty,
//! `.` or `..`, hence no leading or trailing `/`.

use ocfl_core::path::{ContentPath, LogicalPath, check_path};
use proptest::prelude::*;

/// Elements, valid and not: the generator builds paths from these so that every rule is
/// exercised often, and computes the expected verdict from the elements alone.
fn element() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 _.~%:=é-]{1,8}",
        1 => Just(String::new()),
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just("...".to_owned()),
        1 => Just(".hidden".to_owned()),
    ]
}

fn element_is_valid(e: &str) -> bool {
    !e.is_empty() && e != "." && e != ".."
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn joined_elements_are_valid_iff_every_element_is(elements in prop::collection::vec(element(), 1..6)) {
        let path = elements.join("/");
        let expected = elements.iter().all(|e| element_is_valid(e));
        prop_assert_eq!(check_path(&path).is_ok(), expected, "{:?}", path);
        prop_assert_eq!(LogicalPath::new(path.clone()).is_ok(), expected);
        prop_assert_eq!(ContentPath::new(path.clone()).is_ok(), expected);
        if expected {
            let parsed = LogicalPath::new(path.clone()).expect("valid");
            prop_assert_eq!(parsed.elements().collect::<Vec<_>>(), elements.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    #[test]
    fn any_string_is_judged_by_its_split(path in "[a/.]{0,12}|\\PC{0,16}") {
        // The grammar restated directly: split on '/', every piece a valid element.
        let expected = path.split('/').all(element_is_valid);
        prop_assert_eq!(check_path(&path).is_ok(), expected, "{:?}", path);
    }

    #[test]
    fn a_valid_path_with_a_slash_added_at_either_end_is_invalid(elements in prop::collection::vec("[a-z]{1,4}", 1..4)) {
        let path = elements.join("/");
        prop_assert!(check_path(&path).is_ok());
        let leading = format!("/{path}");
        let trailing = format!("{path}/");
        prop_assert!(check_path(&leading).is_err());
        prop_assert!(check_path(&trailing).is_err());
    }
}
