//! OneBot V11's wire forms, both ways, as pure functions: JSON fields → WIT types ([`json`]), CQ-code strings
//! ([`cq`]), WIT segments → OneBot's array form and raw message params → that form ([`segment`]), action
//! names ([`name`]), and a JSON object's fields read from a tree or in place from a frame ([`object`]).

pub mod cq;
pub mod json;
pub mod name;
pub mod object;
pub mod segment;
