//! Receipt chains: seal, verify, and every tampering reported at the right seq.

use std::collections::HashMap;

use intentrail_core::receipt::{receipt_hash, verify_chain, ChainProblem, ChainReport};
use intentrail_core::{
    Downstream, ErrorKind, Jwks, Receipt, ReceiptKind, SigningKey, VerifyingKey, Via, GENESIS_PREV,
};
use serde_json::{json, Value};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x11; 32])
}

fn resolver() -> HashMap<String, VerifyingKey> {
    let k = key();
    HashMap::from([(k.kid().to_string(), k.verifying_key())])
}

fn receipt(seq: u64, prev: &str) -> Receipt {
    let execution = seq % 2 == 0;
    Receipt {
        id: format!("rcpt_{seq:04}"),
        seq,
        prev: prev.to_string(),
        ts: 1_700_000_000_000 + seq as i64 * 1000,
        tenant: "tenant-a".into(),
        agent: "agent-1".into(),
        kind: if execution {
            ReceiptKind::Execution
        } else {
            ReceiptKind::Decision
        },
        action: "money.refund".into(),
        decision: (!execution).then(|| "allow".to_string()),
        outcome: execution.then(|| "success".to_string()),
        code: None,
        reason: None,
        permit_id: Some(format!("permit-{seq}")),
        payload_hash: Some("sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU".into()),
        policy_hash: Some("sha256:policy".into()),
        profile_version: None,
        downstream: execution.then(|| Downstream {
            method: "POST".into(),
            url: "https://payments.example/v1/refunds".into(),
            status: Some(200),
            response_hash: Some("sha256:resp".into()),
            latency_ms: 42,
        }),
        via: None,
        kid: String::new(),
        hash: String::new(),
        sig: String::new(),
        batch: None,
    }
}

/// A sealed chain of `n` receipts, as the raw JSON an export holds.
fn chain_with(n: u64, key: &SigningKey) -> Vec<Value> {
    let mut prev = GENESIS_PREV.to_string();
    (1..=n)
        .map(|seq| {
            let mut r = receipt(seq, &prev);
            r.seal(key).expect("seal");
            prev = r.hash.clone();
            r.to_value().expect("json")
        })
        .collect()
}

fn chain(n: u64) -> Vec<Value> {
    chain_with(n, &key())
}

fn problem_at(receipts: &[Value]) -> (u64, ChainProblem) {
    let e = verify_chain(receipts, &resolver(), None).expect_err("must be refused");
    (e.seq, e.problem)
}

#[test]
fn a_sealed_chain_verifies() {
    let c = chain(10);
    let report = verify_chain(&c, &resolver(), None).expect("verifies");
    assert_eq!(
        report,
        ChainReport {
            count: 10,
            last_seq: 10,
            last_hash: c[9]["hash"].as_str().expect("hash").to_string()
        }
    );
    // The hash is over the JSON without hash and sig; sig is over the hash's ASCII bytes.
    assert_eq!(receipt_hash(&c[3]).expect("hash"), c[3]["hash"]);
    assert_eq!(c[0]["prev"], GENESIS_PREV);
    assert_eq!(c[1]["prev"], c[0]["hash"]);
    assert_eq!(c[1]["kind"], "execution");
    assert!(c[0].get("outcome").is_none(), "None fields are skipped");
    // Receipts deserialize back into the struct.
    let r: Receipt = serde_json::from_value(c[1].clone()).expect("typed");
    assert_eq!(r.seq, 2);
    // Via a JWKS as well.
    let jwks = Jwks::from_verifying_keys([&key().verifying_key()]).expect("jwks");
    verify_chain(&c, &jwks, None).expect("verifies with the JWKS");
}

#[test]
fn a_segment_verifies_from_a_start_point() {
    let c = chain(10);
    let start = (4, c[3]["hash"].as_str().expect("hash").to_string());
    let report = verify_chain(&c[4..], &resolver(), Some(start)).expect("verifies");
    assert_eq!((report.count, report.last_seq), (6, 10));
    // The wrong start hash breaks the link of the first receipt.
    let e = verify_chain(&c[4..], &resolver(), Some((4, GENESIS_PREV.into()))).expect_err("bad");
    assert_eq!((e.seq, e.problem), (5, ChainProblem::BrokenLink));
    // An empty segment reports its start.
    let empty = verify_chain(&[], &resolver(), None).expect("empty is fine");
    assert_eq!(
        (empty.count, empty.last_seq, empty.last_hash.as_str()),
        (0, 0, GENESIS_PREV)
    );
}

#[test]
fn an_edited_field_names_its_seq() {
    let mut c = chain(10);
    c[6]["action"] = json!("money.transfer");
    assert_eq!(problem_at(&c), (7, ChainProblem::Edited));
    let mut c = chain(10);
    c[3]["downstream"]["status"] = json!(500);
    assert_eq!(problem_at(&c), (4, ChainProblem::Edited));
    let e: intentrail_core::Error = verify_chain(&c, &resolver(), None)
        .expect_err("edited")
        .into();
    assert_eq!(e.kind(), ErrorKind::ReceiptInvalid);
    assert_eq!(e.detail(), "seq 4: edited");
}

#[test]
fn an_added_or_removed_field_is_an_edit() {
    let mut c = chain(10);
    c[2]["note"] = json!("added later");
    assert_eq!(problem_at(&c), (3, ChainProblem::Edited));
    let mut c = chain(10);
    c[5].as_object_mut().expect("object").remove("permit_id");
    assert_eq!(problem_at(&c), (6, ChainProblem::Edited));
}

#[test]
fn an_edit_with_a_recomputed_hash_fails_the_signature() {
    let mut c = chain(10);
    c[4]["agent"] = json!("agent-2");
    let h = receipt_hash(&c[4]).expect("hash");
    c[4]["hash"] = json!(h);
    // The next receipt's prev no longer matches, but the first bad seq is 5.
    assert_eq!(problem_at(&c), (5, ChainProblem::BadSignature));
}

#[test]
fn a_dropped_receipt_names_the_missing_seq() {
    let mut c = chain(10);
    c.remove(6);
    assert_eq!(problem_at(&c), (7, ChainProblem::Missing));
    let mut c = chain(10);
    c.remove(0);
    assert_eq!(problem_at(&c), (1, ChainProblem::Missing));
    // Dropping the tail cannot be seen without an expected count: the report says where the
    // chain ends, and the caller compares it with what it expects.
    let c = chain(10);
    let report = verify_chain(&c[..8], &resolver(), None).expect("a prefix verifies");
    assert_eq!(report.last_seq, 8);
}

#[test]
fn swapped_receipts_are_reordered() {
    let mut c = chain(10);
    c.swap(3, 4);
    assert_eq!(problem_at(&c), (4, ChainProblem::Reordered { found: 5 }));
    let mut c = chain(10);
    c.swap(2, 8);
    assert_eq!(problem_at(&c), (3, ChainProblem::Reordered { found: 9 }));
}

#[test]
fn a_repeated_receipt_is_a_duplicate() {
    let mut c = chain(10);
    let again = c[4].clone();
    c.insert(5, again);
    assert_eq!(problem_at(&c), (6, ChainProblem::Duplicate { found: 5 }));
}

#[test]
fn resigning_with_another_key_is_a_wrong_key() {
    // The attacker re-seals receipt 6 with its own key (kid and hash and sig all consistent).
    let mut c = chain(10);
    let attacker = SigningKey::from_bytes(&[0x66; 32]);
    let mut r: Receipt = serde_json::from_value(c[5].clone()).expect("typed");
    r.outcome = Some("downstream_error".into());
    r.seal(&attacker).expect("seal");
    c[5] = r.to_value().expect("json");
    assert_eq!(problem_at(&c), (6, ChainProblem::WrongKey));
    // A whole chain sealed by another key fails at seq 1.
    let other = chain_with(3, &attacker);
    assert_eq!(problem_at(&other), (1, ChainProblem::WrongKey));
    // Keeping our kid but signing with another key: bad signature.
    let mut c = chain(10);
    let forged = attacker.sign(c[5]["hash"].as_str().expect("hash").as_bytes());
    c[5]["sig"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        forged
    ));
    assert_eq!(problem_at(&c), (6, ChainProblem::BadSignature));
}

#[test]
fn malformed_receipts_are_reported_not_panicked_on() {
    let mut c = chain(3);
    c[1]["seq"] = json!("2");
    assert!(matches!(problem_at(&c), (2, ChainProblem::Malformed(_))));
    let mut c = chain(3);
    c[2] = json!([1, 2]);
    assert!(matches!(problem_at(&c), (3, ChainProblem::Malformed(_))));
    let mut c = chain(3);
    c[0]["sig"] = json!("not base64!");
    assert_eq!(problem_at(&c), (1, ChainProblem::BadSignature));
    let mut c = chain(3);
    c[0].as_object_mut().expect("object").remove("hash");
    assert!(matches!(problem_at(&c), (1, ChainProblem::Malformed(_))));
    // Removing kid changes what the hash covers: that is an edit first.
    let mut c = chain(3);
    c[0].as_object_mut().expect("object").remove("kid");
    assert_eq!(problem_at(&c), (1, ChainProblem::Edited));
}

#[test]
fn seal_refuses_numbers_beyond_2_pow_53() {
    let mut r = receipt(1, GENESIS_PREV);
    r.seq = 1 << 60;
    assert_eq!(
        r.seal(&key()).expect_err("unsafe integer").kind(),
        ErrorKind::InvalidJson
    );
}

/// A chain of `n` receipts signed in batches of the given sizes (as the ledger does once per
/// commit), as raw JSON.
fn batched_chain(sizes: &[usize]) -> Vec<Value> {
    let k = key();
    let mut prev = GENESIS_PREV.to_string();
    let mut seq = 0;
    let mut out = Vec::new();
    for &size in sizes {
        let mut group: Vec<Receipt> = (0..size)
            .map(|_| {
                seq += 1;
                let mut r = receipt(seq, &prev);
                r.seal_unsigned(k.kid()).expect("seal");
                prev = r.hash.clone();
                r
            })
            .collect();
        let hashes: Vec<&str> = group.iter().map(|r| r.hash.as_str()).collect();
        let (sig, proofs) = intentrail_core::batch::sign(&k, &hashes).expect("signed");
        for (r, p) in group.iter_mut().zip(proofs) {
            r.sig = sig.clone();
            r.batch = p;
        }
        out.extend(group.iter().map(|r| r.to_value().expect("json")));
    }
    out
}

#[test]
fn a_chain_signed_in_batches_verifies_and_each_receipt_verifies_alone() {
    let c = batched_chain(&[1, 5, 2, 1, 8]);
    let report = verify_chain(&c, &resolver(), None).expect("verifies");
    assert_eq!((report.count, report.last_seq), (17, 17));
    assert!(
        c[0].get("batch").is_none(),
        "a lone receipt is signed plainly"
    );
    assert_eq!(c[1]["batch"]["size"], 5);
    assert_eq!(c[1]["sig"], c[5]["sig"], "one signature per batch");
    // The hash does not cover the proof: the same receipt signed alone has the same hash.
    let mut alone = c[3].clone();
    alone.as_object_mut().expect("object").remove("batch");
    assert_eq!(receipt_hash(&alone).expect("hash"), c[3]["hash"]);
    // Every receipt verifies on its own, from its predecessor.
    for (i, r) in c.iter().enumerate() {
        let start = (i as u64, r["prev"].as_str().expect("prev").to_string());
        verify_chain(std::slice::from_ref(r), &resolver(), Some(start)).expect("alone");
    }
}

#[test]
fn a_tampered_batch_proof_or_signature_is_a_bad_signature() {
    let c = batched_chain(&[4, 4]);
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "proof dropped",
            Box::new(|r| drop(r.as_object_mut().map(|m| m.remove("batch")))),
        ),
        ("index moved", Box::new(|r| r["batch"]["index"] = json!(0))),
        ("size changed", Box::new(|r| r["batch"]["size"] = json!(5))),
        (
            "path node",
            Box::new(|r| r["batch"]["path"][0] = r["hash"].clone()),
        ),
        (
            "path short",
            Box::new(|r| drop(r["batch"]["path"].as_array_mut().map(Vec::pop))),
        ),
        (
            "extra member",
            Box::new(|r| r["batch"]["root"] = json!("sha256:x")),
        ),
        ("not an object", Box::new(|r| r["batch"] = json!([1, 2]))),
        ("other batch's sig", Box::new(|r| r["sig"] = json!("AAAA"))),
    ];
    for (what, edit) in cases {
        let mut t = c.clone();
        edit(&mut t[2]);
        assert_eq!(problem_at(&t), (3, ChainProblem::BadSignature), "{what}");
    }
    // The signature of the other batch, with this receipt's valid proof: still refused.
    let mut t = c.clone();
    t[2]["sig"] = c[5]["sig"].clone();
    assert_eq!(problem_at(&t), (3, ChainProblem::BadSignature));
    // A batch proof added to a plainly signed receipt: refused.
    let mut lone = batched_chain(&[1, 2]);
    lone[0]["batch"] = lone[1]["batch"].clone();
    assert_eq!(problem_at(&lone), (1, ChainProblem::BadSignature));
    // An edited field of a batched receipt is still an edit.
    let mut t = c.clone();
    t[6]["agent"] = json!("mallory");
    assert_eq!(problem_at(&t), (7, ChainProblem::Edited));
}

/// The direct canonical writer gives exactly the bytes of canonicalizing the receipt's JSON
/// without hash/sig/batch, for every combination of optional fields and awkward strings; a
/// field added to `Receipt` but not to the writer fails here (the all-fields case).
#[test]
fn the_direct_canonical_form_equals_the_json_one() {
    let texts = [
        "",
        "plain",
        "é ü \u{1F600} \u{E000}",
        "quote \" back \\ nl \n tab \t \u{1}",
        "</script>",
    ];
    for mask in 0u32..512 {
        let t = |i: usize| texts[(mask as usize + i) % texts.len()].to_string();
        let on = |bit: u32| mask & (1 << bit) != 0;
        let mut r = receipt(u64::from(mask) + 1, &t(0));
        r.kind = [
            ReceiptKind::Decision,
            ReceiptKind::Execution,
            ReceiptKind::Recovery,
        ][mask as usize % 3];
        r.agent = t(1);
        r.action = t(2);
        r.decision = on(0).then(|| t(3));
        r.outcome = on(1).then(|| t(4));
        r.code = on(2).then(|| t(0));
        r.reason = on(3).then(|| t(1));
        r.permit_id = on(4).then(|| t(2));
        r.payload_hash = on(5).then(|| t(3));
        r.policy_hash = on(6).then(|| t(4));
        r.profile_version = on(7).then(|| t(0));
        r.ts = if on(2) {
            -1_700_000_000_000
        } else {
            i64::from(mask)
        };
        r.downstream = on(8).then(|| Downstream {
            method: t(1),
            url: t(2),
            status: on(0).then_some(599),
            response_hash: on(1).then(|| t(3)),
            latency_ms: u64::from(mask) * 1000,
        });
        r.via = on(3).then(|| Via {
            protocol: t(2),
            session: on(4).then(|| t(3)),
            request: on(5).then(|| t(4)),
        });
        r.kid = t(4);
        r.hash = "ignored".into();
        r.sig = "ignored".into();
        let direct = r.canonical_unsigned().expect("canonical");
        let v = r.to_value().expect("json");
        let mut m = v.as_object().expect("object").clone();
        m.remove("hash");
        m.remove("sig");
        let via_json = intentrail_core::jcs::canonicalize(&Value::Object(m)).expect("jcs");
        assert_eq!(
            String::from_utf8_lossy(&direct),
            String::from_utf8_lossy(&via_json),
            "mask {mask}"
        );
        let mut sealed = r.clone();
        sealed.seal(&key()).expect("seal");
        assert_eq!(
            receipt_hash(&sealed.to_value().expect("json")).expect("hash"),
            sealed.hash
        );
    }
    // Out-of-range numbers are refused, as the JSON path refuses them.
    let mut r = receipt(1, GENESIS_PREV);
    r.seq = 1 << 53;
    assert_eq!(
        r.canonical_unsigned().expect_err("unsafe").kind(),
        ErrorKind::InvalidJson
    );
    r.seq = (1 << 53) - 1;
    r.ts = -(1 << 53);
    assert_eq!(
        r.seal(&key()).expect_err("unsafe").kind(),
        ErrorKind::InvalidJson
    );
}
