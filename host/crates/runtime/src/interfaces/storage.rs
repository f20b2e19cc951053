//! `coral:bot/storage`: the plugin's key-value store. The namespace is the plugin's name from
//! [`crate::state::PluginShared`], never anything the plugin passes; SQLite runs off the async workers.

use crate::state::PluginState;
use coral_model::HostError;
use coral_model::bindings::coral::bot::storage::Host;
use coral_policy::Capability;
use coral_services::storage::{Storage, StorageError};

type Answer<T> = Result<T, HostError>;

impl PluginState {
    /// Admit the call, then run `op` on the store in this plugin's namespace with its quota.
    async fn storage_call<T: Send + 'static>(
        &mut self,
        call: &str,
        op: impl FnOnce(&Storage, &str, coral_services::storage::Quota) -> Result<T, StorageError> + Send + 'static,
    ) -> Answer<T> {
        let services = self.admit_service(Capability::Storage, call)?;
        let ns = self.shared.name.clone();
        let quota = self.shared.storage_quota;
        let result = services.storage.run(move |s| op(s, &ns, quota)).await;
        result.map_err(|e| {
            tracing::debug!(plugin = %self.shared.name, call, error = %e, "storage call failed");
            super::services::storage_error(&e).into()
        })
    }
}

impl Host for PluginState {
    async fn get(&mut self, key: String) -> Answer<Option<Vec<u8>>> {
        self.storage_call("storage.get", move |s, ns, _| s.get(ns, &key)).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_secs: Option<u32>) -> Answer<()> {
        self.storage_call("storage.set", move |s, ns, q| s.set(ns, q, &key, &value, ttl_secs))
            .await
    }

    async fn delete(&mut self, key: String) -> Answer<bool> {
        self.storage_call("storage.delete", move |s, ns, _| s.delete(ns, &key))
            .await
    }

    async fn list_keys(&mut self, prefix: String) -> Answer<Vec<String>> {
        self.storage_call("storage.list-keys", move |s, ns, _| s.list_keys(ns, &prefix))
            .await
    }

    async fn increment(&mut self, key: String, delta: i64) -> Answer<i64> {
        self.storage_call("storage.increment", move |s, ns, q| s.increment(ns, q, &key, delta))
            .await
    }

    async fn compare_and_swap(&mut self, key: String, expected: Option<Vec<u8>>, new: Option<Vec<u8>>) -> Answer<bool> {
        self.storage_call("storage.compare-and-swap", move |s, ns, q| {
            s.compare_and_swap(ns, q, &key, expected.as_deref(), new.as_deref())
        })
        .await
    }
}
