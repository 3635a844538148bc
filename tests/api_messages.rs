//! What the instance's API says when it refuses a request: the thing at
//! fault, in plain words.

mod common;

use common::{Solution, gateway, spawn_instance};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_of_another_solution_is_told_she_is_not_an_agent_here() {
    let sales = spawn_instance(Solution::Sales).await;
    let email = gateway("sales-email", "inbound");

    // bea works for support; she sends no `agent` field.
    let bea = sales.token_of("bea").await;
    let refused = sales.submit_with(&bea, &email).await;
    refused.assert_error(403, "forbidden");
    assert_eq!(refused.field(), None, "{refused}");
    assert_eq!(
        refused.body["error"]["message"],
        "'bea' is not an agent of this instance ('sales'): only its own agents submit into \
         their own hands",
        "{refused}"
    );

    // anna works for sales: her submission starts in her hands.
    let anna = sales.token_of("anna").await;
    let taken = sales.submit_with(&anna, &email).await;
    assert_eq!(taken.status, 201, "{taken}");
    assert_eq!(
        (&taken.body["state"], &taken.body["agent"]),
        (&json!("handling"), &json!("anna"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_of_the_wrong_type_says_what_it_must_be() {
    let sales = spawn_instance(Solution::Sales).await;
    let mut email = gateway("sales-email", "inbound");
    for (value, message) in [
        (json!("high"), "field 'priority': must be an integer"),
        (json!(true), "field 'priority': must be an integer"),
    ] {
        email["priority"] = value;
        let refused = sales.submit(&email).await;
        refused.assert_error(422, "invalid_field");
        assert_eq!(refused.field(), Some("priority"), "{refused}");
        assert_eq!(refused.body["error"]["message"], message, "{refused}");
    }
    email["priority"] = json!(1);
    email["properties"] = json!(["not", "an", "object"]);
    let refused = sales.submit(&email).await;
    refused.assert_error(422, "invalid_field");
    assert_eq!(
        refused.body["error"]["message"], "field 'properties': must be an object",
        "{refused}"
    );
}
