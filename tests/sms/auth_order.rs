//! Authorization before validation (issue 19): `send` and `bulk` are for service and admin
//! tokens; a user token posting a body of the wrong shape gets 403, not a 422 that
//! describes what the route accepts.

use hub_tests::assert_role_checked_before_body;
use serde_json::json;
use shared::auth::Role;

use crate::support::{BULK, Opts, SEND, fixture};

#[tokio::test]
async fn user_tokens_are_refused_before_the_body_is_read_on_send_and_bulk() {
    let fx = fixture(Opts::default()).await;
    let user = fx.hub.token("u-auth-order", Role::User);
    let service = fx.hub.token("svc-auth-order", Role::Service);
    let admin = fx.hub.admin();
    for allowed in [&service, &admin] {
        // Before the fix `send` read the body first: a user got 422 naming `message_type`.
        assert_role_checked_before_body(
            &fx.svc,
            SEND,
            &user,
            allowed,
            &json!({"receptor": "09123456789", "message_type": "fax"}),
            (422, "invalid_body", "message_type"),
        )
        .await;
        assert_role_checked_before_body(
            &fx.svc,
            BULK,
            &user,
            allowed,
            &json!({"receptors": "09123456789", "message": "hi"}),
            (422, "invalid_body", "receptors"),
        )
        .await;
    }
    // The right shape, a bad value: the route's own 400 naming the field, after the role.
    assert_role_checked_before_body(
        &fx.svc,
        SEND,
        &user,
        &service,
        &json!({"receptor": "12", "message_type": "text", "message": "hi"}),
        (400, "invalid_field", "receptor"),
    )
    .await;
}
