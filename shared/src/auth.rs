//! JWT bearer authentication (HS256) with the roles `admin`, `service` and `user`.
//!
//! The signing secret lives in Secrets Manager (`{prefix}/jwt`) and is read once, on the
//! first verification ([`JwtVerifier`]). The `Caller` extractor is at the edge
//! (`shared::http::auth`). Only HS256 is accepted: a token whose header says `none` or any other algorithm is
//! rejected before its signature is looked at, which closes the classic algorithm-confusion
//! holes.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::error::{DomainError, ErrorKind};
use crate::secrets::SecretSource;

/// Why a request is not authenticated or not allowed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token, or one that does not verify: 401 with `WWW-Authenticate: Bearer`.
    /// `code` is `missing_token`, `invalid_token` or `token_expired`.
    #[error("{detail}")]
    Unauthenticated {
        code: &'static str,
        detail: &'static str,
    },
    /// 403 `forbidden`: the token's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The signing secret does not exist or is empty: a deployment fault (500, logged with
    /// the secret's id).
    #[error("the JWT secret {secret_id} does not exist or is empty")]
    SecretMissing { secret_id: String },
    /// Secrets Manager could not be read: 503 `auth_unavailable`, a retry may pass.
    #[error("token verification is unavailable; retry shortly")]
    SecretUnavailable { secret_id: String },
}

impl AuthError {
    fn unauthenticated(code: &'static str, detail: &'static str) -> Self {
        AuthError::Unauthenticated { code, detail }
    }

    /// `missing_token`: no usable `Authorization: Bearer` header.
    pub fn missing_token(detail: &'static str) -> Self {
        Self::unauthenticated("missing_token", detail)
    }

    /// `invalid_token`.
    pub fn invalid_token(detail: &'static str) -> Self {
        Self::unauthenticated("invalid_token", detail)
    }
}

impl DomainError for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthError::Unauthenticated { .. } => ErrorKind::Unauthenticated,
            AuthError::Forbidden(_) => ErrorKind::Forbidden,
            AuthError::SecretMissing { .. } => ErrorKind::Internal,
            AuthError::SecretUnavailable { .. } => ErrorKind::Unavailable,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AuthError::Unauthenticated { code, .. } => code,
            AuthError::Forbidden(_) => "forbidden",
            AuthError::SecretMissing { .. } => "internal_error",
            AuthError::SecretUnavailable { .. } => "auth_unavailable",
        }
    }
}

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
    pub fn require(&self, roles: &[Role]) -> Result<(), AuthError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(AuthError::Forbidden(format!(
                "this action needs the role {}; the token has {}",
                wanted.join(" or "),
                self.role.as_str()
            )))
        }
    }

    pub fn require_admin(&self) -> Result<(), AuthError> {
        self.require(&[Role::Admin])
    }

    /// Admins and services may act on any user; a user only on itself.
    pub fn can_act_for(&self, user_id: &str) -> bool {
        matches!(self.role, Role::Admin | Role::Service) || self.user_id == user_id
    }
}

/// Where the signing key comes from: given (tests, tools), or read from the secret store on
/// the first verification.
enum KeySource {
    Ready,
    Secret {
        source: Arc<dyn SecretSource>,
        secret_id: String,
    },
}

/// Verifies bearer tokens. Built once per cold start; the signing secret is read on the
/// first verification (once: later requests reuse it), so functions that never check a
/// token (SQS workers, public routes) never read it and cold start makes no Secrets Manager
/// call for it. A failed read is not cached: the next request tries again.
pub struct JwtVerifier {
    source: KeySource,
    key: OnceCell<DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtVerifier { .. }")
    }
}

fn hs256_only() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.leeway = 30;
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation
}

impl JwtVerifier {
    /// A verifier with its secret at hand.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            source: KeySource::Ready,
            key: OnceCell::new_with(Some(DecodingKey::from_secret(secret))),
            validation: hs256_only(),
        }
    }

    /// A verifier that reads the secret `secret_id` (`{prefix}/jwt`) on first use.
    pub fn from_secret(source: Arc<dyn SecretSource>, secret_id: impl Into<String>) -> Self {
        Self {
            source: KeySource::Secret {
                source,
                secret_id: secret_id.into(),
            },
            key: OnceCell::new(),
            validation: hs256_only(),
        }
    }

    async fn key(&self) -> Result<&DecodingKey, AuthError> {
        self.key
            .get_or_try_init(|| async {
                let KeySource::Secret { source, secret_id } = &self.source else {
                    unreachable!("a ready verifier is built with its key")
                };
                match source.get(secret_id).await {
                    Ok(Some(secret)) if !secret.trim().is_empty() => {
                        Ok(DecodingKey::from_secret(secret.trim().as_bytes()))
                    }
                    Ok(_) => {
                        tracing::error!(secret_id = %secret_id, "the JWT secret does not exist or is empty; no token can be verified");
                        Err(AuthError::SecretMissing {
                            secret_id: secret_id.clone(),
                        })
                    }
                    Err(e) => {
                        tracing::error!(secret_id = %secret_id, error = %e, "reading the JWT secret failed");
                        Err(AuthError::SecretUnavailable {
                            secret_id: secret_id.clone(),
                        })
                    }
                }
            })
            .await
    }

    /// The token's caller, or why it does not verify.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        use jsonwebtoken::errors::ErrorKind as Jwt;
        let key = self.key().await?;
        match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
            Ok(data) => Ok(Caller {
                user_id: data.claims.sub,
                role: data.claims.role,
            }),
            Err(e) => Err(match e.kind() {
                Jwt::ExpiredSignature => {
                    AuthError::unauthenticated("token_expired", "the bearer token has expired")
                }
                Jwt::InvalidSignature => {
                    AuthError::invalid_token("the bearer token's signature is not valid")
                }
                Jwt::InvalidAlgorithm | Jwt::InvalidAlgorithmName => {
                    AuthError::invalid_token("the bearer token must be signed with HS256")
                }
                Jwt::Json(_) | Jwt::MissingRequiredClaim(_) => AuthError::invalid_token(
                    "the bearer token's claims are incomplete: it needs sub, role (admin, service or user) and exp",
                ),
                _ => AuthError::invalid_token("the bearer token is malformed"),
            }),
        }
    }

    /// The caller of an `Authorization` header value (`Bearer <token>`).
    pub async fn verify_header(&self, value: Option<&[u8]>) -> Result<Caller, AuthError> {
        let value = value.ok_or_else(|| {
            AuthError::missing_token("this route needs an Authorization: Bearer <token> header")
        })?;
        let value = std::str::from_utf8(value)
            .map_err(|_| AuthError::invalid_token("the Authorization header is not valid text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                AuthError::missing_token("the Authorization header must use the Bearer scheme")
            })?;
        self.verify(token.trim()).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &[u8] = b"test-secret";

    #[tokio::test]
    async fn accepts_a_good_token_and_reads_its_role() {
        let v = JwtVerifier::new(SECRET);
        let c = v
            .verify(&issue_token(SECRET, "u1", Role::Admin, 60))
            .await
            .unwrap();
        assert_eq!(c.user_id, "u1");
        assert_eq!(c.role, Role::Admin);
    }

    #[tokio::test]
    async fn rejects_expired_wrong_signature_and_alg_none() {
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
        assert_eq!(
            v.verify(&expired).await.unwrap_err().code(),
            "token_expired"
        );
        let other = issue_token(b"another-secret", "u", Role::Admin, 60);
        assert_eq!(v.verify(&other).await.unwrap_err().code(), "invalid_token");
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
        let err = v.verify(&none).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    }

    #[test]
    fn roles_are_enforced() {
        let c = Caller {
            user_id: "u".into(),
            role: Role::User,
        };
        assert_eq!(c.require_admin().unwrap_err().kind(), ErrorKind::Forbidden);
        assert!(c.can_act_for("u"));
        assert!(!c.can_act_for("v"));
    }
}
