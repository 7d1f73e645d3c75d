//! Legacy Streamable HTTP sessions shared among replicas through Redis (with `--redis-url`):
//! rmcp's [`SessionStore`] keeps each session's `initialize` parameters, so a request that lands
//! on another replica restores the session there instead of failing with 404, and a
//! [`SessionOwnerStore`] keeps who opened it, so that every replica checks ownership.
//!
//! Clients of protocol 2026-07-28 are stateless (no `Mcp-Session-Id`) and need none of this.

use std::time::Duration;

use mcp_authz::{OwnerStoreError, SessionOwner, SessionOwnerStore};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};

use crate::ExampleError;

/// How long a session's entries live in Redis after their last write when the server keeps
/// idle sessions forever (`--session-idle-timeout 0`).
const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Session state and owners in Redis, under `mcp-session:{ID}:state` / `:owner`, expiring
/// after the session idle timeout.
#[derive(Clone)]
pub struct RedisSessions {
    conn: ConnectionManager,
    ttl_seconds: u64,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl RedisSessions {
    /// Sessions in the Redis at `url`, kept for `idle` after their last write (a day when
    /// `None`). Does not connect yet: Redis may come up after the server.
    pub fn new(url: &str, idle: Option<Duration>) -> Result<Self, ExampleError> {
        let config_error = |e: redis::RedisError| ExampleError::Config {
            reason: format!("--redis-url: {e}"),
        };
        let client = redis::Client::open(url).map_err(config_error)?;
        let timeout = Duration::from_secs(1);
        let conn = ConnectionManager::new_lazy_with_config(
            client,
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1),
        )
        .map_err(config_error)?;
        Ok(Self {
            conn,
            ttl_seconds: idle.unwrap_or(DEFAULT_RETENTION).as_secs().max(1),
        })
    }

    /// The shared sessions of a server started with `options`: `Some` with `--redis-url`.
    pub fn optional(options: &crate::HttpOptions) -> Result<Option<Self>, ExampleError> {
        options
            .cache
            .redis_url
            .as_deref()
            .map(|url| Self::new(url, options.session_idle_timeout))
            .transpose()
    }

    /// As rmcp's session store (`StreamableHttpServerConfig::session_store`).
    pub fn session_store(self) -> std::sync::Arc<dyn SessionStore> {
        std::sync::Arc::new(self)
    }

    fn key(session_id: &str, part: &str) -> String {
        format!("mcp-session:{{{session_id}}}:{part}")
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: String,
    ) -> Result<Option<T>, Box<dyn std::error::Error + Send + Sync>> {
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = conn.get(&key).await?;
        match value {
            None => Ok(None),
            Some(bytes) => {
                // Sliding expiry: a session in use stays.
                let _: bool = conn.expire(&key, self.ttl()).await?;
                Ok(Some(serde_json::from_slice(&bytes)?))
            }
        }
    }

    async fn set_json<T: serde::Serialize + Sync>(
        &self,
        key: String,
        value: &T,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let bytes = serde_json::to_vec(value)?;
        let mut conn = self.conn.clone();
        let () = conn.set_ex(key, bytes, self.ttl_seconds).await?;
        Ok(())
    }

    fn ttl(&self) -> i64 {
        i64::try_from(self.ttl_seconds).unwrap_or(i64::MAX)
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        self.get_json(Self::key(session_id, "state")).await
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        self.set_json(Self::key(session_id, "state"), state).await
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        let mut conn = self.conn.clone();
        let _: u64 = conn.del(Self::key(session_id, "state")).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl SessionOwnerStore for RedisSessions {
    async fn owner(&self, session_id: &str) -> Result<Option<SessionOwner>, OwnerStoreError> {
        self.get_json(Self::key(session_id, "owner")).await
    }

    async fn record(&self, session_id: &str, owner: &SessionOwner) -> Result<(), OwnerStoreError> {
        self.set_json(Self::key(session_id, "owner"), owner).await
    }

    async fn forget(&self, session_id: &str) -> Result<(), OwnerStoreError> {
        let mut conn = self.conn.clone();
        let _: u64 = conn.del(Self::key(session_id, "owner")).await?;
        Ok(())
    }
}
