//! Published Ed25519 / JOSE examples reproduced byte for byte.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use intentrail_core::keys::{kid_for, Jwks, SigningKey};
use intentrail_core::permit::verify_ed25519;

/// RFC 8032 §7.1, "TEST 1": the secret key, its public key, and the signature of the empty
/// message.
const RFC8032_T1_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_T1_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_T1_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

fn seed(hex: &str) -> [u8; 32] {
    common::hex(hex).try_into().expect("32 bytes")
}

#[test]
fn rfc8032_test1_sign_and_verify() {
    let key = SigningKey::from_bytes(&seed(RFC8032_T1_SECRET));
    assert_eq!(
        key.verifying_key().as_bytes().to_vec(),
        common::hex(RFC8032_T1_PUBLIC)
    );
    let sig = key.sign(b"");
    assert_eq!(sig.to_vec(), common::hex(RFC8032_T1_SIG));
    verify_ed25519(&common::hex(RFC8032_T1_PUBLIC), b"", &sig).expect("verifies");
    // One flipped bit anywhere fails.
    let mut bad = sig;
    bad[10] ^= 1;
    assert!(verify_ed25519(&common::hex(RFC8032_T1_PUBLIC), b"", &bad).is_err());
    assert!(verify_ed25519(&common::hex(RFC8032_T1_PUBLIC), b"x", &sig).is_err());
}

/// RFC 8037 Appendix A: A.1 private key (`d`), A.2 public key (`x`), A.3 its RFC 7638
/// thumbprint, A.4 the JWS of "Example of Ed25519 signing" with header `{"alg":"EdDSA"}`.
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
const RFC8037_SIGNING_INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
const RFC8037_SIG: &str =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

#[test]
fn rfc8037_appendix_a_key_thumbprint_and_signature() {
    let d: [u8; 32] = URL_SAFE_NO_PAD
        .decode(RFC8037_D)
        .expect("b64")
        .try_into()
        .expect("32 bytes");
    let key = SigningKey::from_bytes(&d);
    assert_eq!(
        URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
        RFC8037_X
    );
    assert_eq!(kid_for(&key.verifying_key()), RFC8037_THUMBPRINT);
    assert_eq!(key.kid(), RFC8037_THUMBPRINT);
    // A.4: the signing input is the header and payload as published.
    assert_eq!(
        RFC8037_SIGNING_INPUT,
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA"}"#),
            URL_SAFE_NO_PAD.encode(b"Example of Ed25519 signing")
        )
    );
    let sig = key.sign(RFC8037_SIGNING_INPUT.as_bytes());
    assert_eq!(URL_SAFE_NO_PAD.encode(sig), RFC8037_SIG);
    verify_ed25519(
        key.verifying_key().as_bytes(),
        RFC8037_SIGNING_INPUT.as_bytes(),
        &URL_SAFE_NO_PAD.decode(RFC8037_SIG).expect("b64"),
    )
    .expect("verifies");
    // A.2 as a JWKS member (our JWK adds kid, alg, use).
    let jwks = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","kid":"{RFC8037_THUMBPRINT}"}}]}}"#
    );
    let set = Jwks::parse(jwks.as_bytes()).expect("the RFC key parses");
    assert_eq!(set.keys()[0].verifying_key(), key.verifying_key());
}
