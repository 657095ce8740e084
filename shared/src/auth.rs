//! JWT bearer authentication (HS256) with the roles `admin`, `service` and `user`.
//!
//! The signing secret lives in Secrets Manager (`{prefix}/jwt`) and is read once at cold
//! start. Only HS256 is accepted: a token whose header says `none` or any other algorithm is
//! rejected before its signature is looked at, which closes the classic algorithm-confusion
//! holes.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages providers, credentials, webhooks and rules.
    Admin,
    /// A trusted back-end service (may act for any user).
    Service,
    /// An end user (acts for itself only).
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Service => "service",
            Role::User => "user",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub role: Role,
}

impl Caller {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(format!(
                "this action needs the role {}; the token has {}",
                wanted.join(" or "),
                self.role.as_str()
            )))
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require(&[Role::Admin])
    }

    /// Admins and services may act on any user; a user only on itself.
    pub fn can_act_for(&self, user_id: &str) -> bool {
        matches!(self.role, Role::Admin | Role::Service) || self.user_id == user_id
    }
}

/// Verifies bearer tokens. Built once per cold start.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtVerifier { .. }")
    }
}

impl JwtVerifier {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => Ok(Caller {
                user_id: data.claims.sub,
                role: data.claims.role,
            }),
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("token_expired", "the bearer token has expired")
                }
                ErrorKind::InvalidSignature => ApiError::unauthorized(
                    "invalid_token",
                    "the bearer token's signature is not valid",
                ),
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    ApiError::unauthorized(
                        "invalid_token",
                        "the bearer token must be signed with HS256",
                    )
                }
                ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => ApiError::unauthorized(
                    "invalid_token",
                    "the bearer token's claims are incomplete: it needs sub, role (admin, service or user) and exp",
                ),
                _ => ApiError::unauthorized("invalid_token", "the bearer token is malformed"),
            }),
        }
    }
}

/// Mints a token: used by `make token`, the tests and the benches. Not used by any route.
pub fn issue_token(secret: &[u8], user_id: &str, role: Role, ttl_secs: u64) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        sub: user_id.to_string(),
        role,
        exp: now + ttl_secs,
        iat: now,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 encoding cannot fail")
}

/// A router state that can verify tokens.
pub trait AuthState {
    fn jwt_verifier(&self) -> &JwtVerifier;
}

impl<T: AuthState> AuthState for Arc<T> {
    fn jwt_verifier(&self) -> &JwtVerifier {
        (**self).jwt_verifier()
    }
}

/// The bearer token's caller, or a 401 problem.
impl<S> FromRequestParts<S> for Caller
where
    S: AuthState + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = state.jwt_verifier();
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing_token",
                    "this route needs an Authorization: Bearer <token> header",
                )
            })?;
        let value = header.to_str().map_err(|_| {
            ApiError::unauthorized(
                "invalid_token",
                "the Authorization header is not valid text",
            )
        })?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing_token",
                    "the Authorization header must use the Bearer scheme",
                )
            })?;
        verifier.verify(token.trim())
    }
}

/// `Option<Caller>`: `None` without an Authorization header; a present but bad token is
/// still a 401 (a client that sends a token expects it to count).
impl<S> axum::extract::OptionalFromRequestParts<S> for Caller
where
    S: AuthState + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            <Caller as FromRequestParts<S>>::from_request_parts(parts, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &[u8] = b"test-secret";

    #[test]
    fn accepts_a_good_token_and_reads_its_role() {
        let v = JwtVerifier::new(SECRET);
        let c = v
            .verify(&issue_token(SECRET, "u1", Role::Admin, 60))
            .unwrap();
        assert_eq!(c.user_id, "u1");
        assert_eq!(c.role, Role::Admin);
    }

    #[test]
    fn rejects_expired_wrong_signature_and_alg_none() {
        let v = JwtVerifier::new(SECRET);
        let now = jsonwebtoken::get_current_timestamp();
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "u".into(),
                role: Role::User,
                exp: now - 3600,
                iat: now - 7200,
            },
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(v.verify(&expired).unwrap_err().code, "token_expired");
        let other = issue_token(b"another-secret", "u", Role::Admin, 60);
        assert_eq!(v.verify(&other).unwrap_err().code, "invalid_token");
        // alg: none with a valid-looking body and no signature.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(format!(
                r#"{{"sub":"u","role":"admin","exp":{}}}"#,
                now + 60
            ))
        );
        let err = v.verify(&none).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn roles_are_enforced() {
        let c = Caller {
            user_id: "u".into(),
            role: Role::User,
        };
        assert_eq!(
            c.require_admin().unwrap_err().status,
            axum::http::StatusCode::FORBIDDEN
        );
        assert!(c.can_act_for("u"));
        assert!(!c.can_act_for("v"));
    }
}
