//! Contract tests: provider callback receipts.

use super::*;
use crate::Store;

pub async fn receipts_are_recorded_once<S: Store>(store: S) {
    assert!(
        store
            .record_receipt("status:CA1:no-answer".into(), at(0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_receipt("status:CA1:no-answer".into(), at(5))
            .await
            .unwrap()
    );
    assert!(
        store
            .record_receipt("status:CA1:completed".into(), at(6))
            .await
            .unwrap()
    );
    // A key is a key: another call's same status is its own receipt.
    assert!(
        store
            .record_receipt("status:CA2:no-answer".into(), at(7))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_receipt("status:CA2:no-answer".into(), at(8))
            .await
            .unwrap()
    );
    // Forgotten (its action failed): the next delivery is a first again.
    store
        .forget_receipt("status:CA2:no-answer".into())
        .await
        .unwrap();
    assert!(
        store
            .record_receipt("status:CA2:no-answer".into(), at(9))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_receipt("status:CA2:no-answer".into(), at(10))
            .await
            .unwrap()
    );
    // Forgetting what is not there is fine; other receipts stay.
    store.forget_receipt("never".into()).await.unwrap();
    assert!(
        !store
            .record_receipt("status:CA1:completed".into(), at(11))
            .await
            .unwrap()
    );
}
