//! [`EventSink`]: the port adapters deliver events through. The runtime's dispatcher implements it; an adapter
//! knows nothing of plugins, queues or instances.

use crate::bindings::Event;
use std::future::Future;
use std::pin::Pin;

/// Closes (yields `None`) once every plugin a tracked event reached has finished handling it, or shed it.
pub type Finished = tokio::sync::mpsc::Receiver<()>;

/// Where an adapter puts the events it decoded.
pub trait EventSink: Send + Sync {
    /// Deliver to every plugin that wants the event, shedding where a queue is full; how many queued it.
    fn dispatch(&self, event: Event) -> usize;

    /// Deliver, and get a [`Finished`] to wait on: for a platform that waits for the answer (OneBot HTTP POST
    /// quick operations).
    fn dispatch_tracked(&self, event: Event) -> Finished;

    /// Deliver, waiting for queue space instead of shedding: for local, trusted sources (the console), where
    /// back-pressure is better than dropping what the user typed. How many queued it.
    fn dispatch_wait(&self, event: Event) -> Pin<Box<dyn Future<Output = usize> + Send + '_>>;
}
