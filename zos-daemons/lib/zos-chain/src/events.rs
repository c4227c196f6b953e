//! A stream of the events of finalized blocks, decoded against the chain's metadata, that resumes
//! from a given block number after a reconnect (missed blocks are fetched by number).
//!
//! The stream runs in a background task owned by the returned `EventStream`; dropping the stream
//! stops the task. Errors of the chain connection are not returned: the task reconnects (with the
//! chain's backoff) and continues at the next block it has not yet delivered, so a consumer that
//! persists `EventStream::next_block()` can resume exactly after a restart of its own.

use std::time::Duration;

use subxt::ext::scale_value::Composite;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::client::{error_text, Chain};
use crate::error::Error;
use crate::types::{Contract, Power, RawContract};

/// One event of a finalized block.
#[derive(Debug, Clone)]
pub struct ChainEvent {
    pub block_number: u64,
    pub pallet: String,
    pub variant: String,
    /// All fields, decoded dynamically.
    pub fields: Composite<()>,
    /// Typed form of the events the node acts on.
    pub kind: Option<NodeEvent>,
}

/// The events a node reacts to, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    ContractCreated(Contract),
    ContractUpdated(Contract),
    NodeContractCanceled {
        contract_id: u64,
        node_id: u32,
        twin_id: u32,
    },
    RentContractCanceled {
        contract_id: u64,
    },
    ContractGracePeriodStarted {
        contract_id: u64,
        node_id: u32,
        twin_id: u32,
    },
    ContractGracePeriodEnded {
        contract_id: u64,
        node_id: u32,
        twin_id: u32,
    },
    PowerTargetChanged {
        farm_id: u32,
        node_id: u32,
        target: Power,
    },
}

/// The receiving end of an event subscription.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<Result<ChainEvent, Error>>,
    task: tokio::task::JoinHandle<()>,
    next_block: u64,
}

impl EventStream {
    /// The next event. `Err` only for data the client cannot decode (metadata mismatch); the
    /// stream continues after it. `None` only if the background task ended.
    pub async fn next(&mut self) -> Option<Result<ChainEvent, Error>> {
        let item = self.rx.recv().await;
        if let Some(Ok(ev)) = &item {
            self.next_block = self.next_block.max(ev.block_number);
        }
        item
    }

    /// A block number to resume from after a restart of the consumer: events of blocks below it
    /// were all delivered (the block of the last delivered event may be delivered again).
    pub fn next_block(&self) -> u64 {
        self.next_block
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Chain {
    /// Subscribes to the events of finalized blocks, starting at block `from` (inclusive) or,
    /// when `None`, at the next finalized block.
    pub async fn subscribe_events(&self, from: Option<u64>) -> Result<EventStream, Error> {
        let start = match from {
            Some(n) => n,
            None => self.finalized_number().await? + 1,
        };
        let (tx, rx) = mpsc::channel(256);
        let chain = self.clone();
        let task = tokio::spawn(async move { follow(chain, start, tx).await });
        Ok(EventStream {
            rx,
            task,
            next_block: start,
        })
    }
}

/// Follows finalized heads forever, delivering every block's events in order.
async fn follow(chain: Chain, mut next: u64, tx: mpsc::Sender<Result<ChainEvent, Error>>) {
    let mut delay = Duration::from_millis(200);
    loop {
        match follow_once(&chain, &mut next, &tx).await {
            Ok(()) => return, // receiver dropped
            Err(e) => {
                warn!(error = %zos_base::Report(&e), next_block = next, "event stream interrupted; resuming");
                chain.stream_failed().await;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Returns Ok(()) when the receiver is gone, Err on a chain problem (caller retries).
async fn follow_once(
    chain: &Chain,
    next: &mut u64,
    tx: &mpsc::Sender<Result<ChainEvent, Error>>,
) -> Result<(), Error> {
    let mut blocks = chain.finalized_blocks().await?;
    // Catch up to the current finalized head first (covers blocks missed while disconnected).
    let head = chain.finalized_number().await?;
    if !deliver_up_to(chain, next, head, tx).await? {
        return Ok(());
    }
    loop {
        let block = match blocks.next().await {
            Some(Ok(block)) => block,
            Some(Err(e)) => return Err(Error::rpc("following finalized blocks", error_text(&e))),
            None => {
                return Err(Error::rpc(
                    "following finalized blocks",
                    "subscription ended",
                ))
            }
        };
        if !deliver_up_to(chain, next, block.number(), tx).await? {
            return Ok(());
        }
    }
}

/// Delivers the events of blocks `*next..=head`; false when the receiver is gone.
async fn deliver_up_to(
    chain: &Chain,
    next: &mut u64,
    head: u64,
    tx: &mpsc::Sender<Result<ChainEvent, Error>>,
) -> Result<bool, Error> {
    while *next <= head {
        let number = *next;
        let at = chain.at_number(number).await?;
        let events = at
            .events()
            .fetch()
            .await
            .map_err(|e| Error::rpc("fetching a block's events", error_text(&e)))?;
        debug!(
            block = number,
            count = events.len(),
            "delivering block events"
        );
        for ev in events.iter() {
            let item = ev
                .map_err(|e| Error::decode(format!("an event of block {number}"), e))
                .and_then(|ev| {
                    let pallet = ev.pallet_name().to_string();
                    let variant = ev.event_name().to_string();
                    let fields = ev
                        .decode_fields_unchecked_as::<Composite<()>>()
                        .map_err(|e| Error::decode(format!("event {pallet}.{variant}"), e))?;
                    let kind = typed(&ev)
                        .map_err(|e| Error::decode(format!("event {pallet}.{variant}"), e))?;
                    Ok(ChainEvent {
                        block_number: number,
                        pallet,
                        variant,
                        fields,
                        kind,
                    })
                });
            if tx.send(item).await.is_err() {
                return Ok(false);
            }
        }
        *next = number + 1;
    }
    Ok(true)
}

fn typed(
    ev: &subxt::events::Event<'_, crate::TfConfig>,
) -> Result<Option<NodeEvent>, Box<subxt::error::EventsError>> {
    let kind = match (ev.pallet_name(), ev.event_name()) {
        ("SmartContractModule", "ContractCreated") => {
            let (c,): (RawContract,) = ev.decode_fields_unchecked_as()?;
            NodeEvent::ContractCreated(c.into())
        }
        ("SmartContractModule", "ContractUpdated") => {
            let (c,): (RawContract,) = ev.decode_fields_unchecked_as()?;
            NodeEvent::ContractUpdated(c.into())
        }
        ("SmartContractModule", "NodeContractCanceled") => {
            let (contract_id, node_id, twin_id) = ev.decode_fields_unchecked_as()?;
            NodeEvent::NodeContractCanceled {
                contract_id,
                node_id,
                twin_id,
            }
        }
        ("SmartContractModule", "RentContractCanceled") => {
            let (contract_id,) = ev.decode_fields_unchecked_as()?;
            NodeEvent::RentContractCanceled { contract_id }
        }
        ("SmartContractModule", "ContractGracePeriodStarted") => {
            let (contract_id, node_id, twin_id, _block): (u64, u32, u32, u64) =
                ev.decode_fields_unchecked_as()?;
            NodeEvent::ContractGracePeriodStarted {
                contract_id,
                node_id,
                twin_id,
            }
        }
        ("SmartContractModule", "ContractGracePeriodEnded") => {
            let (contract_id, node_id, twin_id) = ev.decode_fields_unchecked_as()?;
            NodeEvent::ContractGracePeriodEnded {
                contract_id,
                node_id,
                twin_id,
            }
        }
        ("TfgridModule", "PowerTargetChanged") => {
            let (farm_id, node_id, target) = ev.decode_fields_unchecked_as()?;
            NodeEvent::PowerTargetChanged {
                farm_id,
                node_id,
                target,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(kind))
}
