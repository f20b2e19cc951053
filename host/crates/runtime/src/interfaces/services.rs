//! What `coral:bot/storage` and `coral:bot/schedule` share: counting the host call, checking the capability with
//! [`coral_policy::Policy::check_service`] (refusals audited), and mapping service errors to WIT `error`s.

use crate::state::PluginState;
use coral_model::HostError;
use coral_model::bindings::{ErrorCode, WitError};
use coral_ops::audit::Outcome;
use coral_policy::{Capability, PolicyError, Target};
use coral_services::Services;
use coral_services::jobs::JobError;
use coral_services::storage::StorageError;
use std::sync::Arc;

/// A storage failure as the WIT `error` the plugin receives.
pub(crate) fn storage_error(error: &StorageError) -> WitError {
    {
        let code = match error {
            StorageError::Invalid(_) => ErrorCode::InvalidArgument,
            StorageError::Quota(_) => ErrorCode::QuotaExceeded,
            StorageError::Database(_) | StorageError::Link(_) => ErrorCode::OperationFailed,
            StorageError::Unavailable(_) => ErrorCode::Busy,
        };
        WitError::new(code, error.to_string())
    }
}

/// A scheduler failure as the WIT `error` the plugin receives.
pub(crate) fn job_error(error: &JobError) -> WitError {
    {
        let code = match error {
            JobError::Invalid(_) => ErrorCode::InvalidArgument,
            JobError::Limit(_) => ErrorCode::QuotaExceeded,
            JobError::Database(_) | JobError::Link(_) => ErrorCode::OperationFailed,
            JobError::Unavailable(_) => ErrorCode::Busy,
        };
        WitError::new(code, error.to_string())
    }
}

/// The audit outcome of a refusal.
fn outcome_of(refusal: &PolicyError) -> Outcome {
    match refusal {
        PolicyError::RateLimited { .. } => Outcome::RateLimited,
        PolicyError::Denied { .. } => Outcome::Denied,
        PolicyError::Invalid(_) => Outcome::Invalid,
        PolicyError::TooLarge(_) => Outcome::TooLarge,
    }
}

impl PluginState {
    /// Log and audit the refusal of a call that is not a platform action (a service, a prompt); the error the
    /// plugin gets.
    pub(crate) fn refuse(
        &self,
        bot: &str,
        call: &str,
        capability: &Capability,
        target: &Target,
        refusal: &PolicyError,
    ) -> HostError {
        let error = WitError::from(refusal);
        tracing::debug!(plugin = %self.shared.name, call, %refusal, "call refused");
        self.audit(
            bot,
            call,
            &capability.to_string(),
            target,
            outcome_of(refusal),
            Some(&error),
        );
        HostError::from(error)
    }

    /// Admit one call of a service: counts the host call (a trap past the per-event budget), then checks grant,
    /// request and rate. A refusal is audited and returned as the WIT error to hand back.
    pub(crate) fn admit_service(&mut self, capability: Capability, call: &str) -> Result<Arc<Services>, HostError> {
        self.count_host_call()?;
        if let Err(refusal) = self.shared.policy().check_service(&capability) {
            return Err(self.refuse("-", call, &capability, &Target::default(), &refusal));
        }
        match &self.shared.services {
            Some(services) => Ok(services.clone()),
            None => Err(HostError::new(
                ErrorCode::Unsupported,
                format!("`{capability}` is not available in this host (no data folder)"),
            )),
        }
    }
}
