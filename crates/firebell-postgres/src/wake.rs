//! Nodes wake each other: a transaction that queues work due now (a new
//! alert's escalation, pages, notices, released holds) sends `NOTIFY
//! firebell_wake`, delivered when it commits; every node keeps one
//! connection that `LISTEN`s and calls the engine's wakers, so another
//! node's dispatcher looks at once instead of at its next poll.

use crate::error::Result as R;
use crate::sql::exec;
use deadpool_postgres::GenericClient;
use futures::StreamExt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio_postgres::AsyncMessage;

pub(crate) const CHANNEL: &str = "firebell_wake";

/// Who to call when another node queued work.
pub(crate) type Wakers = Mutex<Vec<Arc<dyn Fn() + Send + Sync>>>;

/// Queues the wake-up in the caller's transaction (sent at commit).
pub(crate) async fn notify<C: GenericClient>(c: &C) -> R<()> {
    exec(c, "SELECT pg_notify('firebell_wake', '')", &[]).await?;
    Ok(())
}

/// Listens for as long as the store lives (`wakers` can be upgraded),
/// reconnecting after a second when the connection ends.
pub(crate) fn spawn_listener(config: tokio_postgres::Config, wakers: Weak<Wakers>) {
    tokio::spawn(async move {
        loop {
            if wakers.strong_count() == 0 {
                return;
            }
            if let Err(e) = listen(&config, &wakers).await {
                tracing::debug!("wake-up listener: {}", crate::describe(&e));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen(
    config: &tokio_postgres::Config,
    wakers: &Weak<Wakers>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let messages = tokio::spawn(async move {
        let mut stream = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = stream.next().await {
            match m {
                Ok(AsyncMessage::Notification(_)) => {
                    if tx.send(()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    while rx.recv().await.is_some() {
        let Some(wakers) = wakers.upgrade() else {
            break;
        };
        let list: Vec<_> = wakers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for w in list {
            w();
        }
    }
    messages.abort();
    drop(client);
    Ok(())
}
