//! Every case of Wycheproof `ed25519_test.json` (C2SP/wycheproof, `testvectors_v1`, commit
//! dac1dd4) through `permit::verify_ed25519`, the very signature check `permit::verify` uses:
//! `valid` must be accepted, `invalid` rejected.

mod common;

use intentrail_core::permit::verify_ed25519;
use intentrail_core::ErrorKind;
use serde_json::Value;

#[test]
fn every_wycheproof_case_gets_its_expected_result() {
    let path = common::external_vectors().join("wycheproof/ed25519_test.json");
    let text = std::fs::read(&path).expect("wycheproof/ed25519_test.json exists");
    let doc: Value = serde_json::from_slice(&text).expect("valid JSON");
    let declared = doc["numberOfTests"].as_u64().expect("numberOfTests");
    let groups = doc["testGroups"].as_array().expect("testGroups");
    let (mut valid, mut invalid) = (0usize, 0usize);
    let mut wrong = Vec::new();
    for g in groups {
        let pk = common::hex(g["publicKey"]["pk"].as_str().expect("publicKey.pk"));
        for t in g["tests"].as_array().expect("tests") {
            let id = t["tcId"].as_u64().expect("tcId");
            let msg = common::hex(t["msg"].as_str().expect("msg"));
            let sig = common::hex(t["sig"].as_str().expect("sig"));
            let got = verify_ed25519(&pk, &msg, &sig);
            match t["result"].as_str().expect("result") {
                "valid" => {
                    valid += 1;
                    if let Err(e) = got {
                        wrong.push(format!("tc {id} valid but rejected: {e}"));
                    }
                }
                "invalid" => {
                    invalid += 1;
                    match got {
                        Ok(()) => {
                            wrong.push(format!("tc {id} invalid but accepted ({})", t["comment"]))
                        }
                        Err(e) => assert_eq!(e.kind(), ErrorKind::PermitInvalid),
                    }
                }
                other => panic!(
                    "tc {id}: unexpected result {other:?} (acceptable cases would need a decision)"
                ),
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(
        (valid + invalid) as u64,
        declared,
        "case count differs from numberOfTests"
    );
    assert!(valid + invalid > 100, "only {} cases", valid + invalid);
    assert!(valid > 0 && invalid > 0);
}
