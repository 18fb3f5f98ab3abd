//! The receipt chain as an auditor reads it: every receipt of tenant acme through the admin
//! API, verified against the tenant's published keys.

use serde_json::Value;

/// Every receipt of tenant acme at `url`, page by page, read with the admin key.
pub async fn all_receipts(c: &reqwest::Client, url: &str, admin: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let r = c
            .get(format!("{url}/v1/receipts?after={after}&limit=1000"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let page: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(s, 200, "{page}");
        let rows = page["receipts"].as_array().unwrap().clone();
        if rows.is_empty() {
            return all;
        }
        after = page["next_after"].as_u64().unwrap();
        all.extend(rows);
    }
}

/// [`all_receipts`], after checking that they are one chain that verifies against acme's JWKS.
pub async fn verified_chain(c: &reqwest::Client, url: &str, admin: &str) -> Vec<Value> {
    let all = all_receipts(c, url, admin).await;
    let jwks = c
        .get(format!("{url}/v1/tenants/acme/jwks.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let jwks = intentrail_core::keys::Jwks::parse(&jwks).unwrap();
    let report = intentrail_core::receipt::verify_chain(&all, &jwks, None)
        .unwrap_or_else(|e| panic!("the chain does not verify: {e}"));
    assert_eq!(report.count as usize, all.len());
    all
}
