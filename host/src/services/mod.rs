//! Host services a plugin reaches through its own WIT interfaces — storage, timers, outgoing HTTP — each behind a
//! granted capability (`storage`, `schedule`, `http`) checked with [`crate::policy::Policy::check_service`].

pub mod http;
