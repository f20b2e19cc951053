//! OneBot V11's wire forms, both ways, as pure functions: JSON fields → WIT types ([`json`]), CQ-code strings
//! ([`cq`]), WIT segments → OneBot's array form and raw message params → that form ([`segment`]), and action
//! names ([`name`]).

pub mod cq;
pub mod json;
pub mod name;
pub mod segment;
