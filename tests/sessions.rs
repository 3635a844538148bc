//! Sessions on an instance, tried as a hostile client would: a person
//! holding several roles acts on another's interactions only where one of
//! her roles other than agent allows it; a change in the tenant's files
//! that changes her password, takes a role away or deletes her ends or
//! narrows her sessions at the next revision; log-ins checked against the
//! tenant's files are bounded; the authentication scheme is
//! case-insensitive.
//!
//! Waits are bounded polls; nothing is asserted after a sleep.

mod common;

use common::{Answer, Solution, spawn_instance};

// ---- The authentication scheme is case-insensitive (RFC 9110 §11.1) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let sales = spawn_instance(Solution::Sales).await;
    let token = sales.token_of("gateway").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let answer = Answer::of(
            sales
                .client
                .get(sales.url("/v1/scope"))
                .header(reqwest::header::AUTHORIZATION, format!("{scheme} {token}")),
            format!("GET /v1/scope with {scheme}"),
        )
        .await;
        assert_eq!(answer.status, 200, "{scheme}: {answer}");
    }
    for header in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        token.clone(),
        "Bearer".to_owned(),
    ] {
        let answer = Answer::of(
            sales
                .client
                .get(sales.url("/v1/scope"))
                .header(reqwest::header::AUTHORIZATION, &header),
            "GET /v1/scope",
        )
        .await;
        answer.assert_error(401, "unauthorized");
    }
}
