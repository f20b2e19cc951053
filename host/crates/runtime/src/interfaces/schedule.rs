//! `coral:bot/schedule`: the plugin's own scheduled jobs, named within its namespace (the plugin's name, set by
//! the host). Due jobs come back as `timer` events to this plugin only.

use crate::state::PluginState;
use coral_model::HostError;
use coral_model::bindings::coral::bot::schedule::{Host, Job, When as WitWhen};
use coral_policy::Capability;
use coral_services::jobs::When;

type Answer<T> = Result<T, HostError>;

fn from_wit(when: WitWhen) -> When {
    match when {
        WitWhen::AfterSecs(s) => When::AfterSecs(s),
        WitWhen::EverySecs(s) => When::EverySecs(s),
        WitWhen::Cron(e) => When::Cron(e),
    }
}

fn to_wit(when: When) -> WitWhen {
    match when {
        When::AfterSecs(s) => WitWhen::AfterSecs(s),
        When::EverySecs(s) => WitWhen::EverySecs(s),
        When::Cron(e) => WitWhen::Cron(e),
    }
}

impl Host for PluginState {
    async fn add(&mut self, name: String, when: WitWhen, payload: String) -> Answer<()> {
        let services = self.admit_service(Capability::Schedule, "schedule.add")?;
        let when = match (from_wit(when), self.shared.tz.as_deref()) {
            // A line that names no zone runs in the plugin's (`[plugins.<name>] tz`); the job keeps it.
            (When::Cron(line), Some(tz)) if !line.trim_start().starts_with(coral_services::cron::TZ_PREFIX) => {
                When::Cron(format!("{}{tz} {}", coral_services::cron::TZ_PREFIX, line.trim()))
            }
            (when, _) => when,
        };
        let result = services.jobs.add(&self.shared.name, &name, when, &payload).await;
        Ok(result.map_err(|e| super::services::job_error(&e))?)
    }

    async fn cancel(&mut self, name: String) -> Answer<bool> {
        let services = self.admit_service(Capability::Schedule, "schedule.cancel")?;
        Ok(services
            .jobs
            .cancel(&self.shared.name, &name)
            .await
            .map_err(|e| super::services::job_error(&e))?)
    }

    async fn list_jobs(&mut self) -> Answer<Vec<Job>> {
        let services = self.admit_service(Capability::Schedule, "schedule.list-jobs")?;
        let jobs = services
            .jobs
            .list(&self.shared.name)
            .await
            .map_err(|e| super::services::job_error(&e))?;
        Ok(jobs
            .into_iter()
            .map(|j| Job {
                name: j.name,
                when: to_wit(j.when),
                payload: j.payload,
                next_due_ms: j.next_due_ms,
            })
            .collect())
    }
}
