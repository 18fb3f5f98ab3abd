//! RFC 8785 against the external reference data in `tests/vectors/external/jcs` (cyberphone's test
//! data and a 20,000-line ECMAScript number table). Never edit a vector to pass.

mod common;

use intentrail_core::jcs;

#[test]
fn reference_files_canonicalize_to_the_exact_output_bytes() {
    let dir = common::external_vectors().join("jcs");
    let mut names: Vec<_> = std::fs::read_dir(dir.join("input"))
        .expect("jcs/input exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 6,
        "expected >= 6 jcs input files, found {}",
        names.len()
    );
    for input_path in &names {
        let name = input_path.file_name().expect("a file name");
        let input = std::fs::read(input_path).expect("read input");
        let mut expected = std::fs::read(dir.join("output").join(name))
            .unwrap_or_else(|e| panic!("no output for {name:?}: {e}"));
        // The reference outputs carry no trailing newline (checked when the vectors were
        // added). A canonical form never ends in one, so if a future copy of the files gains a
        // single `\n` it is a file artifact: strip exactly one, nothing else.
        if expected.last() == Some(&b'\n') {
            expected.pop();
        }
        let got =
            jcs::canonicalize_bytes(&input).unwrap_or_else(|e| panic!("{name:?} refused: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "{name:?}"
        );
        assert_eq!(got, expected, "{name:?} (bytes)");
        // Canonical output is a fixed point.
        assert_eq!(
            jcs::canonicalize_bytes(&got).expect("re-canonicalize"),
            got,
            "{name:?}"
        );
    }
}

#[test]
fn number_table_matches_ecmascript_for_every_line() {
    let path = common::external_vectors().join("jcs/numbers.txt");
    let text = std::fs::read_to_string(&path).expect("jcs/numbers.txt exists");
    let mut count = 0usize;
    let mut failures = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let (bits, expected) = line
            .split_once(',')
            .unwrap_or_else(|| panic!("line {}: no comma: {line:?}", i + 1));
        let bits = u64::from_str_radix(bits, 16)
            .unwrap_or_else(|e| panic!("line {}: bad hex {bits:?}: {e}", i + 1));
        let f = f64::from_bits(bits);
        assert!(
            f.is_finite(),
            "line {}: the table holds only finite values",
            i + 1
        );
        let got = jcs::format_number(f);
        if got != expected {
            failures.push(format!(
                "line {}: {bits:016x} -> {got}, want {expected}",
                i + 1
            ));
        }
        count += 1;
    }
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert_eq!(count, 20_000, "expected 20,000 lines");
}
