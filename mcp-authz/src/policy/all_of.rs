//! [`AllOf`]: several policies that must all allow.

use std::fmt;
use std::sync::Arc;

use super::{AccessRequest, Decision, Policy};

/// Every policy must allow; the first denial (in order) is the answer. An empty `AllOf` allows.
#[derive(Clone, Default)]
pub struct AllOf(Vec<Arc<dyn Policy>>);

impl fmt::Debug for AllOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AllOf({} policies)", self.0.len())
    }
}

impl AllOf {
    /// No policies yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a policy.
    #[must_use]
    pub fn with(mut self, policy: impl Policy) -> Self {
        self.0.push(Arc::new(policy));
        self
    }

    pub(crate) fn push(&mut self, policy: Arc<dyn Policy>) {
        self.0.push(policy);
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Policy for AllOf {
    fn evaluate(&self, request: &AccessRequest<'_>) -> Decision {
        for policy in &self.0 {
            let decision = policy.evaluate(request);
            if !decision.is_allowed() {
                return decision;
            }
        }
        Decision::Allow
    }
}
