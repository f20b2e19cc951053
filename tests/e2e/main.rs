//! End-to-end tests: the real `coral` binary, real plugins built from source, driven through the console.
//! One test binary (wasmtime's `tests/all` style); one file per area.

mod support;

mod cli;
mod commands;
mod config;
mod console;
mod containment_audit;
mod containment_compile;
mod containment_faults;
mod containment_logs;
mod containment_sizes;
mod fidelity_decode;
mod fidelity_extra;
mod fidelity_link;
mod files;
mod http;
mod lang_c;
mod lang_js;
mod languages;
mod limits;
mod manage;
mod onebot;
mod operator;
mod policy;
mod post;
mod reload;
mod security;
mod services;
mod transport_auth;
mod web;
mod wit_versions;
